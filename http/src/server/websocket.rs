//! One WebSocket session: the task a connection becomes after `Upgrade: websocket`.
//! uvicorn's counterpart is `WebSocketProtocol` in `uvicorn/protocols/websockets/`.
//!
//! ```text
//!   request head parsed (conn.rs) ── not a valid handshake? ──▶ 400 / 426, close
//!        │
//!        ▼                     app: receive() → websocket.connect
//!   the application answers:   Accept ──▶ 101, frames flow
//!                              Close  ──▶ 403          HttpResponseStart/Body ──▶ that response
//!        │
//!        ▼   one task, two directions at once, in one poll:
//!   ┌──▶ poll the application (its receive() pops the inbox, its send() writes frames)
//!   │    read the socket: decode frames → inbox; answer pings; close handshake
//!   │    flush the write buffer; keepalive ping / pong timeout; server shutdown → 1001
//!   └─── anything new for the application? poll it again; else wait
//! ```
//!
//! The application's future and the socket are polled by the same task, so neither needs
//! a channel to the other: `receive` returns `Pending` on an empty inbox, and the session
//! polls the application again as soon as it has put something there. (A reader task and
//! a writer task joined by channels, as some servers do, would cost two wake-ups per
//! message and a copy into each channel.)
//!
//! Backpressure runs both ways. On send, a frame goes into the connection's write buffer,
//! and once the buffer holds more than its high-water mark `send` waits until the kernel
//! has taken it: a client that reads slowly slows the application, it does not make the
//! server buffer without bound. On receive, the session stops reading the socket while
//! [`MAX_QUEUE`] messages wait for the application, so TCP's window pushes back on the
//! client.
//!
//! permessage-deflate (`ws/deflate.rs`) is agreed at accept time when the client offered
//! it and `--ws-per-message-deflate` is on: the reader then inflates RSV1 messages and
//! `send` compresses every message of at least [`MIN_COMPRESS_SIZE`](crate::ws::deflate::MIN_COMPRESS_SIZE) bytes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rasgi_executor::{log_error, log_info, log_warn, sleep_until, Sleep};

use super::config::Config;
use super::conn::{Conn, WRITE_HIGH_WATER};
use super::encode::reason_phrase;
use super::respond::Sender;
use super::shutdown::ConnectionGuard;
use super::LoopContext;
use crate::asgi::{header, App, Scope, SendEvent, WebSocketReceiveEvent, WebSocketScope, WebSocketSendEvent};
use crate::error::SendError;
use crate::ws::close;
use crate::ws::deflate::MessageDeflater;
use crate::ws::frame::{encode_compressed_frame, encode_frame, Opcode, Role};
use crate::ws::handshake::{self, Handshake};
use crate::ws::message::{Incoming, MessageReader};

/// Messages that may wait for the application before the session stops reading the
/// socket (the `max_queue` of `websockets`).
const MAX_QUEUE: usize = 16;
/// How long the session waits for the client's close frame after sending its own, and
/// for a failing connection's last bytes to leave (the `close_timeout` of `websockets`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// True if the request asks for a WebSocket and the server serves them (`--ws`).
pub(crate) fn wants_upgrade(config: &Config, scope: &Scope) -> bool {
    config.ws && handshake::is_upgrade(scope)
}

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The upgrade request waits for the application's answer.
    Handshake,
    /// The application refuses with its own HTTP response (the denial-response
    /// extension), written through the HTTP response writer.
    Denying,
    /// `101` sent: frames flow both ways.
    Open,
    /// The HTTP answer (403, 500, a denial) is complete; only flushing remains.
    Refused,
}

