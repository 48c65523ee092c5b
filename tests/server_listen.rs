//! Where the listening socket comes from, in real server processes: an inherited
//! descriptor (`--fd N`, what a supervisor or a deploy tool hands over), systemd's socket
//! activation (`LISTEN_FDS`/`LISTEN_PID`, descriptors from 3), and clear errors for a
//! descriptor that is not a listening socket; and a Unix-domain socket (`--uds PATH`),
//! served directly and through a real nginx.
//!
//! The point of inheriting the socket: the port never closes. Between one server process
//! and the next, clients queue in the kernel's listen backlog instead of being refused.

mod proxy_support;
mod server_support;
mod tls_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use rasgi_http::server::proxy::TrustedProxies;
use rasgi_http::server::Config;
use server_support::{config, example_binary, exchange, ServerProcess, TestServer, WhoAmI};

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
    // gives to the server, as systemd does. bash, not sh: dash's redirections take only
    // single-digit descriptors, and with other tests' sockets open the listener is often 10
    // or more ("Bad fd number").
    let fd = listener.as_raw_fd();
    let move_to_3 = if fd == 3 { String::new() } else { format!("3<&{fd} {fd}<&-") };
    let script = format!("LISTEN_PID=$$ LISTEN_FDS=1 exec {} {move_to_3}", binary.display());
    let server = ServerProcess::start("/bin/bash".as_ref(), &["-c", &script], &[]);
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

/// One request over the Unix-domain socket at `path`; the whole answer.
fn over_unix(path: &std::path::Path, request: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect to the socket");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn a_unix_domain_socket_is_served_directly_and_behind_nginx() {
    let dir = tls_support::TempDir::new("uds");
    let path = dir.path().join("rasgi.sock");
    // A socket file left behind by a server that died is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("a stale socket"));
    let trusted = TrustedProxies::parse("unix:").expect("valid");
    let server =
        TestServer::start(Config { uds: Some(path.clone()), forwarded_allow_ips: trusted, ..config() }, || WhoAmI);
    let direct = over_unix(&path, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert!(direct.starts_with("HTTP/1.1 200 OK\r\n"), "{direct}");
    assert!(direct.ends_with("\r\n\r\nclient=none scheme=http"), "a Unix-domain peer has no address: {direct}");

    // nginx proxies to the socket and says who its client was; `unix:` trusts it.
    let proxy = proxy_support::Proxy::start(&format!(
        "location / {{ proxy_pass http://unix:{}:; proxy_set_header X-Forwarded-For $remote_addr; }}",
        path.display()
    ));
    let through = exchange(proxy.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(through.text(), "client=127.0.0.1:0 scheme=http");
    drop(proxy);

    server.stop().expect("a clean stop");
    assert!(!path.exists(), "the socket file is removed when the server stops");
    // Anything that is not a socket is left alone, and refused.
    std::fs::write(&path, "precious").expect("write a file");
    let refused = rasgi_http::server::start(Config { uds: Some(path.clone()), ..config() }, || WhoAmI);
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("exists and is not a socket"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).expect("still there"), "precious");
}
