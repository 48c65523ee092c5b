//! `shutdown(Write)` is a half-close: it sends FIN, so the peer's next read after the
//! data returns 0 (end of stream) — yet the peer may still answer, and the half-closed
//! side still reads that answer. HTTP/1.0 clients and `Connection: close` rely on it.

mod common;

use std::net::Shutdown;
use std::time::Duration;

use rasgi_reactor::net::{TcpListener, TcpStream};

#[test]
fn shutdown_write_makes_the_peer_read_end_of_stream() {
    let (server_saw, client_saw) = common::block_on(Duration::from_secs(10), async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();

        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let saw = read_to_end(&stream).await;
            // Our side is still open for writing after the client's FIN.
            stream.write_all(b"ack").await.unwrap();
            saw
        };
        let client = async {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"bye").await.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            // Writing after the half-close is refused by the kernel.
            assert!(stream.write(b"more").await.is_err());
            read_to_end(&stream).await
        };
        common::join(server, client).await
    });
    assert_eq!(server_saw, b"bye");
    assert_eq!(client_saw, b"ack");
}

/// Reads until the peer's end of stream (a read of 0 bytes).
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => return all,
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}
