//! A plain-HTTP test server on std threads (one per connection), whose answers the test
//! scripts: a handler sees each request and returns a [`Reply`] — raw bytes to send, and
//! what to do with the connection afterwards. Writing the bytes by hand is the point: a
//! test of chunked or close-delimited framing should show the exact bytes on the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Which TCP connection (1 for the first accepted).
    pub connection: usize,
    /// The request's number on its connection, from 1.
    pub index: usize,
    pub method: String,
    pub target: String,
    /// Header lines as received (name as sent, value trimmed).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server does with one request.
pub enum Reply {
    /// Send these bytes and wait for the next request on the connection.
    Send(Vec<u8>),
    /// Send these bytes, then close the connection (FIN).
    SendAndClose(Vec<u8>),
    /// Close the connection without answering.
    Close,
    /// Never answer; keep the connection open until the server is dropped.
    Hang,
    /// Send these bytes (a head and part of its body, say), then send nothing more and
    /// keep the connection open until the server is dropped.
    SendAndHang(Vec<u8>),
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// The running server; stops accepting and ends its connections when dropped.
pub struct PlainServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl PlainServer {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> PlainServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind the test server");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let server = PlainServer {
            addr,
            stop: Arc::new(AtomicBool::new(false)),
            seen: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::new(AtomicUsize::new(0)),
        };
        let handler: Arc<Handler> = Arc::new(handler);
        let (stop, seen, connections) = (server.stop.clone(), server.seen.clone(), server.connections.clone());
        thread::spawn(move || {
            // Polling accept keeps shutdown simple: the loop notices `stop` within 2 ms.
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let id = connections.fetch_add(1, Ordering::SeqCst) + 1;
                        let (handler, stop, seen) = (handler.clone(), stop.clone(), seen.clone());
                        thread::spawn(move || serve(stream, id, &*handler, &stop, &seen));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request seen so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for PlainServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, connection: usize, handler: &Handler, stop: &AtomicBool, seen: &Mutex<Vec<Seen>>) {
    // Short read timeouts let a connection thread notice `stop` while it waits.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = Vec::new();
    let mut index = 0;
    loop {
        let Some(mut request) = read_request(&mut stream, &mut buf, stop) else { return };
        index += 1;
        request.connection = connection;
        request.index = index;
        if let Ok(mut log) = seen.lock() {
            log.push(request.clone());
        }
        match handler(&request) {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes);
                return;
            }
            Reply::Close => return,
            Reply::Hang => return wait_for_stop(stop),
            Reply::SendAndHang(bytes) => {
                let _ = stream.write_all(&bytes);
                return wait_for_stop(stop);
            }
        }
    }
}

/// Holds a connection open, answering nothing, until the server is dropped.
fn wait_for_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads one request (head and Content-Length body); `None` at end of stream or on stop.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Option<Seen> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(stream, buf, stop)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.to_string(), v.trim().to_string())).collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        fill(stream, buf, stop)?;
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some(Seen { connection: 0, index: 0, method, target, headers, body })
}

fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Option<()> {
    let mut chunk = [0u8; 4096];
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Some(());
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
}

/// A complete response with a Content-Length.
pub fn response(status: u16, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{extra_headers}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}
