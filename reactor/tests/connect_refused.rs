//! Connecting to a port where nobody listens fails with `ConnectionRefused`.
//!
//! A non-blocking `connect` usually cannot fail at once: the kernel answers
//! `EINPROGRESS`, and the refusal (a RST from the peer) arrives later as writability
//! plus a pending socket error. `Connect` must wait for that event and then read the
//! error with `SO_ERROR` — not report success because the socket became writable.

mod common;

use std::io;
use std::time::Duration;

use rasgi_reactor::net::TcpStream;
use rasgi_reactor::Reactor;

#[test]
fn connect_to_a_closed_port_is_refused() {
    // Bind a port, then close it: now it is (almost certainly) free and nobody listens.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();

    let (result, sources_after) = common::block_on(Duration::from_secs(10), async move {
        let result = TcpStream::connect(addr).await;
        (result, Reactor::try_current().unwrap().stats().sources)
    });
    let err = result.expect_err("connect to a closed port succeeded");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "unexpected error: {err}");
    // The failed socket was closed and deregistered, not leaked.
    assert_eq!(sources_after, 0);
}
