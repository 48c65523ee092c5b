//! The chat page in a real browser: headless Chromium opens `/chat?room=…&say=…`, its
//! WebSocket joins the room and speaks, and both sides must see it — a raw client that
//! joined the room first receives the browser's join and message from the server's
//! broadcast, and the DOM the page drew shows the message the server echoed to it.
//! (The live view's page, also on a WebSocket now, has its own test in
//! `loopview_browser.rs`.)
//!
//! Chromium is Debian's `chromium` (`.ci/test-all` installs it). Without it the test is
//! skipped with a message — unless `CI` is set, where a missing browser is a failure.

mod browser_support;
mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use rasgi::app::App;
use server_support::{config, TestServer, IO_TIMEOUT};

/// A raw WebSocket client: the handshake, then unmasked server text frames of up to 125
/// bytes (all the chat sends for short messages).
struct Member {
    stream: TcpStream,
}

impl Member {
    fn join(server: &TestServer, room: &str) -> Member {
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let request = format!(
            "GET /ws/chat/{room} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("send the handshake");
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("the 101 head");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
        Member { stream }
    }

    fn text(&mut self) -> String {
        let mut header = [0u8; 2];
        self.stream.read_exact(&mut header).expect("a frame header");
        assert_eq!(header[0], 0x81, "a whole text frame");
        let mut payload = vec![0u8; usize::from(header[1])];
        self.stream.read_exact(&mut payload).expect("the payload");
        String::from_utf8(payload).expect("UTF-8")
    }
}

#[test]
fn the_chat_page_talks_through_a_browser_websocket() {
    let Some(chromium) = browser_support::chromium("the chat page's browser test") else { return };
    let server = TestServer::start(config(), || rasgi::chat::mount(App::new()));
    let mut member = Member::join(&server, "kitchen");
    assert_eq!(member.text(), r#"{"event":"joined","member":1}"#);

    let url = format!("http://{}/chat?room=kitchen&say=hello%20from%20chromium", server.addr);
    let echoed = r#"<div class="mine">you: hello from chromium</div>"#;
    let mut dom = String::new();
    let mut browser = 2;
    for _attempt in 0..3 {
        dom = browser_support::run_chromium_for(&chromium, &url, 3000, &["--dump-dom".to_owned()]);
        assert_eq!(member.text(), format!(r#"{{"event":"joined","member":{browser}}}"#), "the browser joined");
        assert_eq!(member.text(), format!(r#"{{"member":{browser},"text":"hello from chromium"}}"#), "and spoke");
        if dom.contains(echoed) {
            break;
        }
        // Virtual time does not wait for WebSocket frames: on a loaded machine Chromium can
        // dump the page before the server's echo reaches it. The page is gone, so the room
        // hears it leave; the next visit joins as the next member.
        assert_eq!(member.text(), format!(r#"{{"event":"left","member":{browser}}}"#), "{dom}");
        browser += 1;
    }
    assert!(dom.contains(&format!("you are member {browser}")), "{dom}");
    assert!(dom.contains(echoed), "{dom}");
    assert!(dom.contains("connected to kitchen"), "{dom}");
}
