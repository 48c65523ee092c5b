//! A socket's place in the reactor: who is waiting for it to become readable, and who
//! for it to become writable.
//!
//! Read and write waiters are kept apart because one connection is often read by one
//! piece of code and written by another at the same time (an HTTP server reading the
//! next pipelined request while the response is still flushing). One shared slot would
//! let the second waiter silently evict the first, which then never wakes.

use std::io;
use std::task::{Context, Poll, Waker};

use crate::reactor::Reactor;

/// Which readiness a future waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes to read, a connection to accept, or the peer's end of stream.
    Read,
    /// Room in the kernel's send buffer, or a finished non-blocking connect.
    Write,
}

/// The wakers waiting on one registered socket, and what the reactor knows of its
/// readiness.
pub(crate) struct Waiters {
    /// Woken when the socket reports readable, read-closed or error.
    read: Option<Waker>,
    /// Woken when the socket reports writable, write-closed or error.
    write: Option<Waker>,
    /// False once the kernel has shown the socket has nothing to read (`WouldBlock`, or
    /// a read shorter than asked for); set again by the next readable event. While false,
    /// a read would only return `WouldBlock`, so it is not attempted.
    readable: bool,
    /// The same for writing (`WouldBlock`, or a short write: the send buffer is full).
    writable: bool,
    /// The peer closed its side (or the socket failed). Sticky: a short read must not
    /// hide the end of stream that arrived in the same event as the last bytes — no
    /// further edge will ever announce it.
    read_closed: bool,
    /// Writing can no longer succeed (reset or error). Sticky for the same reason.
    write_closed: bool,
}

impl Default for Waiters {
    /// A new socket is presumed ready both ways: the first attempt finds out.
    fn default() -> Self {
        Waiters { read: None, write: None, readable: true, writable: true, read_closed: false, write_closed: false }
    }
}

impl Waiters {
    /// Stores `waker`, replacing a previous one only when it would wake a different task
    /// (`will_wake`): a future polled again by the same task keeps its existing waker
    /// and the clone is saved.
    pub(crate) fn set(&mut self, direction: Direction, waker: &Waker) {
        let slot = match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        };
        match slot {
            Some(existing) if existing.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// True if someone waits in `direction`.
    pub(crate) fn is_waiting(&self, direction: Direction) -> bool {
        match direction {
            Direction::Read => self.read.is_some(),
            Direction::Write => self.write.is_some(),
        }
    }

    /// Whether an attempt in `direction` may succeed.
    pub(crate) fn is_ready(&self, direction: Direction) -> bool {
        match direction {
            Direction::Read => self.readable || self.read_closed,
            Direction::Write => self.writable || self.write_closed,
        }
    }

    /// Records that the peer closed a direction (see `read_closed`).
    pub(crate) fn set_closed(&mut self, direction: Direction) {
        match direction {
            Direction::Read => self.read_closed = true,
            Direction::Write => self.write_closed = true,
        }
    }

    /// Records readiness (an event arrived) or its absence (the kernel said no).
    pub(crate) fn set_ready(&mut self, direction: Direction, ready: bool) {
        match direction {
            Direction::Read => self.readable = ready,
            Direction::Write => self.writable = ready,
        }
    }

    pub(crate) fn take(&mut self, direction: Direction) -> Option<Waker> {
        match direction {
            Direction::Read => self.read.take(),
            Direction::Write => self.write.take(),
        }
    }
}

/// A socket registered with the reactor of the thread that created it.
///
/// It has no `Drop` of its own: deregistering needs the mio source, which the owning
/// socket holds, not the registration. So each socket type calls
/// [`Registration::deregister`] from its own `Drop`. A registration dropped without that
/// call leaves its slot (and any waker in it) in the reactor's table until the thread's
/// reactor goes away; closing the fd still removes it from epoll.
pub struct Registration {
    /// The reactor the socket is registered with; events for `token` arrive there only.
    reactor: Reactor,
    /// Index of this socket's [`Waiters`] in the reactor's table.
    token: usize,
}

impl Registration {
    /// Registers `source` with the current thread's reactor for the given interests.
    pub fn new(source: &mut impl mio::event::Source, interest: mio::Interest) -> io::Result<Registration> {
        Reactor::with_current(|reactor| {
            let token = reactor.register(source, interest)?;
            Ok(Registration { reactor: reactor.clone(), token })
        })
    }

    /// The heart of every socket future: try the non-blocking operation `op`; if the
    /// kernel answers `WouldBlock`, leave the task's waker with the reactor and return
    /// `Pending`. (If the reactor already knows the socket is not ready — see
    /// [`Registration::clear_readiness`] — the attempt is skipped.)
    ///
    /// Two rules of edge-triggered epoll meet here. An event is reported once per
    /// *change* of state, not while the state lasts, so a future may only wait after the
    /// kernel has said `WouldBlock` — if it waited with unread bytes still buffered, no
    /// new edge would ever come and it would sleep forever. And trying first, waiting
    /// second, also closes the race the other way round: any edge after the `WouldBlock`
    /// is queued in epoll and delivered at the loop's next `wait`, by which time the
    /// waker below is in place (this all happens on one thread).
    pub fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            if !self.reactor.is_ready(self.token, direction) {
                self.register_waker(direction, cx.waker());
                return Poll::Pending;
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_readiness(direction);
                    // Register before returning Pending: that is the Future contract.
                    self.register_waker(direction, cx.waker());
                    return Poll::Pending;
                }
                // A signal interrupted the system call; nothing happened, try again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    /// [`Registration::poll_io`] for a read or write of `wanted` bytes, applying the rule
    /// of [`Registration::clear_readiness`]: a transfer shorter than asked for drained the
    /// kernel's queue (or filled its send buffer), so the next attempt would only say
    /// `WouldBlock` and is skipped. Every stream type (TCP, Unix-domain) calls this.
    pub fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        wanted: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let poll = self.poll_io(cx, direction, op);
        if let Poll::Ready(Ok(n)) = poll {
            // A read of 0 is end of stream, not a drained queue: the next read says so again.
            let drained = match direction {
                Direction::Read => n > 0 && n < wanted,
                Direction::Write => n < wanted,
            };
            if drained {
                self.clear_readiness(direction);
            }
        }
        poll
    }

    /// Waits for the next readiness event in `direction` without performing any
    /// operation. Used after a non-blocking `connect`, where "writable" means "the
    /// connection attempt finished" (successfully or not).
    pub fn register_waker(&self, direction: Direction, waker: &Waker) {
        self.reactor.set_waker(self.token, direction, waker);
        crate::trace::note_wait(match direction {
            Direction::Read => crate::trace::Wait::Readable { token: self.token },
            Direction::Write => crate::trace::Wait::Writable { token: self.token },
        });
    }

    /// Records that the socket is not ready in `direction` until the next event says
    /// otherwise. Safe because epoll reports every new arrival as a new edge: data (or
    /// buffer room) that comes after this call produces an event that sets the flag
    /// again. A read that returned fewer bytes than asked for has drained the kernel's
    /// queue, so calling this saves the `read` that would only have said `WouldBlock` —
    /// one system call per request on a keep-alive connection.
    pub fn clear_readiness(&self, direction: Direction) {
        self.reactor.set_ready(self.token, direction, false);
    }

    /// The token this socket is registered under (shown by diagnostics).
    pub fn token(&self) -> usize {
        self.token
    }

    /// Removes `source` from the reactor. Called by the owning socket's `Drop`, which
    /// still holds the mio source this registration refers to.
    pub fn deregister(&mut self, source: &mut impl mio::event::Source) {
        self.reactor.deregister(source, self.token);
    }
}
