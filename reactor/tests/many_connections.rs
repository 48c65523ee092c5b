//! One thread, one reactor, 1,000 connections open at the same time.
//!
//! A std thread plays 1,000 clients: it connects them all, sends one line on each and
//! half-closes it. The server — a single future on the reactor — accepts every
//! connection, reads its line, and then *holds* it until all 1,000 lines have arrived
//! (a barrier), so that the replies can only be sent if every connection is alive and
//! registered at once. Then each client must read back exactly `echo: <its line>`.

mod common;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use rasgi_reactor::net::{TcpListener, TcpStream};
use rasgi_reactor::Reactor;

const CONNECTIONS: usize = 1000;

#[test]
fn one_thread_serves_a_thousand_concurrent_connections() {
    // Client and server live in this one process: 2,000 sockets plus the listener.
    raise_open_file_limit(2 * CONNECTIONS as u64 + 100);

    let listener_addr = std::sync::mpsc::channel::<SocketAddr>();
    let clients = std::thread::spawn(move || {
        let addr = listener_addr.1.recv().unwrap();
        let mut streams: Vec<std::net::TcpStream> =
            (0..CONNECTIONS).map(|_| std::net::TcpStream::connect(addr).expect("client connect")).collect();
        for (i, stream) in streams.iter_mut().enumerate() {
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            stream.write_all(format!("hello {i}\n").as_bytes()).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
        }
        streams
            .iter_mut()
            .map(|stream| {
                let mut reply = String::new();
                stream.read_to_string(&mut reply).map(|_| reply)
            })
            .collect::<Vec<io::Result<String>>>()
    });

    let sources_at_barrier = common::block_on(Duration::from_secs(60), async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        listener_addr.0.send(listener.local_addr().unwrap()).unwrap();
        let barrier = Barrier::new(CONNECTIONS);
        let sources_at_barrier = Rc::new(RefCell::new(None));

        // The server: accept whatever is waiting, then poll every live connection. A
        // real executor would poll only the connections that were woken; polling them
        // all is slower but cannot miss one.
        let mut connections: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
        let mut accepted = 0;
        poll_fn(|cx| {
            while accepted < CONNECTIONS {
                match listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, _peer))) => {
                        accepted += 1;
                        connections.push(Box::pin(serve(stream, barrier.clone(), sources_at_barrier.clone())));
                    }
                    Poll::Ready(Err(e)) => panic!("accept failed: {e}"),
                    Poll::Pending => break,
                }
            }
            connections.retain_mut(|connection| connection.as_mut().poll(cx).is_pending());
            if accepted == CONNECTIONS && connections.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;

        // Every connection was dropped, so only the listener is still registered.
        assert_eq!(Reactor::try_current().unwrap().stats().sources, 1);
        let at_barrier = sources_at_barrier.borrow_mut().take();
        at_barrier
    });
    // When the barrier opened, all 1,000 connections and the listener were registered.
    assert_eq!(sources_at_barrier, Some(CONNECTIONS + 1));

    let replies = clients.join().expect("client thread panicked");
    assert_eq!(replies.len(), CONNECTIONS);
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("client read"), format!("echo: hello {i}\n"));
    }
}

/// One connection: read a line, wait for everyone, reply, wait for the client's end
/// of stream.
async fn serve(stream: TcpStream, barrier: Barrier, sources_at_barrier: Rc<RefCell<Option<usize>>>) {
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    while !line.ends_with(b"\n") {
        let n = stream.read(&mut buf).await.expect("server read");
        assert!(n > 0, "client closed before sending its line");
        line.extend_from_slice(&buf[..n]);
    }
    if barrier.arrive() {
        *sources_at_barrier.borrow_mut() = Some(Reactor::try_current().unwrap().stats().sources);
    }
    barrier.wait().await;
    let mut reply = b"echo: ".to_vec();
    reply.extend_from_slice(&line);
    stream.write_all(&reply).await.expect("server write");
    assert_eq!(stream.read(&mut buf).await.expect("server read"), 0, "client sent more than one line");
}

/// Waits until `parties` connections have arrived.
#[derive(Clone)]
struct Barrier {
    state: Rc<RefCell<BarrierState>>,
}

struct BarrierState {
    /// Connections still to arrive.
    missing: usize,
    /// Connections waiting for the last one.
    waiters: Vec<Waker>,
}

impl Barrier {
    fn new(parties: usize) -> Barrier {
        Barrier { state: Rc::new(RefCell::new(BarrierState { missing: parties, waiters: Vec::new() })) }
    }

    /// Counts one arrival; true for the last one, which wakes everybody.
    fn arrive(&self) -> bool {
        let mut state = self.state.borrow_mut();
        state.missing -= 1;
        if state.missing > 0 {
            return false;
        }
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
        true
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if state.missing == 0 {
                Poll::Ready(())
            } else {
                state.waiters.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Raises this process's soft limit on open files to at least `wanted` (up to the hard
/// limit): the default soft limit is often 1,024.
fn raise_open_file_limit(wanted: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the rlimit we pass, which lives for the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    if limit.rlim_cur >= wanted as libc::rlim_t {
        return;
    }
    assert!(
        limit.rlim_max >= wanted as libc::rlim_t,
        "the hard limit on open files ({}) is below the {wanted} this test needs",
        limit.rlim_max
    );
    limit.rlim_cur = wanted as libc::rlim_t;
    // SAFETY: setrlimit only reads the rlimit we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}
