//! The request side of the contract: `await receive()`.
//!
//! [`Receive::receive`] hands the application the request body piece by piece as
//! `http.request` events, straight from the connection's read buffer, reading the
//! socket only when the buffer runs dry. So a large upload is never held whole in
//! memory unless the application collects it. After the last piece, `receive` waits
//! until the client disconnects (or returns at once if the response is already sent).
//!
//! A body that stops arriving is cut off: after `--timeout-body` without a byte, the
//! application sees `http.disconnect` and the client gets 408 (see `stall.rs`).

use std::future::poll_fn;
use std::task::{Context, Poll};

use rasgi_executor::log_info;

use super::buffer::ReadBuf;
use super::conn::Conn;
use crate::asgi::ReceiveEvent;
use crate::chunked::ChunkedDecoder;
use crate::head::{BodyFraming, HeadInfo, Reject};

/// The application's handle for reading the request; ASGI's `receive` callable.
pub struct Receive<'a> {
    conn: &'a Conn,
}

/// Where the request body stands.
#[derive(Debug, Default)]
pub(crate) enum BodyState {
    /// No request in progress (between requests).
    #[default]
    Idle,
    /// Body bytes still to come.
    Reading {
        /// How the remaining body is framed.
        framing: Remaining,
        /// Bytes delivered to the application so far (checked against the limit).
        delivered: u64,
        /// `Expect: 100-continue` was sent and not yet answered.
        expect_continue: bool,
    },
    /// The last `http.request` event was delivered (or is due, for an empty body:
    /// `pending_final` says the single empty event was not yet sent).
    Done {
        /// An empty final event is still owed to the application.
        pending_final: bool,
    },
    /// The body was refused part-way; the application saw `http.disconnect`.
    Rejected(Reject),
}

/// The framing left to read.
#[derive(Debug)]
pub(crate) enum Remaining {
    /// This many bytes.
    Length(u64),
    /// A chunked body in progress.
    Chunked(ChunkedDecoder),
}

impl BodyState {
    /// Prepares for a new request's body.
    pub(crate) fn start(&mut self, info: &HeadInfo) {
        *self = match info.body {
            BodyFraming::Empty => BodyState::Done { pending_final: true },
            BodyFraming::Length(n) => BodyState::Reading {
                framing: Remaining::Length(n),
                delivered: 0,
                expect_continue: info.expect_continue,
            },
            BodyFraming::Chunked => BodyState::Reading {
                framing: Remaining::Chunked(ChunkedDecoder::new()),
                delivered: 0,
                expect_continue: info.expect_continue,
            },
        };
    }

    /// True once the whole body was delivered (or refused).
    pub(crate) fn is_done(&self) -> bool {
        !matches!(self, BodyState::Reading { .. })
    }

    /// The status for a body that was refused part-way.
    pub(crate) fn rejection(&self) -> Option<Reject> {
        match self {
            BodyState::Rejected(r) => Some(*r),
            _ => None,
        }
    }

    /// After the response: if the application left body bytes unread, skip them if they
    /// are all in the buffer already. Returns false if the connection cannot be reused
    /// (the rest of the body is still on the wire, or it was refused).
    pub(crate) fn skip_buffered_rest(&mut self, rbuf: &mut ReadBuf) -> bool {
        let finished = match self {
            BodyState::Idle | BodyState::Done { .. } => true,
            BodyState::Rejected(_) => false,
            BodyState::Reading { framing: Remaining::Length(left), .. } => {
                let buffered = rbuf.len() as u64;
                if buffered >= *left {
                    rbuf.consume(*left as usize);
                    true
                } else {
                    false
                }
            }
            BodyState::Reading { framing: Remaining::Chunked(decoder), .. } => loop {
                match decoder.decode(rbuf.filled()) {
                    Ok(d) if d.done => {
                        rbuf.consume(d.consumed);
                        break true;
                    }
                    Ok(d) if d.consumed > 0 => rbuf.consume(d.consumed),
                    _ => break false,
                }
            },
        };
        *self = BodyState::Idle;
        finished
    }
}

