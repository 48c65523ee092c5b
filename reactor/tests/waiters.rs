//! One socket, two waiters: the task reading a connection and the task writing it are
//! woken separately. A reader parked for bytes and a writer parked for room in the send
//! buffer leave *different* wakers with the reactor; when bytes arrive the reader's is
//! called, when room appears the writer's is. With a single waiter slot per socket, the
//! writer parking second would silently evict the reader, who would then never wake.
//!
//! The reactor is driven by hand here, one `wait` at a time, with wakers that count.

use std::future::Future;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rasgi_reactor::net::TcpStream;
use rasgi_reactor::Reactor;

/// A waker that counts how often it was called.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Turns the reactor until `done` holds; fails after five seconds.
fn turn_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        reactor.wait(Some(Duration::from_millis(50))).unwrap();
    }
}

#[test]
fn the_reader_and_the_writer_of_one_socket_are_woken_separately() {
    let reactor = Reactor::new().unwrap();
    let _entered = reactor.enter();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();

    // Connect by hand: poll the `Connect` future whenever its waker was called.
    let connected = Arc::new(Counter::default());
    let mut connect = Box::pin(TcpStream::connect(listener.local_addr().unwrap()));
    let stream = loop {
        let waker = Waker::from(connected.clone());
        if let Poll::Ready(stream) = connect.as_mut().poll(&mut Context::from_waker(&waker)) {
            break stream.unwrap();
        }
        let before = connected.count();
        turn_until(&reactor, "the connection completed", || connected.count() > before);
    };
    let (mut peer, _) = listener.accept().unwrap();

    let reader = Arc::new(Counter::default());
    let writer = Arc::new(Counter::default());
    let reader_waker = Waker::from(reader.clone());
    let writer_waker = Waker::from(writer.clone());
    let mut reader_cx = Context::from_waker(&reader_waker);
    let mut writer_cx = Context::from_waker(&writer_waker);

    // The reader parks first: nothing to read yet.
    let mut buf = [0u8; 64];
    assert!(stream.poll_read(&mut reader_cx, &mut buf).is_pending());
    // Then the writer fills the send buffer (nobody reads the other end) and parks.
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while let Poll::Ready(n) = stream.poll_write(&mut writer_cx, &chunk) {
        sent += n.unwrap();
    }
    assert!(sent > 0);

    // Bytes arrive: the reader's waker is called, though the writer parked after it.
    peer.write_all(b"ping").unwrap();
    turn_until(&reactor, "the reader was woken", || reader.count() > 0);
    assert_eq!(reader.count(), 1);
    match stream.poll_read(&mut reader_cx, &mut buf) {
        Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"ping"),
        other => panic!("the woken reader found no bytes: {other:?}"),
    }

    // Room appears once the peer drains what was sent: the writer's waker is called.
    let writer_wakes_before = writer.count();
    let mut drained = vec![0u8; sent];
    peer.read_exact(&mut drained).unwrap();
    turn_until(&reactor, "the writer was woken", || writer.count() > writer_wakes_before);
    assert!(stream.poll_write(&mut writer_cx, b"pong").is_ready());
}
