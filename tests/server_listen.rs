//! Where the listening socket comes from, in real server processes: an inherited
//! descriptor (`--fd N`, what a supervisor or a deploy tool hands over), systemd's socket
//! activation (`LISTEN_FDS`/`LISTEN_PID`, descriptors from 3), and clear errors for a
//! descriptor that is not a listening socket.
//!
//! The point of inheriting the socket: the port never closes. Between one server process
//! and the next, clients queue in the kernel's listen backlog instead of being refused.

mod server_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use server_support::{example_binary, exchange, ServerProcess};

/// A listening socket on a free loopback port that child processes inherit.
fn inheritable_listener() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let fd = listener.as_raw_fd();
    // SAFETY: fcntl() with integer arguments on a descriptor this test owns.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    assert_eq!(rc, 0, "clear FD_CLOEXEC");
    listener
}

#[test]
fn a_server_serves_on_an_inherited_socket_and_the_port_never_closes() {
    let listener = inheritable_listener();
    let addr = listener.local_addr().expect("address");
    let fd = listener.as_raw_fd().to_string();
    let binary = example_binary("lifespan");
    let mut first = ServerProcess::start(&binary, &["--fd", &fd], &[]);
    assert_eq!(first.addr, addr, "the server reports the inherited socket's address");
    assert_eq!(exchange(addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").text(), "hello from startup");

    // The first server goes away; the socket stays open in this process.
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
    // A client that arrives now is not refused: the kernel queues it.
    let mut waiting = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("queued, not refused");
    waiting.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    waiting.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").expect("send");

    // The next server takes over the same socket and answers the queued client.
    let _second = ServerProcess::start(&binary, &["--fd", &fd], &[]);
    let mut answer = String::new();
    waiting.read_to_string(&mut answer).expect("the queued request is answered");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello from startup"), "{answer}");
}

#[test]
fn systemd_socket_activation_hands_over_descriptor_3() {
    let listener = inheritable_listener();
    let addr = listener.local_addr().expect("address");
    let binary = example_binary("lifespan");
    // The shell moves the socket to descriptor 3 and names its own pid, which `exec`
    // gives to the server, as systemd does.
    let script = format!(
        "LISTEN_PID=$$ LISTEN_FDS=1 exec {bin} 3<&{fd} {fd}<&-",
        fd = listener.as_raw_fd(),
        bin = binary.display()
    );
    let server = ServerProcess::start("/bin/sh".as_ref(), &["-c", &script], &[]);
    assert_eq!(server.addr, addr);
    assert_eq!(exchange(addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").text(), "hello from startup");
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_is_a_clear_error() {
    let binary = example_binary("lifespan");
    let run = |fd: &str| {
        let output = Command::new(&binary)
            .args(["--fd", fd])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .expect("run the server");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = run("987");
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--fd: file descriptor 987 is not open"), "{stderr}");
    // Standard input is /dev/null here: open, but no socket.
    let (code, stderr) = run("0");
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--fd: file descriptor 0: "), "{stderr}");
}
