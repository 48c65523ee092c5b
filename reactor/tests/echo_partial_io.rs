//! 8 MiB through an echo server on loopback, in pieces that never line up: the server
//! reads 7 KiB at a time and echoes each piece with `write_all`; the client writes in
//! odd sizes (1 byte up to 64 KiB + 1) while it reads the echo back 3 KiB + 1 at a time.
//!
//! The kernel's socket buffers are far smaller than 8 MiB, so every party has to stop at
//! `WouldBlock` and be woken by the reactor many times: a lost edge-triggered event
//! shows up as a hang (the test's deadline), and a short write that is not resumed at
//! the right offset shows up as wrong bytes. (Here every future shares one waker; that
//! a reader and a writer of one socket are woken separately is `waiters.rs`'s test.)

mod common;

use std::future::poll_fn;
use std::net::{Shutdown, SocketAddr};
use std::task::Poll;
use std::time::Duration;

use rasgi_reactor::net::{TcpListener, TcpStream};

const TOTAL: usize = 8 * 1024 * 1024;
/// Sizes of the client's successive writes, cycled; none divides another.
const WRITE_SIZES: [usize; 6] = [1, 13, 4093, 65_537, 7919, 1500];

#[test]
fn eight_mebibytes_round_trip_byte_exact_through_partial_reads_and_writes() {
    let data = common::pattern(TOTAL, 0x9e37_79b9_7f4a_7c15);
    let (received, writer) = common::block_on(Duration::from_secs(60), async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();

        let server = async {
            let (stream, _peer) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 7 * 1024];
            let mut echoed = 0;
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).await.unwrap();
                echoed += n;
            }
            // Dropping the stream closes it: the client's reader then sees end of stream.
            echoed
        };

        let client = async {
            let stream = TcpStream::connect(addr).await.unwrap();
            // Both halves of the client borrow the same stream (all I/O takes `&self`).
            let writer = async {
                let mut stats = WriterStats::default();
                let mut pos = 0;
                let mut sizes = WRITE_SIZES.iter().cycle();
                while pos < TOTAL {
                    let want = (*sizes.next().unwrap()).min(TOTAL - pos);
                    let chunk = &data[pos..pos + want];
                    let n = poll_fn(|cx| match stream.poll_write(cx, chunk) {
                        Poll::Pending => {
                            stats.waits_for_room += 1;
                            Poll::Pending
                        }
                        ready => ready,
                    })
                    .await
                    .unwrap();
                    assert!(n > 0 && n <= want);
                    if n < want {
                        stats.short_writes += 1;
                    }
                    pos += n;
                }
                // Half-close: the server reads end of stream once it has echoed it all.
                stream.shutdown(Shutdown::Write).unwrap();
                stats
            };
            let reader = async {
                let mut received = Vec::with_capacity(TOTAL);
                let mut buf = vec![0u8; 3 * 1024 + 1];
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break received;
                    }
                    received.extend_from_slice(&buf[..n]);
                }
            };
            common::join(writer, reader).await
        };

        let (echoed, (writer, received)) = common::join(server, client).await;
        assert_eq!(echoed, TOTAL);
        (received, writer)
    });

    assert_eq!(received.len(), TOTAL);
    if let Some(at) = received.iter().zip(&data).position(|(got, want)| got != want) {
        panic!("the echo differs from what was sent, first at byte {at} of {TOTAL}");
    }
    // 8 MiB cannot fit in the kernel's buffers while nobody reads (the loop is busy
    // writing), so the writer must have waited for writability: that path was tested.
    assert!(writer.waits_for_room > 0, "the writer never had to wait: {writer:?}");
}

#[derive(Debug, Default)]
struct WriterStats {
    /// `poll_write` returned `Pending` (the kernel said `WouldBlock`).
    waits_for_room: usize,
    /// The kernel took fewer bytes than offered.
    short_writes: usize,
}
