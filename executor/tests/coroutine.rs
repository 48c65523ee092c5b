//! The seed's `my_coroutine`, twice: as an `async fn` and as the hand-written state
//! machine `MyCoroutine`. Both must say the same lines at the same moments — the first
//! line during the first poll, the second only once the pause is over — and calling
//! either must run nothing at all until the future is polled.

mod common;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::within;
use rasgi_executor::block_on;
use rasgi_executor::coroutine::{my_coroutine, MyCoroutine};

const PAUSE: Duration = Duration::from_millis(50);

/// Lines said, each with when it was said (relative to the start of the run).
type Said = Rc<RefCell<Vec<(String, Duration)>>>;

/// What one run of a coroutine looked like from the outside.
#[derive(Debug)]
struct Run {
    /// Lines said before the first poll.
    before_first_poll: usize,
    /// Lines said by the end of the first poll, and whether that poll finished it.
    after_first_poll: Vec<String>,
    first_poll_finished: bool,
    /// Every line with its time.
    lines: Vec<(String, Duration)>,
}

/// Creates the coroutine with `make`, then drives it: one poll by hand, then to the end.
fn run<F: Future<Output = ()>>(make: impl FnOnce(Box<dyn FnMut(&str)>) -> F) -> Run {
    block_on(async {
        let said: Said = Rc::default();
        let started = Instant::now();
        let say = {
            let said = said.clone();
            Box::new(move |line: &str| said.borrow_mut().push((line.to_owned(), started.elapsed())))
        };
        let mut coroutine = pin!(make(say));
        let before_first_poll = said.borrow().len();
        let first = poll_fn(|cx| Poll::Ready(coroutine.as_mut().poll(cx))).await;
        let after_first_poll = said.borrow().iter().map(|(line, _)| line.clone()).collect();
        if first.is_pending() {
            coroutine.await;
        }
        let lines = said.borrow().clone();
        Run { before_first_poll, after_first_poll, first_poll_finished: first.is_ready(), lines }
    })
}

fn check(run: &Run) {
    assert_eq!(run.before_first_poll, 0, "creating the coroutine ran its body");
    assert_eq!(run.after_first_poll, ["Starting coroutine"]);
    assert!(!run.first_poll_finished, "the first poll did not stop at the sleep");
    let lines: Vec<&str> = run.lines.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(lines, ["Starting coroutine", "Coroutine finished"]);
    let (first_at, second_at) = (run.lines[0].1, run.lines[1].1);
    assert!(first_at < Duration::from_millis(20), "first line only after {first_at:?}");
    assert!(second_at >= PAUSE, "second line before the pause was over: {second_at:?}");
    assert!(second_at < PAUSE * 10, "second line far too late: {second_at:?}");
}

#[test]
fn the_async_fn_and_the_state_machine_say_the_same_lines_at_the_same_points() {
    let (by_async_fn, by_hand) = within(Duration::from_secs(10), || {
        (run(|say| my_coroutine(say, PAUSE)), run(|say| MyCoroutine::new(say, PAUSE)))
    });
    check(&by_async_fn);
    check(&by_hand);
}

#[test]
fn calling_either_runs_nothing_until_polled() {
    let said: Said = Rc::default();
    let say = || {
        let said = said.clone();
        move |line: &str| said.borrow_mut().push((line.to_owned(), Duration::ZERO))
    };
    // Created outside any event loop and dropped without a poll: nothing is said, and
    // no reactor is needed (the sleep is not even created yet).
    drop(my_coroutine(say(), PAUSE));
    drop(MyCoroutine::new(say(), PAUSE));
    assert!(said.borrow().is_empty());
}
