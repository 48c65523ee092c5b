//! The sockets a connection can arrive on: TCP (`--host`/`--port`, `--fd`) or a
//! Unix-domain socket (`--uds PATH`, for a proxy on the same machine). One enum each for
//! the listener and the connection, so the rest of the server is written once; the match
//! per system call costs nothing next to the system call.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::task::{Context, Poll};

use rasgi_executor::reactor::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// One connection's socket.
pub(crate) enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix-domain stream connection.
    Unix(UnixStream),
}

impl Socket {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => s.poll_read(cx, buf),
            Socket::Unix(s) => s.poll_read(cx, buf),
        }
    }

    /// Writes some of `buf`.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => s.poll_write(cx, buf),
            Socket::Unix(s) => s.poll_write(cx, buf),
        }
    }

    /// Shuts down one or both halves.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Unix(s) => s.shutdown(how),
        }
    }

    /// The address the connection arrived on (none for a Unix-domain socket).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Socket::Tcp(s) => s.local_addr().ok(),
            Socket::Unix(_) => None,
        }
    }

    /// Turns off Nagle's algorithm (TCP only): small responses are already written in
    /// one piece, and Nagle would only delay them.
    pub(crate) fn set_nodelay(&self) {
        if let Socket::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }
}

/// A worker loop's listening socket.
pub(crate) enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix-domain.
    Unix(UnixListener),
}

impl Listener {
    /// Waits for the next connection: its socket, and the peer's address (none for a
    /// Unix-domain peer).
    pub(crate) async fn accept(&self) -> io::Result<(Socket, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| (Socket::Tcp(s), Some(peer))),
            Listener::Unix(l) => l.accept().await.map(|s| (Socket::Unix(s), None)),
        }
    }
}

/// How a peer appears in log lines.
pub(crate) struct PeerName(pub(crate) Option<SocketAddr>);

impl std::fmt::Display for PeerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("unix-socket"),
        }
    }
}
