//! Opening a connection to an origin: resolve, TCP connect, TLS handshake — httpcore's
//! `AsyncHTTPConnection` opening its stream (`connect_tcp`, then `start_tls`).
//!
//! Each step is its own future and its own error, so a failure names the step: the host
//! did not resolve, the port refused, or the certificate was wrong. The caller bounds all
//! three together with the connect timeout, as httpx does.
//!
//! A host with several addresses (`localhost` is often `::1` and `127.0.0.1`) is tried one
//! address after the other. Browsers race them instead ("Happy Eyeballs", RFC 8305) so that
//! a dead IPv6 route costs 250 ms rather than a full timeout; that is a refinement this
//! client leaves out.

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use rasgi_executor::reactor::net::TcpStream;
use rustls::pki_types::ServerName;

use super::error::Error;
use super::resolve::resolve;
use super::url::{Scheme, Url};
use crate::server::buffer::ReadBuf;
use crate::tls::{Handshake, HandshakeError, TlsStream};

/// The read buffer starts small (a typical response head fits) and may grow to hold the
/// largest head we accept.
const INITIAL_BUFFER: usize = 8 * 1024;
/// The most bytes a response head may take; a server sending more is broken or hostile.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The byte stream under HTTP: a bare socket for `http`, rustls over it for `https`.
pub(crate) enum Transport {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`; boxed because rustls's state is large and most of it is buffers.
    Tls(Box<TlsStream>),
}

impl Transport {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Transport::Plain(tcp) => tcp.poll_read(cx, buf),
            Transport::Tls(tls) => tls.poll_read(cx, buf),
        }
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self {
            Transport::Plain(tcp) => tcp.poll_write_vectored(cx, bufs),
            Transport::Tls(tls) => tls.poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            // The kernel sends what `write` took; there is nothing of ours to flush.
            Transport::Plain(_) => Poll::Ready(Ok(())),
            Transport::Tls(tls) => tls.poll_flush(cx),
        }
    }
}

/// One open connection to an origin, with the bytes received on it and not yet consumed.
pub(crate) struct Connection {
    /// The byte stream.
    transport: Transport,
    /// Bytes received and not yet parsed. Between requests it must be empty: anything a
    /// server sends unasked means the connection is out of step and cannot be reused.
    pub(crate) buf: ReadBuf,
    /// When the connection last went back into the pool (for idle expiry).
    pub(crate) idle_since: Instant,
    /// The last request head written on this connection; kept only so that the next one
    /// reuses its allocation (1 of the 32 allocations of a keep-alive GET).
    pub(crate) request_head: Vec<u8>,
}

impl Connection {
    fn new(transport: Transport) -> Connection {
        Connection {
            transport,
            buf: ReadBuf::new(INITIAL_BUFFER, MAX_RESPONSE_HEAD),
            idle_since: Instant::now(),
            request_head: Vec::new(),
        }
    }

    /// Reads whatever the server sent into the buffer: `Ok(0)` at end of stream. Fails when
    /// the buffer is full, which only a response head larger than its limit can cause.
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| {
            let spare = self.buf.spare();
            if spare.is_empty() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response head larger than 64 KiB",
                )));
            }
            let n = std::task::ready!(self.transport.poll_read(cx, spare))?;
            self.buf.filled_by(n);
            Poll::Ready(Ok(n))
        })
        .await
    }

    /// Writes all of `head` and then `body`, in as few system calls as the kernel allows
    /// (`writev`: the body is not copied behind the head), then flushes TLS records.
    pub(crate) async fn write_all(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let mut written = 0;
        let total = head.len() + body.len();
        poll_fn(|cx| {
            while written < total {
                let slices = if written < head.len() {
                    [IoSlice::new(&head[written..]), IoSlice::new(body)]
                } else {
                    [IoSlice::new(&body[written - head.len()..]), IoSlice::new(&[])]
                };
                match std::task::ready!(self.transport.poll_write_vectored(cx, &slices)) {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => written += n,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            self.transport.poll_flush(cx)
        })
        .await
    }

    /// Checks, without waiting, whether an idle connection can carry another request.
    ///
    /// An idle HTTP/1.1 connection must be silent. If the socket is readable now, the
    /// server either closed it (end of stream, reset, TLS `close_notify`) — servers close
    /// idle connections after their keep-alive timeout, nginx after 75 s — or sent bytes
    /// nobody asked for. Either way it is unusable. `Pending` is the healthy answer: nothing
    /// to read. (A TLS 1.3 session ticket arriving late is consumed by rustls and also
    /// ends in `Pending`.) This catches most closed connections before a request is
    /// written to them; the race that remains — the server closing just as we write —
    /// is what the safe retry in `request.rs` is for.
    pub(crate) fn poll_is_reusable(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 64];
        matches!(self.transport.poll_read(cx, &mut probe), Poll::Pending)
    }
}

/// Opens a connection to `url`'s origin: resolve, connect, and for `https` the TLS
/// handshake with certificate and host name checks. `phase` is kept up to date with the
/// step under way, so that a connect timeout can say where the time went.
pub(crate) async fn connect(
    url: &Url,
    tls: &Arc<rustls::ClientConfig>,
    phase: &Cell<&'static str>,
) -> Result<Connection, Error> {
    phase.set("resolving the host name");
    let addrs = resolve(url.host(), url.port())
        .await
        .map_err(|error| Error::Resolve { host: url.host().to_string(), error })?;

    phase.set("connecting (TCP)");
    let mut last_error = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(error) => last_error = Some(Error::Connect { addr, error }),
        }
    }
    let tcp = match (tcp, last_error) {
        (Some(tcp), _) => tcp,
        (None, Some(error)) => return Err(error),
        (None, None) => {
            let error = io::Error::new(io::ErrorKind::NotFound, "no addresses found");
            return Err(Error::Resolve { host: url.host().to_string(), error });
        }
    };
    // A request is written in one go and then we wait for the answer; Nagle's algorithm
    // could only delay a request that follows a previous write (a TLS alert, a body).
    let _ = tcp.set_nodelay(true);

    match url.scheme() {
        Scheme::Http => Ok(Connection::new(Transport::Plain(tcp))),
        Scheme::Https => {
            phase.set("the TLS handshake");
            let tls_error = |error| Error::Tls { host: url.host().to_string(), error };
            // The same name is sent as SNI and checked against the certificate. For an IP
            // address rustls sends no SNI (RFC 6066 forbids it) and checks the
            // certificate's IP address entries instead.
            let name = ServerName::try_from(url.host().to_string())
                .map_err(|e| tls_error(HandshakeError::Tls(rustls::Error::General(e.to_string()))))?;
            let stream = Handshake::new(tcp, tls.clone(), name).await.map_err(tls_error)?;
            Ok(Connection::new(Transport::Tls(Box::new(stream))))
        }
    }
}
