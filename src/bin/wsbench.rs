//! The WebSocket benchmark of the comparison harness (`benches/harness`, suite `ws`): one
//! load client that drives every contender the same way, and rasgi's side of the
//! contest.
//!
//! - `wsbench serve --port P` — rasgi serving `/ws/echo` (every message back) and
//!   `/ws/broadcast` (every message to every connected client, through
//!   [`rasgi_executor::sync::broadcast`]);
//! - `wsbench client --url ws://HOST:PORT [--only echo_c1,echo_c64,broadcast_1000]
//!   [--duration S]` — prints one JSON line per measurement:
//!   - `echo_c1`, `echo_c64`: echo round trips per second (a 32-byte text message sent,
//!     its echo awaited, again) over 1 and 64 connections at once;
//!   - `broadcast_1000`: 1,000 clients on `/ws/broadcast`; one of them sends a message and
//!     the clock stops when the last of the 1,000 has received it. The median of 50 such
//!     broadcasts, reported as broadcasts per second (1000 ÷ the median in ms, so that
//!     every row of the suite reads "higher is better") with the median time itself in
//!     `median_ms`.
//!
//! The client is a single-threaded rasgi loop speaking raw frames (masked, as clients
//! must), built on the same frame codec as the server; it is the same program for every
//! server, so its own cost is the same in every row.

use std::cell::Cell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi::app::{App, Received, WebSocket, WebSocketError};
use rasgi_executor::reactor::net::TcpStream;
use rasgi_executor::sync::broadcast::{self, RecvError};
use rasgi_executor::{block_on, join_all, select, spawn, Either};
use rasgi_http::server::{self, Config};
use rasgi_http::ws::frame::{encode_frame, Opcode, Role};
use rasgi_http::ws::message::{Incoming, MessageReader};
use rasgi_http::ws::Message;

