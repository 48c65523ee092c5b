//! The app layer's WebSocket routes through a real server socket: `App::websocket` with
//! path and query parameters, JSON both ways, `close(code, reason)`, a refusal before
//! accept, the 403 for a path no route matches, pure middleware on the `101`, and the
//! session's task named after its route in the live view and in slow-poll warnings.

mod server_support;
mod ws_support;

use std::time::Duration;

use rasgi::app::{App, Received, WebSocket, WebSocketError};
use rasgi_http::header;
use rasgi_http::middleware::DefaultHeaders;
use serde::Deserialize;
use serde_json::{json, Value};
use server_support::{config, eventually, exchange, TestServer};
use ws_support::{frame, upgrade, Ws};

#[derive(Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

/// `/ws/games/{id}?player=NAME`: greets in JSON, then answers each `{"x","y"}` move with
/// the sum; `{"quit":true}` is answered with close 4000 and the player's name.
async fn game(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    let id: u32 = ws.path_param("id")?;
    let player: Option<String> = ws.query_opt("player")?;
    let Some(player) = player else { return ws.close(1008, "who are you?").await };
    ws.accept().await?;
    ws.send_json(&json!({ "game": id, "player": player })).await?;
    loop {
        let value: Value = ws.receive_json().await?;
        if value["quit"] == true {
            return ws.close(4000, &format!("bye {player}")).await;
        }
        let step: Move = serde_json::from_value(value).map_err(WebSocketError::Json)?;
        ws.send_json(&json!({ "sum": step.x + step.y })).await?;
    }
}

/// `/ws/slow`: blocks the loop for 150 ms per message (the anti-pattern, on purpose),
/// then echoes it.
async fn slow(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    ws.accept().await?;
    loop {
        match ws.receive().await {
            Received::Text(text) => {
                std::thread::sleep(Duration::from_millis(150));
                ws.send_text(&text).await?;
            }
            Received::Bytes(_) => {}
            Received::Disconnect { .. } => return Ok(()),
        }
    }
}

fn app() -> App {
    let app = App::new().websocket("/ws/games/{id}", game).websocket("/ws/slow", slow);
    rasgi::loopview::mount(rasgi::chat::mount(app))
}

fn start() -> TestServer {
    TestServer::start(rasgi_http::server::Config { slow_poll_ms: Some(50), ..config() }, app)
}

#[test]
fn path_and_query_parameters_and_json_both_ways() {
    let server = start();
    let mut ws = Ws::open(server.addr, "/ws/games/7?player=ada");
    assert_eq!(ws.read_text(), r#"{"game":7,"player":"ada"}"#);
    ws.send(&frame(0x81, br#"{"x": 2, "y": 40}"#));
    assert_eq!(ws.read_text(), r#"{"sum":42}"#);
    ws.send(&frame(0x81, br#"{"quit": true}"#));
    ws.expect(b"\x88\x09\x0f\xa0bye ada");
    ws.send(&frame(0x88, b"\x0f\xa0"));
    ws.expect_eof();
}

#[test]
fn a_handler_that_fails_closes_with_1011() {
    let server = start();
    let mut ws = Ws::open(server.addr, "/ws/games/7?player=ada");
    ws.read_text();
    ws.send(&frame(0x81, b"not json"));
    ws.expect(b"\x88\x02\x03\xf3");
}

#[test]
fn refusals_before_accept() {
    let server = start();
    for path in ["/ws/games/7", "/ws/games/not-a-number?player=ada", "/ws/nowhere"] {
        let (mut ws, head) = Ws::handshake(server.addr, &upgrade(path, ""));
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n") || head.starts_with("HTTP/1.1 500 "), "{path}: {head}");
        let expected_403 = path != "/ws/games/not-a-number?player=ada";
        assert_eq!(head.starts_with("HTTP/1.1 403 "), expected_403, "{path}: {head}");
        let rest = String::from_utf8(ws.read_to_end()).expect("a text body");
        let body = if expected_403 {
            "403 Forbidden: the application refused the WebSocket connection\n"
        } else {
            "500 Internal Server Error: Internal Server Error\n"
        };
        assert_eq!(rest, body, "{path}");
    }
}

#[test]
fn pure_middleware_wraps_websocket_apps() {
    let server = TestServer::start(config(), || DefaultHeaders::new(app(), vec![header("x-served-by", "rasgi-test")]));
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/ws/echo", ""));
    assert!(
        head.ends_with("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nx-served-by: rasgi-test\r\n\r\n"),
        "{head}"
    );
    ws.send(&frame(0x81, b"through the middleware"));
    assert_eq!(ws.read_text(), "through the middleware");
}

#[test]
fn sessions_are_named_after_their_route() {
    let server = start();
    let mut room = Ws::open(server.addr, "/ws/chat/kitchen");
    assert_eq!(room.read_text(), r#"{"event":"joined","member":1}"#);
    let mut slow_ws = Ws::open(server.addr, "/ws/slow");
    slow_ws.send(&frame(0x81, b"take your time"));
    assert_eq!(slow_ws.read_text(), "take your time");
    let state = || -> Value {
        let reply = exchange(server.addr, "GET /_rasgi/state HTTP/1.1\r\nHost: x\r\n\r\n");
        serde_json::from_str(&reply.text()).expect("the state is JSON")
    };
    let names = |s: &Value| -> Vec<String> {
        s["tasks"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
    };
    assert!(
        eventually(Duration::from_secs(5), || names(&state()).iter().any(|n| n == "WS /ws/chat/{room}")),
        "{:?}",
        names(&state())
    );
    let warnings = state()["warnings"].to_string();
    assert!(warnings.contains("slow poll: task 'WS /ws/slow'"), "{warnings}");
}
