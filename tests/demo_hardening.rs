//! The demo binary as an exposed server would be run: the live loop view, which shows
//! every task, socket and timer to whoever asks, is mounted by default only on a
//! loopback address; and a body announced over the app layer's limit is refused before
//! the client is invited to send it.

mod app_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use app_support::{get, Demo};

/// The demo's address as seen from this machine (the demo may listen on 0.0.0.0).
fn loopback(demo: &Demo) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], demo.addr.port()))
}

#[test]
fn the_live_view_is_mounted_on_loopback_only_unless_asked() {
    let local = Demo::start(&[]);
    assert_eq!(get(local.addr, "/_rasgi/state").status, 200, "mounted on 127.0.0.1 by default");

    let exposed = Demo::start(&["--host", "0.0.0.0"]);
    let reply = get(loopback(&exposed), "/_rasgi/state");
    assert_eq!((reply.status, reply.body.as_str()), (404, r#"{"detail":"Not Found"}"#));
    assert_eq!(get(loopback(&exposed), "/_rasgi/").status, 404);
    assert!(exposed.log_contains("the live loop view /_rasgi/ is off: 0.0.0.0 is not a loopback address"));
    // The rest of the demo is there.
    assert_eq!(get(loopback(&exposed), "/").body, r#"{"Hello":"World"}"#);

    let asked = Demo::start(&["--host", "0.0.0.0", "--live-view"]);
    assert_eq!(get(loopback(&asked), "/_rasgi/state").status, 200);
    let refused = Demo::start(&["--no-live-view"]);
    assert_eq!(get(refused.addr, "/_rasgi/state").status, 404);
}

#[test]
fn a_body_announced_over_the_app_limit_gets_413_without_100_continue() {
    let demo = Demo::start(&[]);
    let mut stream = TcpStream::connect(demo.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // 2 MiB announced, over the app layer's 1 MiB default; the client waits to be
    // invited before sending any of it.
    stream
        .write_all(
            b"POST /items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("send the head");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413 Content Too Large\r\n"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.ends_with(r#"{"detail":"Request body too large"}"#), "{text}");
}

#[test]
fn the_demo_binary_upgrades_its_websocket_routes_through_its_middleware() {
    // The demo wraps its app in the GZip middleware; WebSockets must pass through it.
    let demo = Demo::start(&[]);
    let mut stream = TcpStream::connect(demo.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
        .write_all(
            b"GET /ws/echo HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .expect("send the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("read the answer"), 1, "closed after {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
    // A masked text frame "hi" comes back unmasked.
    stream.write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]).expect("send a frame");
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).expect("the echo");
    assert_eq!(echo, [0x81, 0x02, b'h', b'i']);
}
