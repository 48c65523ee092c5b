//! Micro-benchmarks of the event loop: what one spawn, one wake-up, one timer, one
//! channel message and one TCP round trip cost on rasgi's single-threaded runtime.
//!
//! ```text
//! cargo bench --bench executor            # every benchmark
//! cargo bench --bench executor -- timers  # those whose name contains "timers"
//! RASGI_BENCH_JSON=1 cargo bench --bench executor   # one JSON line per benchmark
//! ```
//!
//! The harness is a dozen lines rather than criterion: each benchmark runs once to warm
//! up (allocator, page faults, the blocking of nothing), then [`ROUNDS`] more times on a
//! fresh runtime, and the median time per operation is reported with the fastest and
//! slowest round beside it. Only the work inside the loop is timed, not building or
//! dropping the runtime.
//!
//! `spawn`, `pingpong` and `timers` are defined exactly as the tokio peer's `execbench`
//! (`benches/peers/hyper/src/bin/execbench.rs`) defines them, so the numbers compare.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rasgi_executor::reactor::net::{TcpListener, TcpStream};
use rasgi_executor::sync::mpsc;
use rasgi_executor::{sleep_until, spawn, Runtime};

/// Measured rounds per benchmark (after one warm-up round); the median is reported.
const ROUNDS: usize = 5;

/// One benchmark: `run(ops)` performs `ops` operations and returns the time they took.
struct Bench {
    name: &'static str,
    ops: u64,
    /// What one operation is, for the human-readable report.
    op: &'static str,
    run: fn(u64) -> Duration,
}

const BENCHES: &[Bench] = &[
    Bench { name: "spawn", ops: 1_000_000, op: "spawn a task, run it, await its output", run: spawn_complete },
    Bench { name: "pingpong", ops: 100_000, op: "round trip between two tasks (2 wakes)", run: ping_pong },
    Bench { name: "timers", ops: 100_000, op: "insert, fire and wake one timer (CPU time)", run: timers },
    Bench { name: "mpsc", ops: 1_000_000, op: "one value through a 1024-slot channel", run: channel_throughput },
    Bench { name: "tcp_echo", ops: 10_000, op: "64-byte echo round trip over loopback", run: tcp_echo },
];

fn main() {
    let json = std::env::var("RASGI_BENCH_JSON").as_deref() == Ok("1");
    // `cargo bench` passes `--bench`; anything else not starting with `--` filters.
    let filters: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    for bench in BENCHES {
        if !filters.is_empty() && !filters.iter().any(|f| bench.name.contains(f.as_str())) {
            continue;
        }
        (bench.run)(bench.ops);
        let mut ns_per_op: Vec<f64> =
            (0..ROUNDS).map(|_| (bench.run)(bench.ops).as_nanos() as f64 / bench.ops as f64).collect();
        ns_per_op.sort_by(f64::total_cmp);
        let median = ns_per_op[ROUNDS / 2];
        if json {
            println!("{{\"bench\":\"{}\",\"ns_per_op\":{median:.1}}}", bench.name);
        } else {
            println!(
                "{:<9} {:>9} ops  median {:>8.1} ns/op  (min {:.1}, max {:.1})  one op = {}",
                bench.name,
                bench.ops,
                median,
                ns_per_op[0],
                ns_per_op[ROUNDS - 1],
                bench.op
            );
        }
    }
}

/// Spawns `n` tasks that each return a number, then awaits every handle in order.
fn spawn_complete(n: u64) -> Duration {
    let runtime = Runtime::new().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..n).map(|i| spawn(async move { i })).collect();
        let mut sum = 0u64;
        for handle in handles {
            sum = sum.wrapping_add(handle.await.expect("a trivial task cannot fail"));
        }
        black_box(sum);
        started.elapsed()
    })
}

/// Two tasks pass a number back and forth `n` times through two one-slot channels.
fn ping_pong(n: u64) -> Duration {
    let runtime = Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let started = Instant::now();
        let responder = spawn(async move {
            while let Some(value) = ping_rx.recv().await {
                if pong_tx.send(value + 1).await.is_err() {
                    break;
                }
            }
        });
        let initiator = spawn(async move {
            let mut value = 0;
            for _ in 0..n {
                ping_tx.send(value).await.expect("responder gone");
                value = pong_rx.recv().await.expect("responder gone");
            }
            value
        });
        assert_eq!(initiator.await.expect("initiator"), n);
        responder.await.expect("responder");
        started.elapsed()
    })
}

/// `n` tasks each sleep 1..=10 ms (task i: 1 + i % 10 ms, plus i ns so that every
/// deadline is distinct). The wall time would be mostly sleeping, so this measures the
/// loop thread's CPU time instead, as the tokio peer does.
fn timers(n: u64) -> Duration {
    let runtime = Runtime::new().expect("runtime");
    runtime.block_on(async {
        let cpu_before = thread_cpu_time();
        let base = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let deadline = base + Duration::from_millis(1 + i % 10) + Duration::from_nanos(i);
                spawn(sleep_until(deadline))
            })
            .collect();
        for handle in handles {
            handle.await.expect("a sleeping task cannot fail");
        }
        match (cpu_before, thread_cpu_time()) {
            (Some(before), Some(after)) => after - before,
            // No schedstat (an unusual kernel): wall time, which includes the sleep.
            _ => base.elapsed(),
        }
    })
}

/// CPU time this thread has run so far, from `/proc/thread-self/schedstat` (its first
/// field, in nanoseconds). Read from a file so the bench needs no `libc`.
fn thread_cpu_time() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// A producer task sends `n` numbers through a channel of 1024 slots; the main future
/// receives and sums them.
fn channel_throughput(n: u64) -> Duration {
    let runtime = Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u64>(1024);
        let started = Instant::now();
        spawn(async move {
            for i in 0..n {
                tx.send(i).await.expect("receiver gone");
            }
        });
        let mut sum = 0u64;
        while let Some(value) = rx.recv().await {
            sum = sum.wrapping_add(value);
        }
        assert_eq!(sum, n * (n - 1) / 2);
        started.elapsed()
    })
}

/// A client task sends `n` 64-byte messages one at a time to an echo server task on the
/// same loop, waiting for each echo before sending the next.
fn tcp_echo(n: u64) -> Duration {
    const MESSAGE: [u8; 64] = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let runtime = Runtime::new().expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let mut buf = [0u8; 4096];
            loop {
                let read = stream.read(&mut buf).await.expect("server read");
                if read == 0 {
                    break;
                }
                stream.write_all(&buf[..read]).await.expect("server write");
            }
        });
        let client = TcpStream::connect(addr).await.expect("connect");
        client.set_nodelay(true).expect("nodelay");
        let started = Instant::now();
        let mut echo = [0u8; MESSAGE.len()];
        for _ in 0..n {
            client.write_all(&MESSAGE).await.expect("client write");
            let mut got = 0;
            while got < echo.len() {
                let read = client.read(&mut echo[got..]).await.expect("client read");
                assert!(read > 0, "server closed early");
                got += read;
            }
        }
        let elapsed = started.elapsed();
        assert_eq!(echo, MESSAGE);
        drop(client);
        server.await.expect("server");
        elapsed
    })
}
