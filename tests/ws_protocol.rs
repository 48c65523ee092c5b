//! The WebSocket protocol rules, one test each, as raw bytes over a real socket: the
//! handshake (RFC 6455 §4), masking, reserved bits, opcodes, control frames, UTF-8,
//! close codes, the size limit, pings, shutdown and vanished clients. Each test writes
//! the client's frames byte by byte and asserts the exact bytes the server answers, and,
//! through a journal, what the application saw.

mod server_support;
mod ws_support;

use std::time::Duration;

use rasgi_http::server::Config;
use rasgi_http::{
    header, App, AppError, Message, Receive, Scope, Sender, WebSocketChannel, WebSocketReceiveEvent, WebSocketScope,
    WebSocketSendEvent,
};
use server_support::{config, Journal, TestServer};
use ws_support::{frame, upgrade, Ws, ACCEPTED, KEY};

/// The test application. `/echo` accepts (choosing `chat` if offered) and echoes every
/// message; `/deny` refuses with 403; `/teapot` refuses with its own 418 response;
/// `/bye` accepts and closes with 4000; `/panic` accepts and panics; `/silent` returns
/// without answering; `/flood` accepts and sends 1 KiB messages until sending fails.
/// Every websocket route journals its disconnect as `path code reason`.
struct WsApp {
    journal: Journal,
}

impl App for WsApp {
    async fn call(&self, _scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        send.respond(200, vec![header("content-type", "text/plain")], b"plain http").await?;
        Ok(())
    }

    async fn websocket(&self, scope: &WebSocketScope, socket: &WebSocketChannel<'_>) -> Result<(), AppError> {
        assert_eq!(socket.receive().await, WebSocketReceiveEvent::Connect);
        let accept = |subprotocol: Option<String>| WebSocketSendEvent::Accept { subprotocol, headers: Vec::new() };
        match scope.path() {
            "/deny" => return Ok(socket.send(WebSocketSendEvent::Close { code: 1000, reason: String::new() }).await?),
            "/teapot" => {
                let headers = vec![header("content-type", "text/plain")];
                socket.send(WebSocketSendEvent::HttpResponseStart { status: 418, headers }).await?;
                socket
                    .send(WebSocketSendEvent::HttpResponseBody { body: b"short and stout", more_body: false })
                    .await?;
                return Ok(());
            }
            "/silent" => return Ok(()),
            "/bye" => {
                socket.send(accept(None)).await?;
                socket.send(WebSocketSendEvent::Close { code: 4000, reason: "bye".into() }).await?;
            }
            "/panic" => {
                socket.send(accept(None)).await?;
                panic!("handler exploded");
            }
            "/flood" => {
                socket.send(accept(None)).await?;
                let piece = [b'x'; 1024];
                let mut sent = 0u64;
                while socket.send(WebSocketSendEvent::Bytes(&piece)).await.is_ok() {
                    sent += 1;
                    if sent.is_multiple_of(256) {
                        self.journal.push(format!("flood sent {sent}"));
                    }
                }
            }
            _ => {
                let chosen = scope.subprotocols().iter().find(|p| *p == "chat").cloned();
                socket.send(accept(chosen)).await?;
            }
        }
        loop {
            match socket.receive().await {
                WebSocketReceiveEvent::Receive(Message::Text(text)) => {
                    socket.send(WebSocketSendEvent::Text(&text)).await?;
                }
                WebSocketReceiveEvent::Receive(Message::Binary(bytes)) => {
                    socket.send(WebSocketSendEvent::Bytes(&bytes)).await?;
                }
                WebSocketReceiveEvent::Disconnect { code, reason } => {
                    self.journal.push(format!("{} {code} {reason}", scope.path()));
                    return Ok(());
                }
                WebSocketReceiveEvent::Connect => return Err(AppError::new("a second connect event")),
            }
        }
    }
}

fn start_with(config: Config) -> (TestServer, Journal) {
    let journal = Journal::default();
    let for_app = journal.clone();
    let server = TestServer::start(config, move || WsApp { journal: for_app.clone() });
    (server, journal)
}

fn start() -> (TestServer, Journal) {
    start_with(config())
}

#[test]
fn handshake_is_answered_with_the_rfc_accept_key_and_declines_unknown_extensions() {
    let (server, _) = start();
    let offer = "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; mystery\r\n";
    let (_, head) = Ws::handshake(server.addr, &upgrade("/echo", offer));
    assert_eq!(head, ACCEPTED, "no sec-websocket-extensions: the offers are declined");
    let (server, _) = start_with(Config { ws_per_message_deflate: false, ..config() });
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (_, head) = Ws::handshake(server.addr, &upgrade("/echo", offer));
    assert_eq!(head, ACCEPTED, "--ws-per-message-deflate false declines permessage-deflate too");
}

#[test]
fn subprotocol_chosen_by_the_application() {
    let (server, _) = start();
    let (_, head) = Ws::handshake(server.addr, &upgrade("/echo", "Sec-WebSocket-Protocol: superchat, chat\r\n"));
    assert_eq!(
        head,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nsec-websocket-protocol: chat\r\n\r\n"
    );
}