/// Broadcasts timed in `broadcast_1000`.
const BROADCASTS: usize = 50;
/// Clients in `broadcast_1000`.
const LISTENERS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("serve") => serve(flag("--port").and_then(|p| p.parse().ok()).unwrap_or(8000)),
        Some("client") => {
            let Some(url) = flag("--url") else { fail("client needs --url ws://HOST:PORT") };
            let Some(addr) = url.strip_prefix("ws://").and_then(|a| a.to_socket_addrs().ok()?.next()) else {
                fail("--url must look like ws://127.0.0.1:8000")
            };
            let seconds: f64 = flag("--duration").and_then(|d| d.parse().ok()).unwrap_or(5.0);
            let only = flag("--only").unwrap_or_else(|| "echo_c1,echo_c64,broadcast_1000".to_owned());
            for measure in only.split(',').filter(|m| !m.is_empty()) {
                let duration = Duration::from_secs_f64(seconds);
                let line = match measure {
                    "echo_c1" | "echo_c64" => {
                        let connections = if measure == "echo_c1" { 1 } else { 64 };
                        let rate = block_on(echo(addr, connections, duration));
                        format!("\"value\":{rate:.1},\"unit\":\"round trips/s\"")
                    }
                    "broadcast_1000" => {
                        let median_ms = block_on(broadcast_time(addr));
                        format!(
                            "\"value\":{:.2},\"unit\":\"broadcasts/s\",\"median_ms\":{median_ms:.3}",
                            1000.0 / median_ms
                        )
                    }
                    other => fail(&format!("unknown measurement {other:?} (echo_c1, echo_c64, broadcast_1000)")),
                };
                println!("{{\"bench\":\"ws\",\"measure\":\"{measure}\",{line}}}");
            }
        }
        _ => fail("usage: wsbench serve --port P | wsbench client --url ws://HOST:PORT [--only ...] [--duration S]"),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("wsbench: {message}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------- the server

fn serve(port: u16) {
    let config = Config { port, access_log: false, ws_ping_interval: None, ..Config::default() };
    let app = || {
        App::new()
            .on_startup(|state| async move {
                state.insert(broadcast::channel::<Rc<str>>(1024));
                Ok(())
            })
            .websocket("/ws/echo", rasgi::chat::echo)
            .websocket("/ws/broadcast", fan_out)
    };
    if let Err(e) = server::run(config, app) {
        fail(&e.to_string());
    }
}

/// `/ws/broadcast`: what a client sends goes to every connected client.
async fn fan_out(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    let Some(hub) = ws.state::<broadcast::Sender<Rc<str>>>() else {
        return ws.close(1011, "no hub").await;
    };
    ws.accept().await?;
    let mut inbox = hub.subscribe();
    loop {
        match select(ws.receive(), inbox.recv()).await {
            Either::Left(Received::Text(text)) => {
                hub.send(Rc::from(text));
            }
            Either::Left(Received::Bytes(_)) => {}
            Either::Left(Received::Disconnect { .. }) => return Ok(()),
            Either::Right(Ok(text)) => ws.send_text(&text).await?,
            Either::Right(Err(RecvError::Lagged(_))) => {}
            Either::Right(Err(RecvError::Closed)) => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------- the client

/// One client connection: the socket, the frame reader, and unread bytes.
struct Client {
    stream: TcpStream,
    reader: MessageReader,
    buf: Vec<u8>,
    start: usize,
}

impl Client {
    async fn connect(addr: SocketAddr, path: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| fail(&format!("connect {addr}: {e}")));
        let _ = stream.set_nodelay(true);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        if let Err(e) = stream.write_all(request.as_bytes()).await {
            fail(&format!("handshake: {e}"));
        }
        let mut client =
            Client { stream, reader: MessageReader::new(Role::Client, 1 << 24), buf: Vec::new(), start: 0 };
        loop {
            if let Some(end) = client.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !client.buf.starts_with(b"HTTP/1.1 101") {
                    fail(&format!("{path}: no 101: {:?}", String::from_utf8_lossy(&client.buf)));
                }
                client.start = end + 4;
                return client;
            }
            client.fill().await;
        }
    }

    async fn fill(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => fail("the server closed a connection during the benchmark"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
        }
    }

    async fn send_text(&self, text: &str) {
        let mut frame = Vec::with_capacity(text.len() + 8);
        encode_frame(&mut frame, Opcode::Text, text.as_bytes(), Some([0x12, 0x34, 0x56, 0x78]));
        if let Err(e) = self.stream.write_all(&frame).await {
            fail(&format!("send: {e}"));
        }
    }

    async fn next_text(&mut self) -> String {
        loop {
            match self.reader.read(&self.buf[self.start..]) {
                Ok((used, item)) => {
                    self.start += used;
                    match item {
                        Some(Incoming::Message(Message::Text(text))) => return text,
                        Some(_) => continue,
                        None => self.fill().await,
                    }
                }
                Err(e) => fail(&format!("bad frame from the server: {}", e.reason)),
            }
        }
    }
}

/// Echo round trips per second over `connections` connections for `duration`.
async fn echo(addr: SocketAddr, connections: usize, duration: Duration) -> f64 {
    let clients = join_all((0..connections).map(|_| Client::connect(addr, "/ws/echo"))).await;
    let total = Rc::new(Cell::new(0u64));
    let message = "0123456789abcdef0123456789abcdef";
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let total = total.clone();
            spawn(async move {
                while Instant::now() < deadline {
                    client.send_text(message).await;
                    let echoed = client.next_text().await;
                    if echoed != message {
                        fail("the echo differs from the message");
                    }
                    total.set(total.get() + 1);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    total.get() as f64 / started.elapsed().as_secs_f64()
}

/// The median time, in milliseconds, for one message to reach all of [`LISTENERS`].
async fn broadcast_time(addr: SocketAddr) -> f64 {
    let mut clients = Vec::with_capacity(LISTENERS);
    // Connect in batches: a thousand SYNs at once overflow a default listen backlog.
    for _ in 0..LISTENERS / 50 {
        clients.extend(join_all((0..50).map(|_| Client::connect(addr, "/ws/broadcast"))).await);
    }
    let mut times = Vec::with_capacity(BROADCASTS);
    let mut sender = clients.remove(0);
    for round in 0..BROADCASTS {
        let message = format!("broadcast {round}");
        let started = Instant::now();
        sender.send_text(&message).await;
        let listeners = async {
            join_all(clients.iter_mut().map(|c| wait_for(c, &message))).await;
        };
        rasgi_executor::join(listeners, wait_for(&mut sender, &message)).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Reads messages until `expected` arrives.
async fn wait_for(client: &mut Client, expected: &str) {
    while client.next_text().await != expected {}
}
