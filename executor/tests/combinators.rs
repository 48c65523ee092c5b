//! Running futures side by side inside one task: `join` and `join_all`
//! (`asyncio.gather`), `select` (the first to finish wins, the other is dropped), and
//! `yield_now` (`await asyncio.sleep(0)`: step aside for the other ready tasks and for
//! the loop's I/O check).

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{within, DropGuard, Log};
use rasgi_executor::sync::oneshot;
use rasgi_executor::{block_on, join, join_all, select, sleep, spawn, yield_now, Either, JoinHandle};

#[test]
fn join_runs_both_futures_concurrently() {
    // `a` can only finish after `b` has sent, and `b` only after `a` has answered: run
    // one after the other, they would wait for each other forever.
    let out = within(Duration::from_secs(10), || {
        block_on(async {
            let (to_a, from_b) = oneshot::channel();
            let (to_b, from_a) = oneshot::channel();
            let a = async move {
                let got = from_b.await.unwrap();
                to_b.send(got + 1).unwrap();
                "a done"
            };
            let b = async move {
                to_a.send(1).unwrap();
                from_a.await.unwrap()
            };
            join(a, b).await
        })
    });
    assert_eq!(out, ("a done", 2));
}

#[test]
fn join_all_returns_outputs_in_input_order_whatever_the_finishing_order() {
    let (outputs, finished) = within(Duration::from_secs(10), || {
        block_on(async {
            let finished = Log::default();
            // Child i yields 4 - i times, so the children finish in reverse order.
            let children = (0..5).map(|i| {
                let finished = finished.clone();
                async move {
                    for _ in 0..(4 - i) {
                        yield_now().await;
                    }
                    finished.push(format!("child {i}"));
                    i * 10
                }
            });
            (join_all(children).await, finished.take())
        })
    });
    assert_eq!(outputs, [0, 10, 20, 30, 40]);
    assert_eq!(finished, ["child 4", "child 3", "child 2", "child 1", "child 0"]);
}

#[test]
fn join_all_of_nothing_is_ready_at_once() {
    let outputs: Vec<u8> = block_on(join_all(Vec::<std::future::Ready<u8>>::new()));
    assert!(outputs.is_empty());
}

#[test]
fn select_returns_the_winner_and_drops_the_loser() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (guard, loser_dropped) = DropGuard::new();
            let loser_finished = Rc::new(Cell::new(false));
            let slow = {
                let loser_finished = loser_finished.clone();
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(10)).await;
                    loser_finished.set(true);
                    "slow"
                }
            };
            let fast = async {
                sleep(Duration::from_millis(10)).await;
                7
            };
            let winner = select(slow, fast).await;
            assert_eq!(winner, Either::Right(7));
            // Dropped by the time `select` returns, not at some later point.
            assert!(loser_dropped.get(), "the loser was not dropped");
            assert!(!loser_finished.get());
            let timers = rasgi_executor::reactor::Reactor::try_current().unwrap().stats().timers;
            assert_eq!(timers, 0, "the loser's sleep is still registered");
        })
    });
}

#[test]
fn select_prefers_the_first_future_when_both_are_ready() {
    let winner = block_on(select(async { "a" }, async { "b" }));
    assert_eq!(winner, Either::Left("a"));
}

