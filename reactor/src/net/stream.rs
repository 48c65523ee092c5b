//! A connected TCP socket on the reactor.
//!
//! All I/O methods take `&self`, as `std`'s `impl Read for &TcpStream` does: reading
//! and writing the same connection from two places at once is normal (a server reads
//! the next pipelined request while a response is flushing), and the reactor keeps one
//! waiter per direction so the two never disturb each other.

use std::future::Future;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;

use crate::source::{Direction, Registration};

/// A non-blocking TCP connection registered with the current thread's reactor.
pub struct TcpStream {
    /// The non-blocking socket.
    io: mio::net::TcpStream,
    /// Our entry in the reactor, registered for both directions.
    registration: Registration,
}

impl TcpStream {
    /// Opens a connection to `addr`. The future completes when the TCP handshake does.
    pub fn connect(addr: SocketAddr) -> Connect {
        Connect { state: ConnectState::Start(addr) }
    }

    pub(crate) fn from_mio(mut io: mio::net::TcpStream) -> io::Result<TcpStream> {
        let registration = Registration::new(&mut io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpStream { io, registration })
    }

    /// Reads into `buf`; `Ok(0)` means the peer closed its side (end of stream).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // A short read drained the kernel's queue: the next read would block.
        self.registration.poll_transfer(cx, Direction::Read, buf.len(), || (&self.io).read(buf))
    }

    /// Writes some of `buf`, returning how many bytes the kernel took.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // A short write filled the kernel's send buffer: the next write would block.
        self.registration.poll_transfer(cx, Direction::Write, buf.len(), || (&self.io).write(buf))
    }

    /// Writes from several buffers in one system call (`writev`): a response head and
    /// its body leave together without first being copied into one buffer.
    pub fn poll_write_vectored(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let poll = self.registration.poll_io(cx, Direction::Write, || (&self.io).write_vectored(bufs));
        if let Poll::Ready(Ok(n)) = poll {
            if n < bufs.iter().map(|b| b.len()).sum::<usize>() {
                self.registration.clear_readiness(Direction::Write);
            }
        }
        poll
    }

    /// Reads into `buf`; resolves to `0` at end of stream.
    pub fn read<'a>(&'a self, buf: &'a mut [u8]) -> Read<'a> {
        Read { stream: self, buf }
    }

    /// Writes some of `buf`.
    pub fn write<'a>(&'a self, buf: &'a [u8]) -> Write<'a> {
        Write { stream: self, buf }
    }

    /// Writes all of `buf`, across as many partial writes as the kernel needs.
    pub fn write_all<'a>(&'a self, buf: &'a [u8]) -> WriteAll<'a> {
        WriteAll { stream: self, buf }
    }

    /// Shuts down the read half, the write half, or both. Shutting down the write half
    /// sends FIN: the peer reads end of stream but may still send to us.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Disables Nagle's algorithm: small writes go out at once rather than waiting for
    /// the previous segment's ACK. Servers that batch their own writes want this.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.set_nodelay(nodelay)
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// Our own address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// The reactor token of this socket (shown by diagnostics).
    pub fn token(&self) -> usize {
        self.registration.token()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.take_error()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.io.local_addr().ok())
            .field("peer", &self.io.peer_addr().ok())
            .finish()
    }
}

/// Future returned by [`TcpStream::connect`].
#[must_use = "futures do nothing unless awaited"]
pub struct Connect {
    state: ConnectState,
}

/// The states of a non-blocking connect.
enum ConnectState {
    /// Nothing done yet; the `connect` system call runs on first poll, so that the
    /// socket is registered with the reactor of the thread that awaits it.
    Start(SocketAddr),
    /// `connect` returned EINPROGRESS; the handshake is under way. The socket becomes
    /// writable when it finishes, successfully or not.
    Connecting(TcpStream),
    /// Completed (the stream was handed out, or an error returned). Polling again is a
    /// contract violation and panics.
    Done,
}

impl Future for Connect {
    type Output = io::Result<TcpStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match std::mem::replace(&mut self.state, ConnectState::Done) {
                ConnectState::Start(addr) => {
                    let stream = match mio::net::TcpStream::connect(addr).and_then(TcpStream::from_mio) {
                        Ok(stream) => stream,
                        Err(e) => return Poll::Ready(Err(e)),
                    };
                    self.state = ConnectState::Connecting(stream);
                }
                ConnectState::Connecting(stream) => {
                    // mio's recipe: writable means the attempt ended. `take_error`
                    // says whether it failed; `peer_addr` says whether it is connected
                    // (ENOTCONN while the handshake is still in flight).
                    if let Some(e) = stream.take_error()? {
                        return Poll::Ready(Err(e));
                    }
                    match stream.peer_addr() {
                        Ok(_) => return Poll::Ready(Ok(stream)),
                        Err(e)
                            if e.kind() == io::ErrorKind::NotConnected
                                || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                        {
                            stream.registration.register_waker(Direction::Write, cx.waker());
                            self.state = ConnectState::Connecting(stream);
                            return Poll::Pending;
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                ConnectState::Done => panic!("`Connect` polled after it completed"),
            }
        }
    }
}

/// Future returned by [`TcpStream::read`].
#[must_use = "futures do nothing unless awaited"]
pub struct Read<'a> {
    stream: &'a TcpStream,
    buf: &'a mut [u8],
}

impl Future for Read<'_> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.stream.poll_read(cx, this.buf)
    }
}

/// Future returned by [`TcpStream::write`].
#[must_use = "futures do nothing unless awaited"]
pub struct Write<'a> {
    stream: &'a TcpStream,
    buf: &'a [u8],
}

impl Future for Write<'_> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.stream.poll_write(cx, self.buf)
    }
}

/// Future returned by [`TcpStream::write_all`]. Its state is simply the part of the
/// buffer not yet written; each partial write shrinks it.
#[must_use = "futures do nothing unless awaited"]
pub struct WriteAll<'a> {
    stream: &'a TcpStream,
    buf: &'a [u8],
}

impl Future for WriteAll<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        while !self.buf.is_empty() {
            match self.stream.poll_write(cx, self.buf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    let rest = &self.buf[n..];
                    self.buf = rest;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}
