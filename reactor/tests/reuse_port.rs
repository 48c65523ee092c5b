//! `SO_REUSEPORT`: with `ListenOptions { reuse_port: true }` several listeners bind the
//! same port — one per worker loop for `--workers N` — and the kernel hands each new
//! connection to exactly one of them. Without the option the second bind fails.

mod common;

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use rasgi_reactor::net::{ListenOptions, TcpListener, TcpStream};

fn reuse_port() -> ListenOptions {
    ListenOptions { reuse_port: true, ..ListenOptions::default() }
}

#[test]
fn two_listeners_share_a_port_with_reuse_port() {
    common::block_on(Duration::from_secs(10), async {
        let first = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), reuse_port()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind_with(addr, reuse_port()).expect("second SO_REUSEPORT bind");
        assert_eq!(second.local_addr().unwrap(), addr);

        // One connection goes to exactly one of the two listeners.
        let client = TcpStream::connect(addr);
        let accept_either = poll_fn(|cx| {
            if let Poll::Ready(accepted) = first.poll_accept(cx) {
                return Poll::Ready(("first", accepted));
            }
            if let Poll::Ready(accepted) = second.poll_accept(cx) {
                return Poll::Ready(("second", accepted));
            }
            Poll::Pending
        });
        let (client, (winner, accepted)) = common::join(client, accept_either).await;
        let (client, (server_side, peer)) = (client.unwrap(), accepted.unwrap());
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server_side.peer_addr().unwrap(), client.local_addr().unwrap());
        // The other listener has nothing waiting.
        let loser = if winner == "first" { &second } else { &first };
        assert!(poll_fn(|cx| Poll::Ready(loser.poll_accept(cx).is_pending())).await);
    });
}

#[test]
fn without_reuse_port_the_second_bind_fails() {
    common::block_on(Duration::from_secs(10), async {
        let first = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(addr).err().expect("second bind without SO_REUSEPORT succeeded");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Both sockets must opt in: a reuse_port listener cannot join a plain one.
        let err = TcpListener::bind_with(addr, reuse_port()).err().expect("mixed bind succeeded");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
}
