//! Build it yourself, step 4: timers — `sleep`, and the poll timeout.
//!
//! **What it fixes:** step 3 could only wait for sockets. Now the reactor also keeps
//! timers, ordered by deadline, and the loop passes "time until the earliest deadline"
//! as the timeout of `epoll_wait`. The kernel returns either because a socket became
//! ready or because the time is up; then the loop calls the waker of every expired
//! timer. One thread waits on sockets *and* time, so [`sleep`] costs a map entry, not a
//! thread as in step 2. asyncio does the same: `loop.call_at` pushes onto a heap and
//! `_run_once` computes the selector's timeout from its top.
//!
//! With timers comes [`timeout`], `asyncio.wait_for`: poll the work, and if it is still
//! pending, poll a sleep. The program waits for a client that never speaks, and gives up.
//!
//! **What it still gets wrong:** there is still only one future. A server must serve
//! many clients at once, each waiting on its own socket; a loop that can await one thing
//! at a time serves them one after the other. Step 5 adds tasks.
//!
//! Run it: `cargo run -p rasgi-executor --example step4_timers`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::{poll_fn, Future};
use std::io::{self, Read};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Token};

/// Step 3's reactor plus timers.
pub struct Reactor {
    /// The epoll instance every socket is registered with.
    pub poll: mio::Poll,
    /// The waker of the future that last got `WouldBlock` on each token; taken on wake.
    pub wakers: HashMap<Token, Waker>,
    /// Pending timers, earliest first; the `usize` keeps two equal deadlines apart.
    pub timers: BTreeMap<(Instant, usize), Waker>,
    /// The next unused token or timer number.
    pub next_id: usize,
}

thread_local! {
    /// The reactor of this thread's loop, created by [`block_on`].
    static REACTOR: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

fn with_reactor<T>(f: impl FnOnce(&mut Reactor) -> T) -> T {
    REACTOR.with(|r| f(r.borrow_mut().as_mut().expect("sockets and timers are used inside block_on")))
}

/// Registers a socket for both directions and returns its token.
pub fn register(source: &mut impl mio::event::Source) -> io::Result<Token> {
    with_reactor(|r| {
        let token = Token(r.next_id);
        r.next_id += 1;
        r.poll.registry().register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(token)
    })
}

/// Try `op`; on `WouldBlock`, leave the waker under `token` and return `Pending`.
pub fn poll_io<T>(cx: &mut Context<'_>, token: Token, mut op: impl FnMut() -> io::Result<T>) -> Poll<io::Result<T>> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            with_reactor(|r| r.wakers.insert(token, cx.waker().clone()));
            Poll::Pending
        }
        result => Poll::Ready(result),
    }
}

/// Finishes once `duration` has passed.
pub async fn sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    let id = with_reactor(|r| {
        r.next_id += 1;
        r.next_id
    });
    poll_fn(|cx| {
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        with_reactor(|r| r.timers.insert((deadline, id), cx.waker().clone()));
        Poll::Pending
    })
    .await
}

/// Runs `work`, giving up with `None` after `limit` (`asyncio.wait_for`).
pub async fn timeout<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let mut work = pin!(work);
    let mut timer = pin!(sleep(limit));
    poll_fn(|cx| match work.as_mut().poll(cx) {
        Poll::Ready(value) => Poll::Ready(Some(value)),
        Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
    })
    .await
}

/// Installs this thread's reactor; [`block_on`] calls it before the first poll.
pub fn start() -> io::Result<()> {
    let poll = mio::Poll::new()?;
    let reactor = Reactor { poll, wakers: HashMap::new(), timers: BTreeMap::new(), next_id: 0 };
    REACTOR.with(|r| *r.borrow_mut() = Some(reactor));
    Ok(())
}

/// The reactor's half of a loop turn: wait in the kernel until a socket is ready or the
/// earliest timer is due, then call the waker of every ready socket and expired timer.
pub fn wait_and_wake(events: &mut Events) -> io::Result<()> {
    // The poll timeout: no timer means wait for sockets only; else until the earliest.
    let next = with_reactor(|r| r.timers.keys().next().map(|(deadline, _)| *deadline));
    let wait = next.map(|deadline| deadline.saturating_duration_since(Instant::now()));
    with_reactor(|r| r.poll.poll(events, wait))?;
    for event in events.iter() {
        if let Some(waiter) = with_reactor(|r| r.wakers.remove(&event.token())) {
            waiter.wake();
        }
    }
    // Fire every expired timer; `split_off` keeps the ones still in the future.
    let now = Instant::now();
    let expired = with_reactor(|r| {
        let later = r.timers.split_off(&(now, usize::MAX));
        std::mem::replace(&mut r.timers, later)
    });
    expired.into_values().for_each(Waker::wake);
    Ok(())
}

/// Set by every wake; the loop polls again only when it is set.
struct FlagWaker(AtomicBool);

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion, sleeping in `epoll_wait` until a socket or a timer.
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    start()?;
    let mut future = pin!(future);
    let flag = Arc::new(FlagWaker(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut events = Events::with_capacity(64);
    loop {
        if flag.0.swap(false, Ordering::Acquire) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Ok(output);
            }
        }
        wait_and_wake(&mut events)?;
    }
}

/// Sleeps, then waits for a request that never comes.
async fn impatient_server(mut listener: TcpListener) -> io::Result<Vec<String>> {
    let started = Instant::now();
    sleep(Duration::from_millis(20)).await;
    let mut lines = vec![format!("slept at least 20 ms: {}", started.elapsed() >= Duration::from_millis(20))];
    let token = register(&mut listener)?;
    let (mut stream, _) = poll_fn(|cx| poll_io(cx, token, || listener.accept())).await?;
    let token = register(&mut stream)?;
    let mut buffer = [0u8; 64];
    let read = timeout(Duration::from_millis(30), poll_fn(|cx| poll_io(cx, token, || stream.read(&mut buffer))));
    lines.push(match read.await {
        Some(result) => format!("the client sent {} bytes", result?),
        None => "the client sent nothing for 30 ms: timed out".to_owned(),
    });
    Ok(lines)
}

/// The program's output, one line per entry, so a test can check it.
pub fn run() -> io::Result<Vec<String>> {
    let listener = TcpListener::bind("127.0.0.1:0".parse().expect("a valid address"))?;
    // A client that connects and then says nothing (it is closed when `run` returns).
    let _silent = std::net::TcpStream::connect(listener.local_addr()?)?;
    block_on(impatient_server(listener))?
}

fn main() -> io::Result<()> {
    for line in run()? {
        println!("{line}");
    }
    Ok(())
}