/// The session's mutable state. Borrowed only inside synchronous steps, never across an
/// `.await`, like the connection's own cells.
struct State {
    /// The handshake's progress.
    phase: Phase,
    /// `websocket.connect` is still owed to the application.
    connect_pending: bool,
    /// The validated handshake: the accept key and the offered subprotocols.
    handshake: Handshake,
    /// Events for the application, oldest first: at most [`MAX_QUEUE`] messages (decoding
    /// stops at the bound) and the one disconnect.
    inbox: VecDeque<WebSocketReceiveEvent>,
    /// The disconnect, once known; `receive` repeats it after the inbox is drained.
    disconnect: Option<(u16, String)>,
    /// Frames to messages.
    reader: MessageReader,
    /// The compressor of outgoing messages: `Some` from the accept on, if
    /// permessage-deflate was agreed.
    deflater: Option<MessageDeflater>,
    /// A close frame is in the write buffer (or on the wire); nothing but pongs may follow,
    /// and not even those.
    close_sent: bool,
    /// The client's close frame arrived, or the connection failed: read no more.
    close_received: bool,
    /// The TCP connection is over (end of stream, reset, or the session gave up on it).
    tcp_done: bool,
    /// The connection failed (a protocol error, a late pong): once the close frame is out
    /// the server sends FIN and discards whatever still arrives until the client's FIN.
    /// Closing outright instead would make the kernel answer unread bytes with a reset,
    /// which can destroy the close frame before the client reads it.
    lingering: bool,
    /// `shutdown(Write)` was called (while lingering).
    write_shut: bool,
    /// When the session stops waiting for the close handshake to finish.
    close_deadline: Option<Instant>,
    /// When the next keepalive ping is due (only while open and no ping is outstanding).
    next_ping: Option<Instant>,
    /// When the outstanding ping's pong must have arrived.
    pong_deadline: Option<Instant>,
    /// Pings sent so far: each ping's payload, so a pong can be told apart in a capture.
    pings: u32,
}

/// The session: the connection, the settings, the state.
pub(crate) struct Session<'c> {
    /// The upgraded connection (its buffers and socket).
    conn: &'c Conn,
    /// `--ws-*` settings.
    config: &'c Config,
    /// Everything that changes.
    state: RefCell<State>,
}

/// The application's handle on one WebSocket: ASGI's `receive` and `send` for the
/// `websocket` scope.
///
/// Pure ASGI-like middleware wraps it with [`WebSocketChannel::wrap`] to see (and change)
/// each event on its way out, as [`crate::Sender::wrap`] does for HTTP.
pub struct WebSocketChannel<'a> {
    /// The session the events go to.
    session: &'a Session<'a>,
    /// A middleware's event transform and the channel it wraps.
    layer: Option<WsLayer<'a>>,
}

