//! Name resolution: the host name of a URL to socket addresses, on the blocking pool.
//!
//! The operating system's resolver (`getaddrinfo`, behind std's `ToSocketAddrs`) is a
//! blocking call: it reads `/etc/hosts`, may query a DNS server and wait for the answer.
//! Called on the loop thread, it would freeze every other task for as long — the seed's
//! lesson about blocking the event loop, met in the wild. asyncio has the same problem and
//! the same cure: `loop.getaddrinfo()` runs `socket.getaddrinfo` in the default executor,
//! which is what httpx (through anyio) awaits. Here, [`spawn_blocking`] does it.
//!
//! A production client would add a DNS cache, or speak DNS itself on a non-blocking UDP
//! socket (as c-ares or hickory do); a thread per lookup is the simple, correct baseline.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use rasgi_executor::spawn_blocking;

/// The addresses of `host:port`, in the order the resolver prefers (RFC 6724: usually
/// IPv6 before IPv4 when both work). An IP literal is returned as is, without a thread.
pub(crate) async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_string();
    let lookup = spawn_blocking(move || (owned.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    match lookup.await {
        Ok(Ok(addrs)) if addrs.is_empty() => Err(io::Error::new(io::ErrorKind::NotFound, "no addresses found")),
        Ok(result) => result,
        Err(join_error) => Err(io::Error::other(format!("the resolver thread failed: {join_error}"))),
    }
}
