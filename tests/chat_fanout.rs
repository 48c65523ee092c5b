//! The demo's chat rooms span servers: two demo processes on one PostgreSQL, a WebSocket
//! member on each, and what one says reaches the other through `NOTIFY rasgi_chat`
//! (`src/chat.rs`).

mod app_support;
mod pg_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use app_support::Demo;

/// Opens `/ws/chat/{room}` on `demo` with a raw handshake.
fn join(demo: &Demo, room: &str) -> TcpStream {
    let mut stream = TcpStream::connect(demo.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    write!(
        stream,
        "GET /ws/chat/{room} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .expect("send the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!("closed during the handshake: {head:?}"),
            Err(_) => assert!(Instant::now() < deadline, "no handshake answer"),
        }
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    stream
}

/// Sends one masked text frame.
fn say(stream: &mut TcpStream, text: &str) {
    let mask = [7u8, 1, 2, 3];
    let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).expect("short")];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).expect("send a frame");
}

/// Reads the text frames that arrive within `wait` (payloads under 126 bytes).
fn heard(stream: &mut TcpStream, pending: &mut Vec<u8>, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    let mut texts = Vec::new();
    while pending.len() >= 2 && pending.len() >= 2 + usize::from(pending[1] & 0x7f) {
        let len = usize::from(pending[1] & 0x7f);
        assert!(len < 126, "a short frame");
        texts.push(String::from_utf8_lossy(&pending[2..2 + len]).into_owned());
        pending.drain(..2 + len);
    }
    texts
}

#[test]
fn a_chat_room_spans_two_servers_through_notify() {
    let Some(cluster) = pg_common::cluster() else { return };
    let url = cluster.url();
    let env = [("DATABASE_URL", url.as_str())];
    let (one, two) = (Demo::start_with(&["--no-access-log"], &env), Demo::start_with(&["--no-access-log"], &env));
    let mut here = join(&one, "lobby");
    let mut pending_here = Vec::new();
    let mut there = join(&two, "lobby");
    let mut pending_there = Vec::new();
    // Each hears its own arrival; the first also hears the second arrive on the other
    // server (the relay LISTENs from startup, so give it a moment at most).
    let mut heard_here = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while !heard_here.iter().any(|t: &String| t.contains(r#""text":"hello from two"#)) {
        assert!(
            Instant::now() < deadline,
            "the first server's member never heard the second's: {heard_here:?}\nlogs: {:?}\n{:?}",
            one.log_since(0),
            two.log_since(0)
        );
        n += 1;
        say(&mut there, &format!("hello from two {n}"));
        heard_here.extend(heard(&mut here, &mut pending_here, Duration::from_millis(300)));
    }
    assert!(heard_here.contains(&r#"{"event":"joined","member":1}"#.to_owned()), "{heard_here:?}");
    // And the other way round.
    say(&mut here, "hello from one");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut heard_there = Vec::new();
    while !heard_there.contains(&r#"{"member":1,"text":"hello from one"}"#.to_owned()) {
        assert!(Instant::now() < deadline, "the second server's member never heard the first: {heard_there:?}");
        heard_there.extend(heard(&mut there, &mut pending_there, Duration::from_millis(200)));
    }
}
