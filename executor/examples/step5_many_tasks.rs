//! Build it yourself, step 5: many tasks — `spawn`, the ready queue, `JoinHandle`.
//!
//! **What it fixes:** step 4 ran one future. Now the loop owns a table of *tasks* (boxed
//! futures) and a *ready queue* of task ids. Each task's waker pushes its id onto the
//! queue, so a wake no longer means "poll the one future" but "poll *this* task". A turn
//! of the loop: poll every ready task, wait in the kernel until the next event or timer,
//! turn events and expired timers into wakes. [`spawn`] is `asyncio.create_task`, and
//! [`JoinHandle`] is the task object you can await for its result.
//!
//! Three tasks sleep 60, 20 and 40 ms; the program prints them finishing in the order
//! 20, 40, 60 — all three slept at the same time, on one thread.
//!
//! The reactor, [`sleep`] and [`step4::timeout`] are step 4's file, included unchanged.
//!
//! **What it still gets wrong:** a task that never returns `Pending` starves every other
//! one (there is no budget), and a panic in a task unwinds through the loop and kills it.
//! The real rasgi handles both; step 7's notes say how. Step 6 puts a server on this.
//!
//! Run it: `cargo run -p rasgi-executor --example step5_many_tasks`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use mio::Events;

// Step 4's reactor, included whole: its own demo (`run`, `main`) goes unused here.
#[allow(dead_code)]
#[path = "step4_timers.rs"]
pub mod step4;
use step4::sleep;

/// A spawned task: its future, boxed so tasks of different types share one table.
type Task = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// Every unfinished task by id. A task being polled is taken out, so it may spawn.
    static TASKS: RefCell<HashMap<usize, Task>> = RefCell::new(HashMap::new());
    /// The next task id; ids are never reused, so a stale wake finds no task.
    static NEXT_TASK: Cell<usize> = const { Cell::new(0) };
    /// Ids of tasks to poll on this turn. Behind `Arc<Mutex>` because a `Waker` must be
    /// `Send + Sync`, although every wake in this program happens on the loop's thread.
    static READY: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new(VecDeque::new()));
}

/// A task's waker: waking it queues the task's id.
struct TaskWaker {
    /// The task this waker belongs to.
    id: usize,
    /// The loop's ready queue.
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).push_back(self.id);
    }
}

/// Where a task's result waits for whoever awaits its [`JoinHandle`].
struct JoinSlot<T> {
    /// The result, once the task finished and until the handle takes it.
    value: Option<T>,
    /// The waker of the task awaiting the handle, if one does.
    waiter: Option<Waker>,
}

/// Awaits a spawned task's result.
pub struct JoinHandle<T> {
    /// Shared with the task, which fills it when its future finishes.
    slot: Rc<RefCell<JoinSlot<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.borrow_mut();
        match slot.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                slot.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Adds a task to the loop; it first runs on the current or the next turn.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let slot = Rc::new(RefCell::new(JoinSlot { value: None, waiter: None }));
    let theirs = slot.clone();
    let task = async move {
        let value = future.await;
        let waiter = {
            let mut slot = theirs.borrow_mut();
            slot.value = Some(value);
            slot.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    };
    let id = NEXT_TASK.with(|next| next.replace(next.get() + 1));
    TASKS.with(|tasks| tasks.borrow_mut().insert(id, Box::pin(task)));
    READY.with(|ready| ready.lock().unwrap_or_else(|e| e.into_inner()).push_back(id));
    JoinHandle { slot }
}

/// Runs `main` as the first task and turns the loop until it finishes.
pub fn block_on<T: 'static>(main: impl Future<Output = T> + 'static) -> io::Result<T> {
    step4::start()?;
    let main = spawn(main);
    let ready = READY.with(Arc::clone);
    let mut events = Events::with_capacity(256);
    loop {
        // 1. Poll every ready task, each with a waker that names it.
        loop {
            // Not `while let`: its guard would live through the body, and a task that
            // spawns would deadlock locking the queue again.
            let next = ready.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some(id) = next else { break };
            let Some(mut task) = TASKS.with(|tasks| tasks.borrow_mut().remove(&id)) else { continue };
            let waker = Waker::from(Arc::new(TaskWaker { id, ready: ready.clone() }));
            if task.as_mut().poll(&mut Context::from_waker(&waker)).is_pending() {
                TASKS.with(|tasks| tasks.borrow_mut().insert(id, task));
            }
        }
        if let Some(value) = main.slot.borrow_mut().value.take() {
            return Ok(value);
        }
        // 2. and 3. Wait in the kernel until a socket is ready or the earliest timer is
        // due, and turn both into wakes: task ids on the ready queue.
        step4::wait_and_wake(&mut events)?;
    }
}

/// The program's output, one line per entry, so a test can check it.
pub fn run() -> io::Result<Vec<String>> {
    block_on(async {
        let finished = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for (name, ms) in [("a", 60), ("b", 20), ("c", 40)] {
            let finished = finished.clone();
            handles.push(spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                finished.borrow_mut().push(format!("task {name} finished after {ms} ms"));
                ms
            }));
        }
        let mut total = 0;
        for handle in handles {
            total += handle.await;
        }
        let mut lines = finished.take();
        lines.push(format!("joined all three: {total} ms of sleeping in all"));
        lines
    })
}

fn main() -> io::Result<()> {
    for line in run()? {
        println!("{line}");
    }
    Ok(())
}
