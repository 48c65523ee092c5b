//! The "build it yourself" steps in `executor/examples/`, run and checked.
//!
//! Each step is compiled here from its own file (`#[path]`), so what a reader runs with
//! `cargo run --example` is exactly what is tested, and the output each step's doc
//! promises is asserted: step 1's wasted polls, step 2's two polls, step 3's exchange
//! through the reactor, step 4's timeout, step 5's tasks finishing in deadline order,
//! and step 6 serving real HTTP/1.1 requests over real sockets, byte for byte.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

// Each step's `main` (and some helpers) are not called here, only its `run`.
#[allow(dead_code)]
#[path = "../examples/step1_busy_loop.rs"]
mod step1;
#[allow(dead_code)]
#[path = "../examples/step2_parking_waker.rs"]
mod step2;
#[allow(dead_code)]
#[path = "../examples/step3_reactor.rs"]
mod step3;
// Step 6 includes step 5, which includes step 4: reached through it, each file is
// compiled once, as in the examples.
#[allow(dead_code)]
#[path = "../examples/step6_hello_server.rs"]
mod step6;
use step6::step5;
use step6::step5::step4;

/// The number after `prefix` in `line`.
fn count(line: &str, prefix: &str) -> u64 {
    let rest = line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    rest.parse().unwrap_or_else(|_| panic!("{rest:?} is not a count"))
}

#[test]
fn step1_the_busy_loop_wastes_polls() {
    let lines = step1::run();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "the delay is over");
    let polls = count(&lines[1], "polls: ");
    // The delay lasts 20 ms; a loop that never waits polls far more than twice in that
    // time. Two polls would mean the loop had somehow slept.
    assert!(polls > 2, "the busy loop polled only {polls} times");
    assert_eq!(count(&lines[2], "wasted polls: "), polls - 2);
}

#[test]
fn step2_the_parking_waker_polls_exactly_twice() {
    assert_eq!(step2::run(), ["the delay is over", "polls: 2", "wasted polls: 0"]);
}

#[test]
fn step3_readiness_wakes_the_future() {
    let lines = step3::run().expect("step 3 failed");
    assert_eq!(lines[..2], [r#"server read "ping""#, r#"client read "pong""#]);
    // One poll, plus one per wake: the listener's readable event, the new stream's
    // writable event (which wakes the reader: one waker per socket in this step) and its
    // readable event. Fewer when the client is quicker than the server. Spinning would
    // poll far more.
    let polls = count(&lines[2], "polls: ");
    assert!((1..=4).contains(&polls), "{polls} polls for one accept and one read");
    assert_eq!(lines.len(), 3);
}

#[test]
fn step4_sleeps_and_times_out() {
    let lines = step4::run().expect("step 4 failed");
    assert_eq!(lines, ["slept at least 20 ms: true", "the client sent nothing for 30 ms: timed out"]);
}

#[test]
fn step5_tasks_sleep_at_the_same_time() {
    let lines = step5::run().expect("step 5 failed");
    assert_eq!(
        lines,
        [
            "task b finished after 20 ms",
            "task c finished after 40 ms",
            "task a finished after 60 ms",
            "joined all three: 120 ms of sleeping in all",
        ]
    );
}

/// Connects to the server with a read timeout, so a broken step fails instead of hanging.
fn connect(address: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect to step 6");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("set a read timeout");
    stream
}

/// Reads until the server closes the connection.
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the response");
    response
}

#[test]
fn step6_serves_hello_while_another_client_dawdles() {
    const HELLO: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    let server = std::thread::spawn(move || step6::serve(listener, Some(2)));

    // The first client sends half a head and stops: its task waits on its socket.
    let mut slow = connect(address);
    slow.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n").expect("write half a head");
    // The second is served meanwhile, on the same thread: the loop is not stuck on the first.
    let mut quick = connect(address);
    quick.write_all(b"GET /quick HTTP/1.1\r\nHost: quick\r\n\r\n").expect("write a request");
    assert_eq!(read_all(&mut quick), HELLO);
    // The first client finishes its head and gets its answer too.
    slow.write_all(b"\r\n").expect("finish the head");
    assert_eq!(read_all(&mut slow), HELLO);

    server.join().expect("the server thread panicked").expect("the server failed");
}
