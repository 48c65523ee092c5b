//! The encrypted stream: HTTP bytes in, TLS records out (and back).
//!
//! Python's counterpart is the `ssl.SSLObject` that asyncio's `SSLProtocol` drives with
//! memory BIOs: the TLS library never touches the socket itself. rustls works the same way.
//! A [`rustls::ClientConnection`] is a pure state machine with two buffers:
//!
//! ```text
//!   plaintext ──writer()──▶ [ rustls ] ──write_tls()──▶ socket
//!   plaintext ◀──reader()── [ rustls ] ◀──read_tls()─── socket
//!                     process_new_packets() decrypts
//! ```
//!
//! and [`TlsStream`] moves bytes between those buffers and the reactor's non-blocking
//! [`TcpStream`]. rustls's I/O calls take std's blocking `Read`/`Write`; [`SyncIo`] adapts
//! the reactor's `poll_*` functions to them, turning `Pending` into `WouldBlock`. rustls
//! hands a `WouldBlock` back untouched, and by then the task's waker is registered, so the
//! task is woken when the socket is ready — the same contract as every other leaf future.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use rasgi_executor::reactor::net::TcpStream;
use rustls::ClientConnection;

/// A TLS client connection over a reactor socket, after a successful handshake.
///
/// Reading and writing take `&mut self`: unlike a bare socket, the two directions share
/// rustls's state (a read may have to send a reply, such as a key update), so one owner
/// drives both.
pub struct TlsStream {
    /// The socket the records travel on.
    tcp: TcpStream,
    /// rustls's state: keys, sequence numbers, and buffered records in both directions.
    /// Its handshake is complete.
    tls: ClientConnection,
}

impl TlsStream {
    /// Wraps a connection whose handshake finished (see [`super::Handshake`]).
    pub(super) fn new(tcp: TcpStream, tls: ClientConnection) -> TlsStream {
        TlsStream { tcp, tls }
    }

    /// The underlying socket (for its addresses).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The server's own certificate (the first of the chain it sent), DER-encoded: what a
    /// `tls-server-end-point` channel binding (RFC 5929) hashes.
    pub fn peer_certificate(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        self.tls.peer_certificates().and_then(|chain| chain.first())
    }

    /// The negotiated protocol version, e.g. `TLSv1_3`.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.protocol_version()
    }

    /// Reads decrypted bytes into `buf`.
    ///
    /// `Ok(0)` means the server ended the TLS session cleanly (`close_notify`). A TCP end
    /// of stream *without* `close_notify` is an `UnexpectedEof` error: at this level it
    /// cannot be told apart from an attacker cutting the connection. Whether that matters
    /// is for the protocol above to decide — HTTP knows whether its message was complete.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            // 1. Plaintext rustls already decrypted comes first.
            match self.tls.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // 2. None left: read records from the socket. `WouldBlock` here means the
            //    socket is drained and our waker is registered (edge-triggered epoll
            //    needs exactly that before we may wait).
            match self.tls.read_tls(&mut SyncIo { tcp: &self.tcp, cx }) {
                // Ok(0) is the socket's end of stream; rustls records it, and the next
                // `reader().read` reports a clean or an unclean close.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
            // 3. Decrypt. Records may also ask for a reply (an alert, a key update):
            //    send it if the socket takes it now, else it leaves with the next write.
            let processed = self.tls.process_new_packets();
            if self.tls.wants_write() {
                let _ = self.poll_flush(cx);
            }
            if let Err(e) = processed {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
    }

    /// Encrypts some of `buf`; returns how much rustls took.
    ///
    /// The records may still sit in rustls's buffer when this returns (the socket was
    /// full); [`TlsStream::poll_flush`] sends them. Each call first flushes what the last
    /// one left behind, so the buffer never grows beyond one batch of records: that is the
    /// backpressure a plain socket gives for free.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Encrypts from several buffers at once: a request head and a small body become one
    /// TLS record and one system call.
    pub fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        ready!(self.poll_flush(cx))?;
        let n = self.tls.writer().write_vectored(bufs)?;
        // Start sending at once. `Pending` is fine: the bytes are safe in rustls and our
        // waker is registered; the caller's next write or flush continues.
        if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    /// Writes every record rustls holds to the socket.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut SyncIo { tcp: &self.tcp, cx }) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads decrypted bytes; see [`TlsStream::poll_read`].
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Encrypts and sends all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.poll_write(cx, buf)).await?;
            buf = &buf[n..];
        }
        poll_fn(|cx| self.poll_flush(cx)).await
    }
}

impl Drop for TlsStream {
    /// Ends the session with `close_notify`, so the server can tell a deliberate close from
    /// a cut connection. Best effort: a destructor cannot wait, so the alert is written only
    /// if the socket takes it at once (an idle socket nearly always does).
    fn drop(&mut self) {
        self.tls.send_close_notify();
        let waker = Waker::from(Arc::new(NoWake));
        let _ = self.poll_flush(&mut Context::from_waker(&waker));
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").field("tcp", &self.tcp).field("version", &self.tls.protocol_version()).finish()
    }
}

/// A waker for the destructor's single write attempt, after which nobody is left to wake.
struct NoWake;

impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

/// std's `Read`/`Write` over the reactor's `poll_*` functions, for rustls's `read_tls` and
/// `write_tls`. `Pending` becomes `WouldBlock`; the waker was registered by the poll.
pub(super) struct SyncIo<'a, 'b> {
    /// The socket.
    pub(super) tcp: &'a TcpStream,
    /// The context of the task polling us, whose waker the reactor keeps.
    pub(super) cx: &'a mut Context<'b>,
}

impl Read for SyncIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tcp.poll_read(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for SyncIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.tcp.poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// rustls hands over its queued records as several slices; `writev` sends them in one
    /// system call.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.tcp.poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