#[test]
fn bad_handshakes_get_400_or_426_with_a_reason() {
    let (server, _) = start();
    let cases = [
        (
            upgrade("/echo", "").replace("Version: 13", "Version: 8"),
            "426 Upgrade Required",
            "this server speaks WebSocket version 13 only",
        ),
        (
            upgrade("/echo", "").replace(KEY, "c2hvcnQ="),
            "400 Bad Request",
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ),
        (
            upgrade("/echo", "").replace("Connection: Upgrade", "Connection: keep-alive"),
            "400 Bad Request",
            "a WebSocket handshake needs `Connection: Upgrade`",
        ),
        (upgrade("/echo", "").replace("GET", "POST"), "400 Bad Request", "a WebSocket handshake must be a GET request"),
    ];
    for (request, status, reason) in cases {
        let (mut ws, head) = Ws::handshake(server.addr, &request);
        assert!(head.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{head}");
        assert!(head.contains("connection: close\r\n"), "{head}");
        assert_eq!(head.contains("sec-websocket-version: 13\r\n"), status.starts_with("426"), "{head}");
        let body = format!("{status}: {reason}\n");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
        ws.expect(body.as_bytes());
        ws.expect_eof();
    }
}

#[test]
fn refusals_before_accept() {
    let (server, _) = start();
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/deny", ""));
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    ws.expect(b"403 Forbidden: the application refused the WebSocket connection\n");
    ws.expect_eof();
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/teapot", ""));
    assert!(head.starts_with("HTTP/1.1 418 I'm a teapot\r\n") || head.starts_with("HTTP/1.1 418 "), "{head}");
    assert!(head.contains("content-length: 15\r\n") && head.contains("connection: close\r\n"), "{head}");
    ws.expect(b"short and stout");
    ws.expect_eof();
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/silent", ""));
    assert!(head.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{head}");
    ws.expect(b"500 Internal Server Error: Internal Server Error\n");
    ws.expect_eof();
}

#[test]
fn echo_text_and_binary_unmasked_with_the_shortest_length() {
    let (server, _) = start();
    let mut ws = Ws::open(server.addr, "/echo");
    ws.send(&frame(0x81, b"Hello"));
    ws.expect(b"\x81\x05Hello");
    let payload: Vec<u8> = (0..=255).collect();
    ws.send(&frame(0x82, &payload));
    let mut expected = vec![0x82, 0x7E, 0x01, 0x00];
    expected.extend_from_slice(&payload);
    ws.expect(&expected);
    let big = vec![7u8; 70_000];
    ws.send(&frame(0x82, &big));
    let mut expected = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70];
    expected.extend_from_slice(&big);
    ws.expect(&expected);
}

#[test]
fn fragments_with_a_ping_between_them() {
    let (server, journal) = start();
    let mut ws = Ws::open(server.addr, "/echo");
    let mut stream = frame(0x01, "κό".as_bytes());
    stream.extend(frame(0x89, b"are you there"));
    stream.extend(frame(0x00, "σ".as_bytes()));
    stream.extend(frame(0x80, "με".as_bytes()));
    ws.send(&stream);
    ws.expect(b"\x8a\x0dare you there");
    let mut text = vec![0x81, 10];
    text.extend_from_slice("κόσμε".as_bytes());
    ws.expect(&text);
    ws.send(&frame(0x88, b"\x03\xe8done"));
    ws.expect(b"\x88\x02\x03\xe8");
    ws.expect_eof();
    assert_eq!(journal.wait_for(1), ["/echo 1000 done"]);
}

#[test]
fn unmasked_frames_fail_with_1002() {
    let (server, journal) = start();
    Ws::open(server.addr, "/echo").expect_failure(b"\x81\x05Hello", 1002, "a client frame that is not masked");
    assert_eq!(journal.wait_for(1), ["/echo 1002 a client frame that is not masked"]);
}

#[test]
fn reserved_bits_unknown_opcodes_and_bad_control_frames_fail_with_1002() {
    let (server, _) = start();
    let reserved = "reserved bits set without an extension that defines them";
    Ws::open(server.addr, "/echo").expect_failure(&frame(0xC1, b"x"), 1002, reserved);
    Ws::open(server.addr, "/echo").expect_failure(&frame(0x91, b"x"), 1002, reserved);
    Ws::open(server.addr, "/echo").expect_failure(&frame(0x83, b"x"), 1002, "an unknown opcode");
    Ws::open(server.addr, "/echo").expect_failure(&frame(0x8B, b"x"), 1002, "an unknown opcode");
    Ws::open(server.addr, "/echo").expect_failure(&frame(0x09, b"x"), 1002, "a fragmented control frame");
    let long_ping = frame(0x89, &[0; 126]);
    Ws::open(server.addr, "/echo").expect_failure(&long_ping, 1002, "a control frame longer than 125 bytes");
    let lone = frame(0x80, b"x");
    Ws::open(server.addr, "/echo").expect_failure(&lone, 1002, "a continuation frame with no message open");
}

#[test]
fn invalid_utf8_fails_with_1007_before_the_message_ends() {
    let (server, journal) = start();
    let mut ws = Ws::open(server.addr, "/echo");
    // A first fragment (FIN clear) whose second byte cannot follow its first.
    ws.expect_failure(&frame(0x01, b"ok\xce\xff"), 1007, "a text message that is not UTF-8");
    assert_eq!(journal.wait_for(1), ["/echo 1007 a text message that is not UTF-8"]);
}

#[test]
fn close_codes_are_validated() {
    let (server, _) = start();
    let cases: [(&[u8], u16, &str); 4] = [
        (b"\x03", 1002, "a close payload of one byte"),
        (b"\x03\xed", 1002, "a close code not allowed on the wire"),
        (b"\x03\xec", 1002, "a close code not allowed on the wire"),
        (b"\x03\xe8\xff", 1007, "a close reason that is not UTF-8"),
    ];
    for (payload, code, reason) in cases {
        Ws::open(server.addr, "/echo").expect_failure(&frame(0x88, payload), code, reason);
    }
    // An empty close is echoed empty; the application hears 1005.
    let mut ws = Ws::open(server.addr, "/echo");
    ws.send(&frame(0x88, b""));
    ws.expect(b"\x88\x00");
    ws.expect_eof();
}

#[test]
fn messages_over_the_size_limit_fail_with_1009() {
    let (server, journal) = start_with(Config { ws_max_size: 1000, ..config() });
    let mut ws = Ws::open(server.addr, "/echo");
    ws.send(&frame(0x02, &[1; 600]));
    // Refused on the second fragment's header: 600 + 401 > 1000.
    let mut header_only = frame(0x80, &[2; 401]);
    header_only.truncate(8);
    ws.expect_failure(&header_only, 1009, "a message larger than the size limit");
    assert_eq!(journal.wait_for(1), ["/echo 1009 a message larger than the size limit"]);
}

#[test]
fn the_application_closes_and_the_server_waits_for_the_echo() {
    let (server, journal) = start();
    let mut ws = Ws::open(server.addr, "/bye");
    ws.expect(b"\x88\x05\x0f\xa0bye");
    ws.send(&frame(0x88, b"\x0f\xa0"));
    ws.expect_eof();
    assert_eq!(journal.wait_for(1), ["/bye 4000 "]);
}

#[test]
fn a_panicking_handler_closes_with_1011() {
    let (server, _) = start();
    let mut ws = Ws::open(server.addr, "/panic");
    ws.expect(b"\x88\x02\x03\xf3");
    ws.send(&frame(0x88, b"\x03\xf3"));
    ws.expect_eof();
}

#[test]
fn a_vanished_client_gives_1006() {
    let (server, journal) = start();
    let ws = Ws::open(server.addr, "/echo");
    drop(ws);
    assert_eq!(journal.wait_for(1), ["/echo 1006 "]);
}

#[test]
fn graceful_shutdown_closes_with_1001() {
    let (server, journal) = start();
    let mut ws = Ws::open(server.addr, "/echo");
    ws.send(&frame(0x81, b"hi"));
    ws.expect(b"\x81\x02hi");
    server.begin_shutdown();
    ws.expect(b"\x88\x16\x03\xe9server shutting down");
    assert_eq!(journal.wait_for(1), ["/echo 1001 server shutting down"]);
    ws.send(&frame(0x88, b"\x03\xe9"));
    ws.expect_eof();
}

#[test]
fn keepalive_pings_and_their_timeout() {
    let config = Config {
        ws_ping_interval: Some(Duration::from_millis(100)),
        ws_ping_timeout: Duration::from_millis(300),
        ..config()
    };
    let (server, journal) = start_with(config);
    let mut ws = Ws::open(server.addr, "/echo");
    ws.expect(b"\x89\x04\0\0\0\x01");
    ws.send(&frame(0x8A, b"\0\0\0\x01"));
    ws.expect(b"\x89\x04\0\0\0\x02");
    // No pong this time: the server gives up on the connection.
    ws.expect(b"\x88\x18\x03\xf3keepalive ping timeout");
    ws.expect_eof();
    assert_eq!(journal.wait_for(1), ["/echo 1006 "]);
}

#[test]
fn a_client_that_does_not_read_holds_the_sender_back() {
    let (server, journal) = start();
    let ws = Ws::open(server.addr, "/flood");
    // The client reads nothing. The application's sends must stall once the socket
    // buffers and the server's bounded write buffer are full — far short of 64 MiB.
    std::thread::sleep(Duration::from_millis(500));
    let reported = journal.entries();
    let last: u64 = reported.last().map_or(0, |e| e.trim_start_matches("flood sent ").parse().unwrap_or(0));
    assert!(last < 64 * 1024, "the application sent {last} KiB into a client that reads nothing");
    drop(ws);
    assert!(journal.wait_for(reported.len() + 1).last().is_some_and(|e| e == "/flood 1006 "));
}

#[test]
fn ws_none_serves_the_upgrade_as_plain_http() {
    let (server, _) = start_with(Config { ws: false, ..config() });
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/echo", ""));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    ws.expect(b"plain http");
}