impl<'a> Receive<'a> {
    pub(crate) fn new(conn: &'a Conn) -> Receive<'a> {
        Receive { conn }
    }

    /// The next event: a piece of body (`http.request`) or `http.disconnect`.
    pub async fn receive(&self) -> ReceiveEvent {
        poll_fn(|cx| self.poll_receive(cx)).await
    }

    /// Collects the whole body, up to `limit` bytes. Returns `None` if the client
    /// disconnected, the body was malformed, or it exceeded `limit`.
    pub async fn body(&self, limit: usize) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            match self.receive().await {
                ReceiveEvent::Request { body: piece, more_body } => {
                    if body.len() + piece.len() > limit {
                        return None;
                    }
                    if body.is_empty() {
                        body = piece;
                    } else {
                        body.extend_from_slice(&piece);
                    }
                    if !more_body {
                        return Some(body);
                    }
                }
                ReceiveEvent::Disconnect => return None,
            }
        }
    }

    fn poll_receive(&self, cx: &mut Context<'_>) -> Poll<ReceiveEvent> {
        let conn = self.conn;
        loop {
            let mut body = conn.body.borrow_mut();
            match &mut *body {
                BodyState::Done { pending_final: true } => {
                    *body = BodyState::Done { pending_final: false };
                    return Poll::Ready(ReceiveEvent::Request { body: Vec::new(), more_body: false });
                }
                BodyState::Idle | BodyState::Done { .. } | BodyState::Rejected(_) => {
                    drop(body);
                    // Body finished: `receive` now means "wait for the disconnect".
                    if conn.response.borrow().is_done() {
                        return Poll::Ready(ReceiveEvent::Disconnect);
                    }
                    return conn.poll_disconnect(cx).map(|()| ReceiveEvent::Disconnect);
                }
                BodyState::Reading { framing, delivered, expect_continue } => {
                    if *expect_continue {
                        // The client is holding the body back until we say go.
                        *expect_continue = false;
                        // Allowed until the final response's head is on the wire (an
                        // application may send Start first: the head waits for the body).
                        if !conn.response.borrow().head_written() {
                            conn.wbuf.borrow_mut().extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                    }
                    let mut rbuf = conn.rbuf.borrow_mut();
                    let step = take_body(framing, &mut rbuf);
                    match step {
                        Err(reject) => {
                            *body = BodyState::Rejected(reject);
                            return Poll::Ready(ReceiveEvent::Disconnect);
                        }
                        Ok(Some((piece, more_body))) => {
                            *delivered += piece.len() as u64;
                            if *delivered > conn.max_body {
                                *body = BodyState::Rejected(Reject { status: 413, reason: "request body too large" });
                                return Poll::Ready(ReceiveEvent::Disconnect);
                            }
                            if !more_body {
                                *body = BodyState::Done { pending_final: false };
                            }
                            return Poll::Ready(ReceiveEvent::Request { body: piece, more_body });
                        }
                        Ok(None) => {}
                    }
                }
            }
            drop(body);
            // Nothing buffered: send anything pending (a `100 Continue`), then read.
            if std::task::ready!(conn.poll_flush(cx)).is_err() {
                return Poll::Ready(ReceiveEvent::Disconnect);
            }
            match conn.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    conn.disconnected.set(true);
                    return Poll::Ready(ReceiveEvent::Disconnect);
                }
                Poll::Ready(Ok(_)) => conn.body_stall.borrow_mut().disarm(),
                Poll::Pending => {
                    // The body has started and the client has gone quiet: the clock
                    // runs from this wait until bytes come (`stall.rs`).
                    let mut stall = conn.body_stall.borrow_mut();
                    if stall.poll_stalled(cx, false).is_pending() {
                        return Poll::Pending;
                    }
                    let peer = super::socket::PeerName(conn.peer);
                    log_info!("{peer} - the request body stalled for {:?}: 408", stall.limit());
                    *conn.body.borrow_mut() =
                        BodyState::Rejected(Reject { status: 408, reason: "request body not received in time" });
                    return Poll::Ready(ReceiveEvent::Disconnect);
                }
            }
        }
    }
}

/// Takes the body bytes available in the buffer: `Ok(None)` if none are buffered yet,
/// `Ok(Some((bytes, more_body)))` otherwise.
fn take_body(framing: &mut Remaining, rbuf: &mut ReadBuf) -> Result<Option<(Vec<u8>, bool)>, Reject> {
    match framing {
        Remaining::Length(left) => {
            let n = (*left).min(rbuf.len() as u64) as usize;
            if n == 0 {
                return Ok(None);
            }
            let piece = rbuf.filled()[..n].to_vec();
            rbuf.consume(n);
            *left -= n as u64;
            Ok(Some((piece, *left > 0)))
        }
        Remaining::Chunked(decoder) => {
            // Gather every data run that is already buffered into one event.
            let mut piece = Vec::new();
            loop {
                let decoded = decoder.decode(rbuf.filled()).map_err(|e| Reject { status: 400, reason: e.0 })?;
                piece.extend_from_slice(&rbuf.filled()[decoded.data.clone()]);
                rbuf.consume(decoded.consumed);
                if decoded.done {
                    return Ok(Some((piece, false)));
                }
                if decoded.consumed == 0 {
                    return Ok(if piece.is_empty() { None } else { Some((piece, true)) });
                }
            }
        }
    }
}
