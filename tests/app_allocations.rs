//! How many heap allocations one request costs the server's loop, counted by a global
//! allocator that counts only on the loop's thread.
//!
//! On the plaintext and JSON paths a kept-alive request costs none: the server's read
//! and write buffers are the connection's, the request's scope copy, the response's
//! header list and JSON body buffer come from free lists (`rasgi_http::spares`), and the
//! handler's future runs in a box its route kept from an earlier call. A change that
//! adds an allocation per request fails here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rasgi::app::{App, Json, Request, Response};
use rasgi_http::server::{self, Config};
use serde::Serialize;

/// Counts allocations made on threads that asked to be counted.
struct Counting;

/// Allocations (and growing reallocations) on counted threads so far.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// True on the server's loop thread, set by the app's startup hook. `const` and
    /// without a destructor, so reading it never allocates (which would recurse).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counting touches only an atomic and a `const`
// thread-local `Cell`, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The benchmark's two routes, written as in `src/bin/techempower.rs`.
fn app() -> App {
    App::new()
        .on_startup(|_state| async {
            COUNTED.with(|counted| counted.set(true));
            Ok(())
        })
        .get("/plaintext", |_req: Request| async { Response::new(200, "text/plain", &b"Hello, World!"[..]) })
        .get("/json", |_req: Request| async { Json(Message { message: "Hello, World!" }) })
}

/// Sends `count` requests for `path` one after another on `stream`, reading each
/// response whole before the next (its head ends the read; the body is `body_len`).
fn requests(stream: &mut TcpStream, path: &str, count: usize, body: &[u8]) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..count {
        stream.write_all(request.as_bytes()).expect("write request");
        reply.clear();
        while !reply.ends_with(body) {
            let n = stream.read(&mut buf).expect("read response");
            assert!(n > 0, "the server closed the connection");
            reply.extend_from_slice(&buf[..n]);
        }
        assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&reply));
    }
}

/// Allocations on the loop thread for `count` requests for `path`, after a warm-up that
/// lets every buffer and free list reach its working size.
fn allocations_for(addr: SocketAddr, path: &str, body: &[u8], count: usize) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    requests(&mut stream, path, 200, body);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    requests(&mut stream, path, count, body);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn a_kept_alive_plaintext_or_json_request_allocates_nothing() {
    let config = Config { port: 0, workers: 1, handle_signals: false, access_log: false, ..Config::default() };
    let handle = server::start(config, app).expect("server starts");
    let addr = handle.local_addr();

    assert_eq!(allocations_for(addr, "/plaintext", b"Hello, World!", 1000), 0, "plaintext");
    assert_eq!(allocations_for(addr, "/json", br#"{"message":"Hello, World!"}"#, 1000), 0, "json");
    handle.shutdown();
}
