//! The listening socket: where uvicorn's `loop.create_server` waits for clients.
//!
//! Binding is done by hand with `libc` rather than through `std::net::TcpListener::bind`
//! because two options must be set *before* `bind`: `SO_REUSEADDR` (restart the server
//! without waiting out TIME_WAIT) and, for `--workers N`, `SO_REUSEPORT`, which lets N
//! sockets bind the same port and has the kernel spread incoming connections among them.

use std::future::Future;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;

use super::stream::TcpStream;
use crate::source::{Direction, Registration};

/// How to create a listening socket.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// Set `SO_REUSEPORT`, so several listeners (one per worker loop) share the port.
    pub reuse_port: bool,
    /// The kernel's queue of completed connections not yet accepted.
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        // 1024 is what uvicorn and most servers ask for; the kernel caps it at
        // net.core.somaxconn.
        ListenOptions { reuse_port: false, backlog: 1024 }
    }
}

/// A listening TCP socket registered with the current thread's reactor.
pub struct TcpListener {
    /// The non-blocking socket.
    io: mio::net::TcpListener,
    /// Our entry in the reactor; only read readiness matters for a listener.
    registration: Registration,
}

impl TcpListener {
    /// Binds with `SO_REUSEADDR` and the default backlog.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Binds with explicit options; see [`ListenOptions`].
    pub fn bind_with(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        let fd = bind_socket(addr, options)?;
        let mut io = mio::net::TcpListener::from_std(std::net::TcpListener::from(fd));
        let registration = Registration::new(&mut io, Interest::READABLE)?;
        Ok(TcpListener { io, registration })
    }

    /// Registers a listening socket made elsewhere (see [`inherit_listener`]).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let mut io = mio::net::TcpListener::from_std(listener);
        let registration = Registration::new(&mut io, Interest::READABLE)?;
        Ok(TcpListener { io, registration })
    }

    /// The address actually bound (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Accepts one connection, already non-blocking and registered with the reactor.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self.registration.poll_io(cx, Direction::Read, || self.io.accept()) {
            Poll::Ready(Ok((stream, peer))) => Poll::Ready(TcpStream::from_mio(stream).map(|s| (s, peer))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for and accepts one connection.
    pub fn accept(&self) -> Accept<'_> {
        Accept { listener: self }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}

/// Future returned by [`TcpListener::accept`]: one leaf state, "waiting for a client".
#[must_use = "futures do nothing unless awaited"]
pub struct Accept<'a> {
    listener: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(TcpStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}

/// socket() + setsockopt() + bind() + listen(), the four calls every server makes.
fn bind_socket(addr: SocketAddr, options: ListenOptions) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket() takes no pointers; a negative return is checked below.
    let raw = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_flag(&fd, libc::SO_REUSEADDR)?;
    if options.reuse_port {
        set_flag(&fd, libc::SO_REUSEPORT)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` is a properly initialised sockaddr of `len` bytes for `domain`.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), &storage as *const _ as *const libc::sockaddr, len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen() takes no pointers.
    if unsafe { libc::listen(fd.as_raw_fd(), options.backlog) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn set_flag(fd: &OwnedFd, option: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the option value points at a live c_int whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            &one as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Converts a Rust socket address to the C layout `bind` expects.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in).write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Adopts a socket that is already listening: one inherited from a parent process (a
/// supervisor that keeps the socket open across restarts, or systemd's socket
/// activation). Checks that it is a listening TCP socket, and makes it close-on-exec: it
/// must not leak into this process's own children. Needs no reactor; register the result
/// on a loop with [`TcpListener::from_std`].
pub fn inherit_listener(fd: OwnedFd) -> io::Result<std::net::TcpListener> {
    let not_listening = || io::Error::new(io::ErrorKind::InvalidInput, "not a listening TCP socket");
    if socket_option(&fd, libc::SO_TYPE)? != libc::SOCK_STREAM || socket_option(&fd, libc::SO_ACCEPTCONN)? == 0 {
        return Err(not_listening());
    }
    // SAFETY: fcntl() on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let listener = std::net::TcpListener::from(fd);
    // A Unix-domain socket (or another family) has no IP address.
    listener.local_addr().map_err(|_| not_listening())?;
    Ok(listener)
}

/// An integer socket option (`SOL_SOCKET` level).
fn socket_option(fd: &OwnedFd, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt() writes at most `len` bytes into `value`, which is that large,
    // and updates `len`; both pointers are valid and exclusive for the call.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, option, (&mut value as *mut libc::c_int).cast(), &mut len)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}
