//! Behind a proxy (`http/src/server/proxy.rs`): the scope's `client` and `scheme` come
//! from `X-Forwarded-For` / `X-Forwarded-Proto` or RFC 7239 `Forwarded` — but only when
//! the peer is a trusted proxy (`--forwarded-allow-ips`, default 127.0.0.1). Raw bytes
//! over real sockets, then a real nginx in front, with the client on another loopback
//! address (127.0.0.2) so that it is not itself "trusted".

mod proxy_support;
mod server_support;
mod tls_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};

use rasgi_http::server::proxy::TrustedProxies;
use rasgi_http::server::Config;
use server_support::{config, TestServer, WhoAmI};

fn server(trusted: &str, proxy_headers: bool) -> TestServer {
    let forwarded_allow_ips = TrustedProxies::parse(trusted).expect("a valid list");
    TestServer::start(Config { forwarded_allow_ips, proxy_headers, ..config() }, || WhoAmI)
}

/// Sends requests with `extra` header lines on one connection; returns the bodies and the
/// connection's own local address.
fn ask(server: &TestServer, extras: &[&str]) -> (Vec<String>, SocketAddr) {
    let mut client = server.connect();
    let local = client.stream.local_addr().expect("local address");
    let answers = extras
        .iter()
        .map(|extra| {
            client.send(format!("GET / HTTP/1.1\r\nHost: test\r\n{extra}\r\n"));
            client.response().text()
        })
        .collect();
    (answers, local)
}

#[test]
fn a_trusted_proxy_sets_client_and_scheme_and_each_request_is_its_own() {
    let server = server("127.0.0.1", true);
    let (answers, local) = ask(
        &server,
        &[
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n",
            "Forwarded: for=\"[2001:db8::17]:4711\";proto=https\r\n",
            "",
        ],
    );
    assert_eq!(answers[0], "client=203.0.113.7:0 scheme=https");
    assert_eq!(answers[1], "client=[2001:db8::17]:4711 scheme=https");
    // The next request on the same connection says nothing: the scope is the peer's again.
    assert_eq!(answers[2], format!("client={local} scheme=http"));
}

#[test]
fn a_chain_of_proxies_is_walked_from_the_right() {
    let server = server("127.0.0.1, 10.0.0.0/8", true);
    let (answers, _) = ask(&server, &["X-Forwarded-For: 6.6.6.6, 198.51.100.1, 10.1.2.3\r\n"]);
    assert_eq!(answers[0], "client=198.51.100.1:0 scheme=http");
}

#[test]
fn proxy_headers_from_an_untrusted_peer_are_ignored() {
    // Only 192.0.2.1 is a proxy: this loopback client's claims are spoofs.
    let server = server("192.0.2.1", true);
    let spoof = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nForwarded: for=192.0.2.60\r\n";
    let (answers, local) = ask(&server, &[spoof]);
    assert_eq!(answers[0], format!("client={local} scheme=http"));
    // And with --no-proxy-headers nobody is believed.
    let off = self::server("*", false);
    let (answers, local) = ask(&off, &[spoof]);
    assert_eq!(answers[0], format!("client={local} scheme=http"));
}

/// A connection to `to` from the loopback address `from`.
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    // SAFETY: socket() takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh socket owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(from) },
        sin_zero: [0; 8],
    };
    // SAFETY: bind() reads a valid sockaddr_in of the length given.
    let rc = unsafe {
        libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32)
    };
    assert_eq!(rc, 0, "bind to {from:?}: {}", std::io::Error::last_os_error());
    let stream = TcpStream::from(owned);
    // std cannot connect an already-created socket; do it by hand too.
    let SocketAddr::V4(to) = to else { panic!("IPv4 only") };
    let dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(to.ip().octets()) },
        sin_zero: [0; 8],
    };
    // SAFETY: connect() reads a valid sockaddr_in of the length given.
    let rc = unsafe {
        libc::connect(fd, (&dest as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32)
    };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
    stream
}

/// One request through `proxy` from 127.0.0.2, with `extra` header lines.
fn through(proxy: SocketAddr, path: &str, extra: &str) -> String {
    let mut stream = connect_from([127, 0, 0, 2], proxy);
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n").expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or(raw)
}

#[test]
fn behind_nginx_the_client_is_who_nginx_saw_and_spoofs_do_not_pass() {
    let server = server("127.0.0.1", true);
    let proxy = proxy_support::Proxy::start(&format!(
        "location / {{
            proxy_pass http://{up};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location /tls-terminated {{
            proxy_pass http://{up};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}",
        up = server.addr
    ));
    assert_eq!(through(proxy.addr, "/", ""), "client=127.0.0.2:0 scheme=http");
    // The client claims to be someone else; nginx appends what it saw, and rasgi, walking
    // from the right, stops at the first address that is not a trusted proxy.
    assert_eq!(through(proxy.addr, "/", "X-Forwarded-For: 6.6.6.6\r\n"), "client=127.0.0.2:0 scheme=http");
    assert_eq!(through(proxy.addr, "/tls-terminated", ""), "client=127.0.0.2:0 scheme=https");
    // Straight to rasgi from 127.0.0.2 (not a trusted proxy), the same headers are ignored.
    let mut direct = connect_from([127, 0, 0, 2], server.addr);
    direct.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    direct
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        .expect("send");
    let mut raw = String::new();
    direct.read_to_string(&mut raw).expect("read");
    let local = direct.local_addr().expect("local");
    assert!(raw.ends_with(&format!("client={local} scheme=http")), "{raw}");
}
