//! Unix-domain stream sockets on the reactor: what a server behind nginx on the same
//! machine listens on (`uvicorn --uds /run/app.sock`), with no TCP stack in between.
//!
//! The same readiness rules as TCP (`stream.rs`): try the system call first, wait only
//! after `WouldBlock`, and treat a short read or write as "drained". Only what a server
//! needs is here: accepting, reading, writing, shutting down.

use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::Shutdown;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;

use crate::source::{Direction, Registration};

/// A listening Unix-domain socket registered with the current thread's reactor.
pub struct UnixListener {
    /// The non-blocking socket.
    io: mio::net::UnixListener,
    /// Our entry in the reactor; only read readiness matters for a listener.
    registration: Registration,
}

impl UnixListener {
    /// Binds `path` (which must not exist yet).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Registers a listening socket made elsewhere (bound once, then shared by the
    /// worker loops, each with its own descriptor for it).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let mut io = mio::net::UnixListener::from_std(listener);
        let registration = Registration::new(&mut io, Interest::READABLE)?;
        Ok(UnixListener { io, registration })
    }

    /// Accepts one connection, already non-blocking and registered with the reactor.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        match self.registration.poll_io(cx, Direction::Read, || self.io.accept()) {
            Poll::Ready(Ok((stream, _))) => Poll::Ready(UnixStream::from_mio(stream)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for and accepts one connection.
    pub fn accept(&self) -> UnixAccept<'_> {
        UnixAccept { listener: self }
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}

/// Future returned by [`UnixListener::accept`].
#[must_use = "futures do nothing unless awaited"]
pub struct UnixAccept<'a> {
    listener: &'a UnixListener,
}

impl Future for UnixAccept<'_> {
    type Output = io::Result<UnixStream>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}

/// A connected Unix-domain stream registered with the current thread's reactor.
pub struct UnixStream {
    /// The non-blocking socket.
    io: mio::net::UnixStream,
    /// Our entry in the reactor, registered for both directions.
    registration: Registration,
}

impl UnixStream {
    fn from_mio(mut io: mio::net::UnixStream) -> io::Result<UnixStream> {
        let registration = Registration::new(&mut io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(UnixStream { io, registration })
    }

    /// Reads into `buf`; `Ok(0)` means the peer closed its side (end of stream).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.registration.poll_transfer(cx, Direction::Read, buf.len(), || (&self.io).read(buf))
    }

    /// Writes some of `buf`, returning how many bytes the kernel took.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.registration.poll_transfer(cx, Direction::Write, buf.len(), || (&self.io).write(buf))
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// The reactor token of this socket (shown by diagnostics).
    pub fn token(&self) -> usize {
        self.registration.token()
    }
}

impl Drop for UnixStream {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}