#[test]
fn yield_now_lets_two_tasks_interleave() {
    let events = within(Duration::from_secs(10), || {
        block_on(async {
            let log = Log::default();
            let worker = |name: &'static str| {
                let log = log.clone();
                spawn(async move {
                    for step in 0..3 {
                        log.push(format!("{name}{step}"));
                        yield_now().await;
                    }
                })
            };
            let (a, b) = (worker("a"), worker("b"));
            a.await.unwrap();
            b.await.unwrap();
            log.take()
        })
    });
    assert_eq!(events, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

/// A loopback connection whose far end is a plain `std` socket (written from inside the
/// loop, where a write of two bytes never blocks), and a task waiting on the near end:
/// it reads `hi` and returns what `count` said at that moment. Returns the `std` end and
/// the task, which is already waiting in the reactor.
async fn reader_reporting(count: Rc<Cell<u32>>) -> (std::net::TcpStream, JoinHandle<u32>) {
    let listener = rasgi_executor::reactor::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let reader = spawn(async move {
        let mut buf = [0u8; 8];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hi");
        count.get()
    });
    // One turn, so that the reader has found nothing to read and waits for readability.
    yield_now().await;
    (client, reader)
}

/// A yield lets the loop check its sockets, not just run the other ready tasks: a task
/// that yields in a loop is polled once per turn, so a socket that became readable is
/// seen at that turn's `epoll_wait` (`asyncio.sleep(0)` behaves the same). If a yielding
/// task went straight back on the ready queue, the turn would poll it again up to its
/// budget (256 polls) before looking at any socket.
#[test]
fn yield_now_lets_the_loop_check_its_sockets() {
    let spins_before_the_read = within(Duration::from_secs(10), || {
        block_on(async {
            let spins = Rc::new(Cell::new(0u32));
            let (mut client, reader) = reader_reporting(spins.clone()).await;
            std::io::Write::write_all(&mut client, b"hi").unwrap();
            let spinner = {
                let spins = spins.clone();
                spawn(async move {
                    while spins.get() < 1_000 {
                        spins.set(spins.get() + 1);
                        yield_now().await;
                    }
                })
            };
            let seen = reader.await.unwrap();
            spins.set(1_000);
            spinner.await.unwrap();
            seen
        })
    });
    assert!(spins_before_the_read <= 2, "the spinner ran {spins_before_the_read} times before the read was seen");
}

/// The same, when the yielding task is woken again within the turn: here it sends on a
/// channel whose receiver lives in the same task (as a streamed response's producer and
/// forwarder do), so every send re-queues it at once. The re-poll must find the yield
/// still pending, or the pair would spin through the whole budget before any socket
/// was looked at.
#[test]
fn a_yield_holds_when_the_task_is_woken_again_in_the_same_turn() {
    let sends_before_the_read = within(Duration::from_secs(10), || {
        block_on(async {
            let sent = Rc::new(Cell::new(0u32));
            let (mut client, reader) = reader_reporting(sent.clone()).await;
            let pair = {
                let sent = sent.clone();
                spawn(async move {
                    let (tx, mut rx) = rasgi_executor::sync::mpsc::channel::<u32>(4);
                    let produce = async move {
                        while sent.get() < 1_000 {
                            sent.set(sent.get() + 1);
                            if sent.get() == 10 {
                                // Mid-stream, the reader's socket becomes readable.
                                std::io::Write::write_all(&mut client, b"hi").unwrap();
                            }
                            if tx.send(sent.get()).await.is_err() {
                                return;
                            }
                            yield_now().await;
                        }
                    };
                    let consume = async move { while rx.recv().await.is_some() {} };
                    join(produce, consume).await;
                })
            };
            let seen = reader.await.unwrap();
            sent.set(1_000);
            pair.await.unwrap();
            seen
        })
    });
    // The 10th send made the socket readable; the next I/O check sees it.
    assert!((10..=11).contains(&sends_before_the_read), "{sends_before_the_read} sends before the read was seen");
}

#[test]
fn without_yield_now_a_task_runs_to_its_end_first() {
    // The contrast that makes the test above meaningful: with no await point, a task
    // keeps the loop until it is done.
    let events = block_on(async {
        let log = Log::default();
        let worker = |name: &'static str| {
            let log = log.clone();
            spawn(async move {
                for step in 0..3 {
                    log.push(format!("{name}{step}"));
                }
            })
        };
        let (a, b) = (worker("a"), worker("b"));
        a.await.unwrap();
        b.await.unwrap();
        log.take()
    });
    assert_eq!(events, ["a0", "a1", "a2", "b0", "b1", "b2"]);
}
