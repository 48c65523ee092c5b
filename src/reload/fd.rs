//! A file descriptor that is not a socket, waited on by the reactor like one.
//!
//! inotify and signalfd descriptors are read with `read(2)` and report readiness through
//! epoll exactly as a socket does, so they need no new machinery: [`mio::unix::SourceFd`]
//! lends the raw descriptor to the reactor and [`Registration::poll_io`] does the
//! edge-triggered read-until-`WouldBlock` it does for every socket. asyncio's
//! `loop.add_reader(fd, callback)` is the Python counterpart.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::Interest;
use rasgi_reactor::{Direction, Registration};

/// A non-blocking descriptor registered for reading with the current thread's reactor.
pub struct AsyncFd {
    /// Open and in non-blocking mode for as long as `self` lives (the creator opens it
    /// with `*_NONBLOCK`), so a read can never stall the loop.
    fd: OwnedFd,
    /// Registered for `fd` on the reactor of the thread that created `self`; removed in
    /// `Drop` before `fd` closes, so the reactor never holds a stale token.
    registration: Registration,
}

impl AsyncFd {
    /// Registers `fd` (already non-blocking) with the current thread's reactor.
    pub fn new(fd: OwnedFd) -> io::Result<AsyncFd> {
        let raw = fd.as_raw_fd();
        let registration = Registration::new(&mut SourceFd(&raw), Interest::READABLE)?;
        Ok(AsyncFd { fd, registration })
    }

    /// The raw descriptor, for the system calls specific to its kind.
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Reads what the kernel has into `buf`, or waits for the descriptor to become
    /// readable.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let raw = self.fd.as_raw_fd();
        self.registration.poll_io(cx, Direction::Read, || {
            // SAFETY: `raw` is open for as long as `self.fd` lives, and `buf` is a valid
            // writable region of exactly `buf.len()` bytes.
            let n = unsafe { libc::read(raw, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })
    }
}

impl Drop for AsyncFd {
    fn drop(&mut self) {
        let raw = self.fd.as_raw_fd();
        self.registration.deregister(&mut SourceFd(&raw));
    }
}
