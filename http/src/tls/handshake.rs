//! The TLS handshake as a hand-written future: what `await loop.start_tls(...)` (or httpx's
//! `stream.start_tls(ssl_context, server_hostname=...)`) does under the hood.
//!
//! A TLS 1.3 handshake is two flights, and the future alternates between sending and
//! receiving until rustls says it is done:
//!
//! ```text
//!  Start ─▶ Sending ─(ClientHello sent)─▶ Receiving ─(ServerHello … Finished)─▶ Sending ─(Finished sent)─▶ TlsStream
//!              ▲                              │
//!              └──── rustls has a reply ──────┘   (TLS 1.2 takes one more round trip)
//! ```
//!
//! rustls decides *what* to send and whether the handshake is complete; this future only
//! decides *when* the socket can take or give bytes. The server's certificate is checked
//! inside `process_new_packets`, when its Certificate message arrives: against the trust
//! roots, and against the host name we are connecting to (the same name is sent as SNI, so
//! a server with several certificates picks the right one).
//!
//! **A plain-HTTP port.** An `https://` URL pointed at a port that speaks plain HTTP is a
//! common mistake, and rustls can only say that the reply is not a TLS record ("corrupt
//! message"). The handshake keeps the first bytes the server sent; if they read `HTTP/`,
//! the server answered our ClientHello with an HTTP error response, and the error says so
//! ([`HandshakeError::NotTls`]), as curl's "wrong version number" hint and Go's "server
//! gave HTTP response to HTTPS client" do.

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rasgi_executor::reactor::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::stream::{SyncIo, TlsStream};
use super::HandshakeError;

/// Future of a TLS handshake over a connected socket; resolves to the [`TlsStream`].
#[must_use = "futures do nothing unless awaited"]
pub struct Handshake {
    state: State,
}

/// The socket and rustls's connection, moved from state to state together. Boxed: a
/// `ClientConnection` is large, and the future is moved while it is built.
struct Parts {
    /// The connected socket.
    tcp: TcpStream,
    /// rustls's side of the handshake.
    tls: ClientConnection,
    /// The first bytes the server sent (at most [`PEEK`]), kept only to recognize a
    /// plain-HTTP reply when rustls refuses them.
    first_bytes: Vec<u8>,
}

/// How many leading bytes of the server's reply are kept: enough for `HTTP/`.
const PEEK: usize = 5;

/// Copies the first [`PEEK`] bytes read through it into `first_bytes`.
struct Recording<'a, R> {
    /// The socket reader.
    inner: R,
    /// Grows until it holds `PEEK` bytes, then stays as it is.
    first_bytes: &'a mut Vec<u8>,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = PEEK.saturating_sub(self.first_bytes.len());
        self.first_bytes.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

/// The states of a handshake.
enum State {
    /// Not polled yet. The rustls connection is created on the first poll, so that an
    /// error (a host name rustls cannot send as SNI) comes out of the future like any other.
    Start {
        /// The connected socket.
        tcp: TcpStream,
        /// Trust roots and protocol settings, shared by all connections of a client.
        config: Arc<ClientConfig>,
        /// Sent as SNI and checked against the certificate.
        name: ServerName<'static>,
    },
    /// rustls has records to send — the ClientHello at first, the client's Finished at the
    /// end. We stay here until the socket took all of them; `Pending` means the kernel's
    /// send buffer is full (rare for a few hundred bytes, but possible).
    Sending(Box<Parts>),
    /// Everything is sent and rustls waits for the server's next flight. Reading goes on
    /// until the socket says `WouldBlock` (edge-triggered readiness), feeding every byte to
    /// rustls, which verifies the certificate as soon as it arrives.
    Receiving(Box<Parts>),
    /// The stream was handed out or an error returned; polling again is a contract
    /// violation.
    Done,
}

impl Handshake {
    /// Starts a handshake with the server called `name` over `tcp`.
    pub fn new(tcp: TcpStream, config: Arc<ClientConfig>, name: ServerName<'static>) -> Handshake {
        Handshake { state: State::Start { tcp, config, name } }
    }
}

impl Future for Handshake {
    type Output = Result<TlsStream, HandshakeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Start { tcp, config, name } => match ClientConnection::new(config, name) {
                    // The ClientHello is now queued inside rustls.
                    Ok(tls) => self.state = State::Sending(Box::new(Parts { tcp, tls, first_bytes: Vec::new() })),
                    Err(e) => return Poll::Ready(Err(HandshakeError::from_rustls(e))),
                },
                State::Sending(mut parts) => {
                    while parts.tls.wants_write() {
                        let Parts { tcp, tls, .. } = &mut *parts;
                        match tls.write_tls(&mut SyncIo { tcp, cx }) {
                            Ok(0) => return Poll::Ready(Err(HandshakeError::Io(io::ErrorKind::WriteZero.into()))),
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                // Our waker sits with the reactor; wait for writability.
                                self.state = State::Sending(parts);
                                return Poll::Pending;
                            }
                            Err(e) => return Poll::Ready(Err(HandshakeError::Io(e))),
                        }
                    }
                    if !parts.tls.is_handshaking() {
                        let Parts { tcp, tls, .. } = *parts;
                        return Poll::Ready(Ok(TlsStream::new(tcp, tls)));
                    }
                    self.state = State::Receiving(parts);
                }
                State::Receiving(mut parts) => {
                    let Parts { tcp, tls, first_bytes } = &mut *parts;
                    match tls.read_tls(&mut Recording { inner: SyncIo { tcp, cx }, first_bytes }) {
                        Ok(0) => return Poll::Ready(Err(HandshakeError::Closed)),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.state = State::Receiving(parts);
                            return Poll::Pending;
                        }
                        Err(e) => return Poll::Ready(Err(HandshakeError::Io(e))),
                    }
                    if let Err(e) = tls.process_new_packets() {
                        if first_bytes.starts_with(b"HTTP/") {
                            return Poll::Ready(Err(HandshakeError::NotTls));
                        }
                        // rustls queued an alert telling the server why (e.g.
                        // `bad_certificate`); send it if the socket takes it now, so the
                        // server's log says more than "connection reset".
                        let _ = tls.write_tls(&mut SyncIo { tcp, cx });
                        return Poll::Ready(Err(HandshakeError::from_rustls(e)));
                    }
                    // Whatever rustls wants next — send a reply, read more, or nothing
                    // because it is done — `Sending` sorts it out.
                    self.state = State::Sending(parts);
                }
                State::Done => panic!("`Handshake` polled after it completed"),
            }
        }
    }
}
