//! Build it yourself, step 3: a reactor — one socket through mio, readiness becoming a
//! wake.
//!
//! **What it fixes:** step 2 needed a thread per thing waited on. Here the loop's thread
//! itself waits, in one system call (`epoll_wait`, through `mio::Poll`), for *any*
//! registered socket to become ready. A socket future tries its non-blocking operation;
//! on `WouldBlock` it leaves its waker with the reactor under the socket's token and
//! returns `Pending`. When the kernel reports the token ready, the reactor calls that
//! waker and the loop polls the future again. This is asyncio's selector loop:
//! `loop.add_reader(fd, callback)` on top of `selectors.EpollSelector`.
//!
//! mio's epoll is *edge-triggered*: it reports a change (not-ready → ready) once, not
//! the state while it lasts. So a future may wait only after the kernel said
//! `WouldBlock`; waiting with bytes still unread would sleep forever. [`poll_io`] obeys
//! that rule by always trying first.
//!
//! **What it still gets wrong:** when nothing is ready the loop waits forever — there is
//! no way to wait "until a socket is ready *or* 30 ms have passed". Step 4 adds timers.
//! And it keeps one waker per socket: the new stream's first "writable" event wakes the
//! task that waits to *read*, for a poll that finds nothing (the program usually prints
//! four polls, not three). A real reactor keeps a reader's and a writer's waker apart.
//!
//! Run it: `cargo run -p rasgi-executor --example step3_reactor`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use mio::net::TcpListener;
use mio::{Events, Interest, Token};

/// The loop's view of the kernel: one `Poll` and who waits for which token.
pub struct Reactor {
    /// The epoll instance every socket is registered with.
    pub poll: mio::Poll,
    /// The waker of the future that last got `WouldBlock` on each token; taken on wake.
    pub wakers: HashMap<Token, Waker>,
    /// The next unused token; tokens are never reused in this small program.
    pub next_token: usize,
}

thread_local! {
    /// The reactor of this thread's loop, created by [`block_on`].
    static REACTOR: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

fn with_reactor<T>(f: impl FnOnce(&mut Reactor) -> T) -> T {
    REACTOR.with(|r| f(r.borrow_mut().as_mut().expect("sockets are used inside block_on")))
}

/// Registers a socket for both directions and returns its token.
pub fn register(source: &mut impl mio::event::Source) -> io::Result<Token> {
    with_reactor(|r| {
        let token = Token(r.next_token);
        r.next_token += 1;
        r.poll.registry().register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(token)
    })
}

/// Try `op`; on `WouldBlock`, leave the waker under `token` and return `Pending`.
pub fn poll_io<T>(cx: &mut Context<'_>, token: Token, mut op: impl FnMut() -> io::Result<T>) -> Poll<io::Result<T>> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            with_reactor(|r| r.wakers.insert(token, cx.waker().clone()));
            Poll::Pending
        }
        result => Poll::Ready(result),
    }
}

/// Set by the reactor's wakes; the loop polls again only when it is set.
struct FlagWaker(AtomicBool);

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion; between polls, sleeps in `epoll_wait`. Returns the
/// output and the number of polls.
pub fn block_on<F: Future>(future: F) -> io::Result<(F::Output, u64)> {
    REACTOR.with(|r| -> io::Result<()> {
        *r.borrow_mut() = Some(Reactor { poll: mio::Poll::new()?, wakers: HashMap::new(), next_token: 0 });
        Ok(())
    })?;
    let mut future = pin!(future);
    let flag = Arc::new(FlagWaker(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut events = Events::with_capacity(64);
    let mut polls = 0;
    loop {
        if flag.0.swap(false, Ordering::Acquire) {
            polls += 1;
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Ok((output, polls));
            }
        }
        // Wait without a timeout: only readiness can wake this loop.
        with_reactor(|r| r.poll.poll(&mut events, None))?;
        for event in &events {
            if let Some(waiter) = with_reactor(|r| r.wakers.remove(&event.token())) {
                waiter.wake();
            }
        }
    }
}

/// Accepts one client, reads its four bytes and answers `pong`.
async fn serve_one(mut listener: TcpListener) -> io::Result<String> {
    let listener_token = register(&mut listener)?;
    let (mut stream, _) = poll_fn(|cx| poll_io(cx, listener_token, || listener.accept())).await?;
    let token = register(&mut stream)?;
    let mut request = [0u8; 4];
    let mut filled = 0;
    while filled < request.len() {
        let n = poll_fn(|cx| poll_io(cx, token, || stream.read(&mut request[filled..]))).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
    }
    poll_fn(|cx| poll_io(cx, token, || stream.write_all(b"pong"))).await?;
    Ok(String::from_utf8_lossy(&request).into_owned())
}

/// The program's output, one line per entry, so a test can check it.
pub fn run() -> io::Result<Vec<String>> {
    let listener = TcpListener::bind("127.0.0.1:0".parse().expect("a valid address"))?;
    let address = listener.local_addr()?;
    let client = std::thread::spawn(move || -> io::Result<String> {
        let mut stream = std::net::TcpStream::connect(address)?;
        stream.write_all(b"ping")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    let (served, polls) = block_on(serve_one(listener))?;
    let request = served?;
    let answer = client.join().expect("the client thread panicked")?;
    Ok(vec![format!("server read {request:?}"), format!("client read {answer:?}"), format!("polls: {polls}")])
}

fn main() -> io::Result<()> {
    for line in run()? {
        println!("{line}");
    }
    Ok(())
}
