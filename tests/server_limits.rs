//! Running out of file descriptors, in a real server process with a small limit: the
//! server raises its soft `RLIMIT_NOFILE` to the hard limit at start (and says so at
//! debug level), logs a flood of failed accepts as one line per interval with a count,
//! and serves again as soon as descriptors are free.

mod server_support;

use std::net::TcpStream;
use std::time::Duration;

use server_support::{eventually, example_binary, exchange, ServerProcess};

/// The server's limits line for open files: `(soft, hard)`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("a Max open files line");
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

#[test]
fn descriptor_exhaustion_is_logged_once_per_interval_and_survived() {
    let binary = example_binary("lifespan");
    // Soft limit 40, hard limit 64: the server may raise the first to the second.
    let script = format!("ulimit -Sn 40 && ulimit -Hn 64 && exec {} --port 0 --log-level debug", binary.display());
    let server = ServerProcess::start("/bin/sh".as_ref(), &["-c", &script], &[]);
    assert_eq!(open_file_limits(server.child.id()), (64, 64));
    assert!(server.stderr_text().contains("raised the open-file limit from 40 to 64"), "{}", server.stderr_text());

    // More clients than descriptors: the accepts beyond the limit fail until some close.
    let clients: Vec<TcpStream> = (0..100).filter_map(|_| TcpStream::connect(server.addr).ok()).collect();
    assert!(clients.len() >= 64, "the backlog takes the connections the server cannot accept yet");
    std::thread::sleep(Duration::from_millis(2600));
    let text = server.stderr_text();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("accept failed")).collect();
    // About 50 failed accepts in 2.6 s (one every 50 ms), reported in at most 4 lines.
    assert!((2..=4).contains(&lines.len()), "accept-error lines: {lines:#?}");
    assert!(lines[0].contains("accept failed 1 time(s): Too many open files"), "{}", lines[0]);
    let later: u64 = lines[1]
        .split("accept failed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(later >= 5, "the second line counts the failures since the first: {}", lines[1]);
    assert!(lines[1].contains("in the last interval"), "{}", lines[1]);

    // Descriptors come back: the server serves again.
    drop(clients);
    assert!(
        eventually(Duration::from_secs(15), || {
            TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_ok()
                && exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").status == 200
        }),
        "the server did not recover: {}",
        server.stderr_text()
    );
}