/// One middleware's wrapping of a [`WebSocketChannel`].
type WsLayer<'a> = (&'a dyn Fn(&mut WebSocketSendEvent<'_>), &'a WebSocketChannel<'a>);

impl<'a> WebSocketChannel<'a> {
    /// A channel that passes every sent event through `transform` first.
    pub fn wrap(&'a self, transform: &'a dyn Fn(&mut WebSocketSendEvent<'_>)) -> WebSocketChannel<'a> {
        WebSocketChannel { session: self.session, layer: Some((transform, self)) }
    }

    /// The next event: `Connect` first, then messages, then one `Disconnect` (repeated
    /// if asked again).
    pub async fn receive(&self) -> WebSocketReceiveEvent {
        poll_fn(|_| self.session.poll_receive()).await
    }

    /// Sends one event. Waits while the client is slow to read.
    pub async fn send(&self, mut event: WebSocketSendEvent<'_>) -> Result<(), SendError> {
        let mut channel = self;
        while let Some((transform, outer)) = channel.layer {
            transform(&mut event);
            channel = outer;
        }
        let session = self.session;
        let conn = session.conn;
        let flush = match event {
            // The denial response goes through the HTTP response writer: same framing,
            // same `date` and `server` headers as any other response.
            WebSocketSendEvent::HttpResponseStart { status, headers } => {
                session.begin_denial()?;
                Sender::new(conn).send(SendEvent::Start { status, headers, trailers: false }).await?;
                false
            }
            WebSocketSendEvent::HttpResponseBody { body, more_body } => {
                if session.state.borrow().phase != Phase::Denying {
                    return Err(SendError::OutOfOrder("send HttpResponseStart before HttpResponseBody"));
                }
                Sender::new(conn).send(SendEvent::Body { body, more_body }).await?;
                if !more_body {
                    session.state.borrow_mut().phase = Phase::Refused;
                }
                true
            }
            other => session.apply(other)?,
        };
        // Above the high-water mark, wait for the kernel to take the bytes: this is the
        // backpressure a slow reader puts on the application.
        if flush && conn.wbuf.borrow().len() >= WRITE_HIGH_WATER && poll_fn(|cx| conn.poll_flush(cx)).await.is_err() {
            session.tcp_gone();
            return Err(SendError::Disconnected);
        }
        Ok(())
    }
}

impl<'c> Session<'c> {
    fn new(conn: &'c Conn, config: &'c Config, handshake: Handshake) -> Session<'c> {
        Session {
            conn,
            config,
            state: RefCell::new(State {
                phase: Phase::Handshake,
                connect_pending: true,
                handshake,
                inbox: VecDeque::new(),
                disconnect: None,
                reader: MessageReader::new(Role::Server, config.ws_max_size),
                deflater: None,
                close_sent: false,
                close_received: false,
                tcp_done: false,
                lingering: false,
                write_shut: false,
                close_deadline: None,
                next_ping: None,
                pong_deadline: None,
                pings: 0,
            }),
        }
    }

    fn poll_receive(&self) -> Poll<WebSocketReceiveEvent> {
        let mut st = self.state.borrow_mut();
        if std::mem::take(&mut st.connect_pending) {
            return Poll::Ready(WebSocketReceiveEvent::Connect);
        }
        if let Some(event) = st.inbox.pop_front() {
            return Poll::Ready(event);
        }
        match &st.disconnect {
            Some((code, reason)) => {
                Poll::Ready(WebSocketReceiveEvent::Disconnect { code: *code, reason: reason.clone() })
            }
            // No waker to register: the session task polls the application again right
            // after it puts an event in the inbox.
            None => Poll::Pending,
        }
    }

    fn begin_denial(&self) -> Result<(), SendError> {
        let mut st = self.state.borrow_mut();
        match st.phase {
            Phase::Handshake => {
                st.phase = Phase::Denying;
                Ok(())
            }
            _ => Err(SendError::OutOfOrder("a denial response is only possible before Accept")),
        }
    }

    /// Applies an accept, a message or a close; returns whether the write buffer should
    /// be flushed before `send` returns.
    fn apply(&self, event: WebSocketSendEvent<'_>) -> Result<bool, SendError> {
        let mut st = self.state.borrow_mut();
        if st.tcp_done {
            return Err(SendError::Disconnected);
        }
        let mut wbuf = self.conn.wbuf.borrow_mut();
        match (st.phase, event) {
            (Phase::Handshake, WebSocketSendEvent::Accept { subprotocol, headers }) => {
                if let Some(chosen) = &subprotocol {
                    if !st.handshake.subprotocols.contains(chosen) {
                        return Err(SendError::InvalidHeader(format!(
                            "sec-websocket-protocol: {chosen} (the client did not offer it)"
                        )));
                    }
                }
                for (name, value) in &headers {
                    let name_ok = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !name_ok || value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
                        return Err(SendError::InvalidHeader(format!("{name}: {}", String::from_utf8_lossy(value))));
                    }
                }
                let agreed = st.handshake.deflate.filter(|_| self.config.ws_per_message_deflate);
                let extensions = agreed.map(|a| a.response());
                handshake::write_accept(
                    &mut wbuf,
                    &st.handshake.accept,
                    subprotocol.as_deref(),
                    extensions.as_deref(),
                    &headers,
                );
                if let Some(agreed) = agreed {
                    st.reader.enable_deflate(agreed.inflater());
                    st.deflater = Some(agreed.deflater());
                }
                st.phase = Phase::Open;
                st.next_ping = self.config.ws_ping_interval.map(|every| Instant::now() + every);
                Ok(true)
            }
            (Phase::Handshake, WebSocketSendEvent::Close { .. }) => {
                drop(wbuf);
                st.phase = Phase::Refused;
                let mut response = self.conn.response.borrow_mut();
                response.write_error(self.conn, 403, "the application refused the WebSocket connection");
                Ok(true)
            }
            (Phase::Handshake, _) => Err(SendError::OutOfOrder("accept the WebSocket before sending on it")),
            (Phase::Open, WebSocketSendEvent::Accept { .. }) => {
                Err(SendError::OutOfOrder("the WebSocket is already accepted"))
            }
            // After a close frame nothing may follow (RFC 6455 §5.5.1).
            (Phase::Open, _) if st.close_sent => Err(SendError::Disconnected),
            (Phase::Open, WebSocketSendEvent::Text(text)) => {
                encode_message(st.deflater.as_mut(), &mut wbuf, Opcode::Text, text.as_bytes());
                Ok(true)
            }
            (Phase::Open, WebSocketSendEvent::Bytes(bytes)) => {
                encode_message(st.deflater.as_mut(), &mut wbuf, Opcode::Binary, bytes);
                Ok(true)
            }
            (Phase::Open, WebSocketSendEvent::Close { code, reason }) => {
                encode_frame(&mut wbuf, Opcode::Close, &close::encode(code, &reason), None);
                st.close_sent = true;
                st.close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                Ok(true)
            }
            (Phase::Open, _) => Err(SendError::OutOfOrder("a denial response is only possible before Accept")),
            (Phase::Denying | Phase::Refused, _) => {
                Err(SendError::OutOfOrder("the handshake was refused; the WebSocket never opened"))
            }
        }
    }

    /// The TCP connection is gone: the application hears 1006 (unless it heard of the
    /// end already).
    fn tcp_gone(&self) {
        let mut st = self.state.borrow_mut();
        st.tcp_done = true;
        push_disconnect(&mut st, close::ABNORMAL, "");
    }

    /// The application returned (or failed, or panicked): finish whatever it left open.
    fn app_finished(&self, outcome: &Result<(), String>, path: &str) {
        let mut st = self.state.borrow_mut();
        match (st.phase, outcome) {
            (Phase::Handshake, result) => {
                match result {
                    Ok(()) => log_error!("WebSocket {path}: the application returned without accepting or closing"),
                    Err(msg) => log_error!("WebSocket {path}: {msg}"),
                }
                st.phase = Phase::Refused;
                drop(st);
                self.conn.response.borrow_mut().write_error(self.conn, 500, "Internal Server Error");
            }
            (Phase::Denying, result) => {
                if let Err(msg) = result {
                    log_error!("WebSocket {path}: {msg}");
                }
                // An unfinished denial response cannot be completed; closing ends it.
                st.phase = Phase::Refused;
            }
            (Phase::Open, result) => {
                let code = match result {
                    Err(msg) if !st.tcp_done => {
                        log_error!("WebSocket {path}: {msg}");
                        close::INTERNAL_ERROR
                    }
                    Err(msg) => {
                        log_warn!("WebSocket {path}: {msg} (client disconnected)");
                        close::NORMAL
                    }
                    Ok(()) => close::NORMAL,
                };
                if !st.close_sent && !st.tcp_done {
                    encode_frame(&mut self.conn.wbuf.borrow_mut(), Opcode::Close, &close::encode(code, ""), None);
                    st.close_sent = true;
                    st.close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            }
            (Phase::Refused, Err(msg)) => log_error!("WebSocket {path}: {msg}"),
            (Phase::Refused, Ok(())) => {}
        }
    }

    /// True once nothing more will happen on the wire.
    fn is_finished(&self) -> bool {
        self.state.borrow().tcp_done
    }

    /// One round of socket work: shutdown, reading and decoding, timers, flushing, and
    /// deciding that the connection is over. Returns true if the application has new
    /// events to see.
    fn poll_io(&self, cx: &mut Context<'_>, guard: &ConnectionGuard, timer: &mut Option<Sleep>) -> bool {
        let mut delivered = false;
        loop {
            let mut st = self.state.borrow_mut();
            if st.tcp_done {
                return delivered;
            }
            let before = st.inbox.len();
            let now = Instant::now();

            // 1. Server shutdown: close with 1001 and tell the application at once.
            if st.phase == Phase::Open && !st.close_sent && guard.poll_stopping(cx).is_ready() {
                self.write_close(&mut st, close::GOING_AWAY, "server shutting down");
                push_disconnect(&mut st, close::GOING_AWAY, "server shutting down");
            }

            // 2. Read and decode, while the application keeps up.
            self.read_frames(cx, &mut st);

            // 3. Keepalive: a ping when one is due, failure when its pong is late.
            if st.phase == Phase::Open && !st.close_sent {
                if st.pong_deadline.is_some_and(|d| d <= now) {
                    st.pong_deadline = None;
                    log_info!("WebSocket closed: no pong within {:?}", self.config.ws_ping_timeout);
                    self.write_close(&mut st, close::INTERNAL_ERROR, "keepalive ping timeout");
                    push_disconnect(&mut st, close::ABNORMAL, "");
                    st.lingering = true;
                } else if st.next_ping.is_some_and(|d| d <= now) {
                    st.pings = st.pings.wrapping_add(1);
                    let payload = st.pings.to_be_bytes();
                    encode_frame(&mut self.conn.wbuf.borrow_mut(), Opcode::Ping, &payload, None);
                    st.next_ping = None;
                    st.pong_deadline = Some(now + self.config.ws_ping_timeout);
                }
            }
            if st.close_deadline.is_some_and(|d| d <= now) {
                st.tcp_done = true;
                push_disconnect(&mut st, close::ABNORMAL, "");
                return true;
            }

            // 4. Flush what the application, the pongs and the pings wrote.
            let flushed = match self.conn.poll_flush(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(_)) => {
                    st.tcp_done = true;
                    push_disconnect(&mut st, close::ABNORMAL, "");
                    return true;
                }
                Poll::Pending => false,
            };

            // 5. Over? A refused handshake once its answer is out; an open one once both
            //    close frames have crossed (the server closes TCP first, RFC 6455 §7.1.1).
            if st.lingering && flushed && !st.write_shut {
                let _ = self.conn.stream.shutdown(std::net::Shutdown::Write);
                st.write_shut = true;
            }
            let over = match st.phase {
                Phase::Refused => flushed,
                Phase::Open => flushed && st.close_sent && st.close_received && !st.lingering,
                Phase::Handshake | Phase::Denying => false,
            };
            if over {
                let _ = self.conn.stream.shutdown(std::net::Shutdown::Write);
                st.tcp_done = true;
                push_disconnect(&mut st, close::ABNORMAL, "");
            }
            delivered |= st.inbox.len() > before;

            // 6. Arm the timer for the earliest deadline; an expired one means another round.
            let keepalive = st.phase == Phase::Open && !st.close_sent;
            let pings = [st.next_ping, st.pong_deadline].into_iter().filter(|_| keepalive);
            let deadline = pings.chain([st.close_deadline]).flatten().min();
            drop(st);
            if let Some(deadline) = deadline {
                let timer = match timer {
                    Some(t) => {
                        if t.deadline() != deadline {
                            t.reset(deadline);
                        }
                        t
                    }
                    None => timer.insert(sleep_until(deadline)),
                };
                if Pin::new(timer).poll(cx).is_ready() {
                    continue;
                }
            }
            return delivered;
        }
    }

    /// Reads and decodes until the socket has nothing more, the inbox is full, or the
    /// reading is over.
    fn read_frames(&self, cx: &mut Context<'_>, st: &mut State) {
        loop {
            if st.lingering {
                let mut rbuf = self.conn.rbuf.borrow_mut();
                let all = rbuf.len();
                rbuf.consume(all);
            } else if st.phase == Phase::Open && !st.close_received {
                let mut rbuf = self.conn.rbuf.borrow_mut();
                while st.inbox.len() < MAX_QUEUE && !st.close_received && !rbuf.is_empty() {
                    match st.reader.read(rbuf.filled()) {
                        Ok((used, item)) => {
                            rbuf.consume(used);
                            match item {
                                Some(item) => self.on_incoming(st, item),
                                None => break,
                            }
                        }
                        Err(failure) => {
                            log_info!("WebSocket failed ({}): {}", failure.code, failure.reason);
                            self.write_close(st, failure.code, failure.reason);
                            push_disconnect(st, failure.code, failure.reason);
                            st.lingering = true;
                            break;
                        }
                    }
                }
            }
            // Stop reading once the application lags (TCP then slows the client), once
            // the client has closed, or before the handshake is answered (only a
            // disconnect matters then, and a full buffer must not spin).
            let can_read = match st.phase {
                Phase::Open if st.lingering => true,
                Phase::Open => st.inbox.len() < MAX_QUEUE && !st.close_received,
                Phase::Handshake | Phase::Denying => !self.conn.rbuf.borrow().is_full(),
                Phase::Refused => false,
            };
            if !can_read {
                return;
            }
            match self.conn.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    st.tcp_done = true;
                    push_disconnect(st, close::ABNORMAL, "");
                    return;
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => return,
            }
        }
    }

    fn on_incoming(&self, st: &mut State, item: Incoming) {
        match item {
            // Data after our close frame is discarded (RFC 6455 §1.4).
            Incoming::Message(message) if !st.close_sent => {
                st.inbox.push_back(WebSocketReceiveEvent::Receive(message));
            }
            Incoming::Message(_) => {}
            Incoming::Ping(payload) if !st.close_sent => {
                encode_frame(&mut self.conn.wbuf.borrow_mut(), Opcode::Pong, &payload, None);
            }
            Incoming::Ping(_) => {}
            Incoming::Pong(_) => {
                if st.pong_deadline.take().is_some() {
                    st.next_ping = self.config.ws_ping_interval.map(|every| Instant::now() + every);
                }
            }
            Incoming::Close(payload) => {
                st.close_received = true;
                if !st.close_sent {
                    // Echo the code (without the reason), as RFC 6455 §5.5.1 suggests.
                    let echo = close::encode(payload.code, "");
                    encode_frame(&mut self.conn.wbuf.borrow_mut(), Opcode::Close, &echo, None);
                    st.close_sent = true;
                    st.close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
                push_disconnect(st, payload.code, &payload.reason);
            }
        }
    }

    fn write_close(&self, st: &mut State, code: u16, reason: &str) {
        if !st.close_sent {
            encode_frame(&mut self.conn.wbuf.borrow_mut(), Opcode::Close, &close::encode(code, reason), None);
            st.close_sent = true;
        }
        st.close_deadline = Some(st.close_deadline.unwrap_or_else(|| Instant::now() + CLOSE_TIMEOUT));
    }
}

/// Appends one data message as a single frame, compressed if permessage-deflate is on
/// and the message is long enough to gain from it.
fn encode_message(deflater: Option<&mut MessageDeflater>, out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    match deflater {
        Some(deflater) if deflater.wants(payload.len()) => {
            let mut packed = Vec::new();
            deflater.compress(payload, &mut packed);
            encode_compressed_frame(out, opcode, &packed);
        }
        _ => encode_frame(out, opcode, payload, None),
    }
}

/// Queues the one `websocket.disconnect` the application gets.
fn push_disconnect(st: &mut State, code: u16, reason: &str) {
    if st.disconnect.is_none() {
        st.disconnect = Some((code, reason.to_owned()));
        st.inbox.push_back(WebSocketReceiveEvent::Disconnect { code, reason: reason.to_owned() });
    }
}

/// Serves an upgrade request on `conn` until the WebSocket is closed. The caller has
/// parsed the head and checked [`wants_upgrade`]; the connection ends after this.
pub(crate) async fn serve<A: App>(ctx: &LoopContext<A>, conn: &Conn, scope: &Scope, peer: Option<SocketAddr>) {
    let guard = &conn.guard;
    let peer = super::socket::PeerName(peer);
    // Whatever HTTP answer this request gets (a refusal, a denial), it is the last.
    conn.response.borrow_mut().force_close();
    let access_log = ctx.config.access_log;
    let path = scope.path();
    let handshake = match handshake::validate(scope) {
        Ok(handshake) => handshake,
        Err(refusal) => {
            log_info!("{peer} - \"WebSocket {path}\" {}: {}", refusal.status, refusal.reason);
            let body = format!("{} {}: {}\n", refusal.status, reason_phrase(refusal.status), refusal.reason);
            let mut headers = vec![header("content-type", "text/plain; charset=utf-8")];
            if refusal.status == 426 {
                headers.push(header("sec-websocket-version", "13"));
            }
            let _ = Sender::new(conn).respond(refusal.status, headers, body.as_bytes()).await;
            let _ = conn.flush().await;
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            return;
        }
    };
    let ws_scope = WebSocketScope::new(scope.clone(), handshake.subprotocols.clone());
    let session = Session::new(conn, &ctx.config, handshake);
    let channel = WebSocketChannel { session: &session, layer: None };
    let mut app = pin!(ctx.app.websocket(&ws_scope, &channel));
    let mut outcome: Option<Result<(), String>> = None;
    let mut logged = false;
    let mut timer: Option<Sleep> = None;
    poll_fn(|cx| loop {
        if outcome.is_none() {
            // A panicking handler closes its socket with 1011 (or gets a 500 before
            // accepting) instead of taking the loop down.
            let polled = match rasgi_executor::catch(|| app.as_mut().poll(cx)) {
                Ok(Poll::Ready(result)) => Some(result.map_err(|e| e.message)),
                Ok(Poll::Pending) => None,
                Err(panic) => Some(Err(format!("the application {panic}"))),
            };
            if let Some(result) = polled {
                session.app_finished(&result, path);
                outcome = Some(result);
            }
        }
        let phase = session.state.borrow().phase;
        if access_log && !logged && phase != Phase::Handshake {
            let verdict = if phase == Phase::Open { "accepted" } else { "refused" };
            log_info!("{peer} - \"WebSocket {path}\" [{verdict}]");
            logged = true;
        }
        let delivered = session.poll_io(cx, guard, &mut timer);
        if session.is_finished() && outcome.is_some() {
            return Poll::Ready(());
        }
        if !(delivered && outcome.is_none()) {
            return Poll::Pending;
        }
    })
    .await;
}
