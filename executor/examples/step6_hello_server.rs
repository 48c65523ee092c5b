//! Build it yourself, step 6: an HTTP/1.1 hello server on steps 1–5.
//!
//! **What it shows:** everything so far is enough for a real server. One task accepts
//! connections and spawns a task per connection (uvicorn does the same with one asyncio
//! task per connection). A connection task reads until the blank line that ends the
//! request head, answers `Hello, world!`, and closes. A client that connects and says
//! nothing holds only its own task: its read returns `Pending`, the loop serves the
//! others, and after five seconds [`timeout`] closes it.
//!
//! **What it still gets wrong** (and what the real server in `http/src/server/` does):
//! it reads no body, ignores keep-alive and pipelining, parses nothing (rasgi uses
//! `httparse`), answers every path the same, never refuses an oversized head with 431,
//! and a panicking handler would take the whole loop down. Step 7 — the notes in
//! `executor/examples/README.md` — lists what the real runtime adds and why.
//!
//! Run it: `cargo run -p rasgi-executor --example step6_hello_server`, then
//! `curl -i http://127.0.0.1:8000/` (another address may be given as the argument).

use std::io::{self, Read, Write};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};

// Step 5's runtime, included whole: its own demo (`run`, `main`) goes unused here.
#[allow(dead_code)]
#[path = "step5_many_tasks.rs"]
pub mod step5;
use step5::step4::{poll_io, register, timeout};
use step5::{block_on, spawn};

/// The one response this server knows.
pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";

/// The largest request head read; a longer one is cut off (a real server answers 431).
const MAX_HEAD: usize = 8 * 1024;

/// Serves one connection: read the head, write the response, close.
async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    let token = register(&mut stream)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = std::future::poll_fn(|cx| poll_io(cx, token, || stream.read(&mut chunk))).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let mut written = 0;
    while written < RESPONSE.len() {
        written += std::future::poll_fn(|cx| poll_io(cx, token, || stream.write(&RESPONSE[written..]))).await?;
    }
    Ok(())
}

/// Accepts connections and spawns a task for each; returns after `limit` connections
/// have been served, if a limit is given (the tests use one).
pub fn serve(listener: std::net::TcpListener, limit: Option<usize>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    block_on(async move {
        let token = register(&mut listener)?;
        let mut connections = Vec::new();
        while limit != Some(connections.len()) {
            let (stream, _) = std::future::poll_fn(|cx| poll_io(cx, token, || listener.accept())).await?;
            let connection = spawn(timeout(Duration::from_secs(5), serve_connection(stream)));
            // Serving forever, a handle is dropped at once: the task runs on, detached.
            if limit.is_some() {
                connections.push(connection);
            }
        }
        // Only reached with a limit: wait for the last connections to finish.
        for connection in connections {
            connection.await.transpose()?;
        }
        Ok(())
    })?
}

fn main() -> io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let listener = std::net::TcpListener::bind(&address)?;
    println!("listening on http://{}/", listener.local_addr()?);
    serve(listener, None)
}
