//! Shared helpers for the `server_*` integration tests: start a rasgi server inside the
//! test process (or a real server process), speak raw HTTP/1.1 to it over plain std
//! sockets, and read the responses back with their exact framing.
//!
//! Nothing here is clever on purpose: the client side is blocking std I/O with a read
//! timeout, so a server that hangs makes a test fail with a message instead of hanging
//! the suite, and the response reader is a strict little parser so that a framing
//! mistake by the server (a wrong `content-length`, a malformed chunk) is a test
//! failure, not something a lenient client papers over.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rasgi_executor::log::Level;
use rasgi_http::server::{Config, ServerHandle};
use rasgi_http::{header, App, AppError, Receive, ReceiveEvent, Scope, Sender, ServerError};

/// How long any single read or write may block before the test fails: long enough for a
/// loaded two-core machine, short enough that a wedged server fails the suite quickly.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A server configuration for tests: a free port, no signal handling (the test process
/// owns its signals), quiet logs (set `RASGI_TEST_LOG=info` to see them), and a short
/// graceful-shutdown bound so that stopping a server never stalls a test.
pub fn config() -> Config {
    let log_level = std::env::var("RASGI_TEST_LOG").ok().and_then(|l| Level::parse(&l)).unwrap_or(Level::Off);
    Config {
        port: 0,
        handle_signals: false,
        access_log: log_level >= Level::Info,
        log_level,
        timeout_graceful_shutdown: Duration::from_secs(2),
        ..Config::default()
    }
}

/// A server running in background threads of this process; stopped when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `None` once stopped.
    handle: Option<ServerHandle>,
}

impl TestServer {
    /// Starts `make_app` under `config`; panics if the server does not start.
    pub fn start<A, F>(config: Config, make_app: F) -> TestServer
    where
        A: App,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let handle = rasgi_http::server::start(config, make_app).expect("the test server should start");
        TestServer { addr: handle.local_addr(), handle: Some(handle) }
    }

    /// Starts the [`Echo`] application with [`config`].
    pub fn echo() -> TestServer {
        TestServer::start(config(), || Echo)
    }

    /// Asks for a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        if let Some(handle) = &self.handle {
            handle.shutdown();
        }
    }

    /// Shuts down gracefully and waits for every worker to finish.
    pub fn stop(mut self) -> Result<(), ServerError> {
        let handle = self.handle.take().expect("not yet stopped");
        handle.shutdown();
        handle.join()
    }

    /// A new raw connection to this server.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
            let _ = handle.join();
        }
    }
}

/// The default test application.
///
/// It reads the whole request body, then answers `200 text/plain` with the body it
/// received, or with the request path when the body was empty — so pipelined responses
/// can be matched to their requests. `/events` answers the number of `http.request`
/// events the body arrived in instead.
pub struct Echo;

/// Reads a whole request body: the bytes and the number of `http.request` events they
/// came in, or `None` if the client disconnected first.
pub async fn read_body(receive: &Receive<'_>) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut events = 0;
    loop {
        match receive.receive().await {
            ReceiveEvent::Request { body: piece, more_body } => {
                events += 1;
                body.extend_from_slice(&piece);
                if !more_body {
                    return Some((body, events));
                }
            }
            ReceiveEvent::Disconnect => return None,
        }
    }
}

impl App for Echo {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let Some((body, events)) = read_body(receive).await else { return Ok(()) };
        let answer = if scope.path() == "/events" {
            events.to_string().into_bytes()
        } else if body.is_empty() {
            scope.path().as_bytes().to_vec()
        } else {
            body
        };
        send.respond(200, vec![header("content-type", "text/plain")], &answer).await?;
        Ok(())
    }
}

/// Answers `client=IP:PORT scheme=SCHEME` (`client=none` on a Unix-domain socket): what
/// the server made of the connection and its proxy headers.
pub struct WhoAmI;

impl App for WhoAmI {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let client = scope.client().map_or("none".to_owned(), |c| c.to_string());
        send.respond(200, vec![], format!("client={client} scheme={}", scope.scheme()).as_bytes()).await?;
        Ok(())
    }
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The exact bytes of the response, head and framed body.
    pub raw: Vec<u8>,
    /// `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// Header fields in order, as sent.
    pub headers: Vec<(String, String)>,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// How many headers are called `name` (case-insensitive).
    pub fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    /// The raw response as text with the date value replaced by `<DATE>`, for exact
    /// comparisons.
    pub fn normalized(&self) -> String {
        normalize_date(&String::from_utf8_lossy(&self.raw))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every response must carry a current `date`, `server: rasgi`, and exactly one way
    /// of delimiting its body, except those that may not have a body at all.
    pub fn assert_standard_headers(&self) {
        assert_eq!(self.count("date"), 1, "one date header in {:?}", self.normalized());
        assert_current_date(self.header("date").unwrap_or_default());
        assert_eq!(self.header("server"), Some("rasgi"), "server header in {:?}", self.normalized());
        let framings = self.count("content-length") + self.count("transfer-encoding");
        if matches!(self.status, 100..=199 | 204 | 304) {
            assert_eq!(framings, 0, "no framing header on a {} response: {:?}", self.status, self.normalized());
        } else {
            assert_eq!(framings, 1, "exactly one framing header in {:?}", self.normalized());
            if let Some(te) = self.header("transfer-encoding") {
                assert_eq!(te, "chunked");
            }
        }
    }
}

/// Replaces the value of every `date:` header with `<DATE>`.
pub fn normalize_date(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("date: ") {
        let (before, after) = rest.split_at(i + "date: ".len());
        out.push_str(before);
        match after.find("\r\n") {
            Some(end) => {
                out.push_str("<DATE>");
                rest = &after[end..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The date must be the current second in IMF-fixdate form (allowing for a slow
/// machine: the last few seconds).
pub fn assert_current_date(value: &str) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
    let ok = (now.saturating_sub(5)..=now + 1).any(|t| rasgi_http::date::format_http_date(t) == value.as_bytes());
    assert!(ok, "date {value:?} is not the current time as an IMF-fixdate");
}

/// A blocking test client on one connection. It keeps whatever it read beyond the
/// current response, so pipelined responses are read one after another.
pub struct Client {
    /// The connection.
    pub stream: TcpStream,
    /// Bytes received and not yet handed out as part of a response.
    pending: Vec<u8>,
    /// How many `recv` calls returned data.
    pub reads: usize,
}

impl Client {
    /// Connects, with [`IO_TIMEOUT`] on every read and write.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set write timeout");
        stream.set_nodelay(true).expect("set nodelay");
        Client { stream, pending: Vec::new(), reads: 0 }
    }

    /// Sends bytes; panics if the server is not reading them.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("send to the server");
    }

    /// Sends bytes, reporting an error instead of panicking (the server may have closed).
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// One `recv` into the pending buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n > 0 {
            self.reads += 1;
            self.pending.extend_from_slice(&chunk[..n]);
        }
        Ok(n)
    }

    /// Reads the next response to a request other than `HEAD`.
    pub fn response(&mut self) -> Response {
        self.response_to("GET")
    }

    /// Reads the next response to a request with this method (`HEAD` responses have no
    /// body whatever their headers say).
    pub fn response_to(&mut self, method: &str) -> Response {
        let started = Instant::now();
        loop {
            match parse_response(&self.pending, method == "HEAD", false) {
                Ok(Some((response, used))) => {
                    self.pending.drain(..used);
                    return response;
                }
                Ok(None) => {}
                Err(e) => panic!("malformed response: {e}\n{:?}", String::from_utf8_lossy(&self.pending)),
            }
            match self.fill() {
                Ok(0) | Err(_) => {
                    // End of stream: only a body delimited by closing may end here.
                    match parse_response(&self.pending, method == "HEAD", true) {
                        Ok(Some((response, used))) => {
                            self.pending.drain(..used);
                            return response;
                        }
                        _ => panic!(
                            "connection ended after {:?} without a complete response; received {:?}",
                            started.elapsed(),
                            String::from_utf8_lossy(&self.pending)
                        ),
                    }
                }
                Ok(_) => {}
            }
        }
    }

    /// Everything the server sends until it closes the connection (a reset counts as
    /// closing: a server that closes with unread request bytes sends RST after its FIN).
    pub fn read_until_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "waiting for the server to close: {e}; received {:?}",
                    String::from_utf8_lossy(&self.pending)
                ),
            }
        }
        std::mem::take(&mut self.pending)
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub fn assert_closed(&mut self) {
        let rest = self.read_until_close();
        assert!(rest.is_empty(), "expected the connection to close, got {:?}", String::from_utf8_lossy(&rest));
    }

    /// Waits up to `wait` for bytes; returns what arrived (empty if nothing did). Leaves
    /// the read timeout at [`IO_TIMEOUT`] afterwards.
    pub fn read_for(&mut self, wait: Duration) -> Vec<u8> {
        self.stream.set_read_timeout(Some(wait)).expect("set read timeout");
        let result = self.fill();
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set read timeout");
        match result {
            Ok(_) => std::mem::take(&mut self.pending),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Vec::new(),
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Bytes read but not yet returned as part of a response.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// Parses one response from the start of `buf`. `Ok(None)`: incomplete. `at_eof`: the
/// connection has ended, so a body without length ends here.
pub fn parse_response(buf: &[u8], head_request: bool, at_eof: bool) -> Result<Option<(Response, usize)>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(": ").ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    let mut response =
        Response { raw: Vec::new(), status_line, status, headers, body: Vec::new(), trailers: Vec::new() };
    let body_start = head_end + 4;
    let no_body = head_request || matches!(status, 100..=199 | 204 | 304);
    let end = if no_body {
        body_start
    } else if response.header("transfer-encoding").is_some() {
        match decode_chunked(&buf[body_start..], &mut response)? {
            Some(used) => body_start + used,
            None => return Ok(None),
        }
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().map_err(|_| format!("bad content-length {length:?}"))?;
        if buf.len() < body_start + length {
            return Ok(None);
        }
        response.body = buf[body_start..body_start + length].to_vec();
        body_start + length
    } else if at_eof {
        response.body = buf[body_start..].to_vec();
        buf.len()
    } else {
        return Ok(None);
    };
    response.raw = buf[..end].to_vec();
    Ok(Some((response, end)))
}

/// Strictly decodes a chunked body into `response.body`; returns the bytes used, or
/// `None` if incomplete.
fn decode_chunked(buf: &[u8], response: &mut Response) -> Result<Option<usize>, String> {
    let mut pos = 0;
    loop {
        let Some(line_end) = find(&buf[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| "chunk size not UTF-8")?;
        let size = usize::from_str_radix(line, 16).map_err(|_| format!("bad chunk size line {line:?}"))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let Some(line_end) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| "trailer not UTF-8")?;
                pos += line_end + 2;
                if line.is_empty() {
                    return Ok(Some(pos));
                }
                let (name, value) = line.split_once(": ").ok_or_else(|| format!("bad trailer {line:?}"))?;
                response.trailers.push((name.to_owned(), value.to_owned()));
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        response.body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// The index of the first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends one request on a new connection and reads its response.
pub fn exchange(addr: SocketAddr, request: impl AsRef<[u8]>) -> Response {
    let mut client = Client::connect(addr);
    client.send(request);
    client.response()
}

/// `GET /still-serving` on a new connection must get `200`: the server survived
/// whatever the test did before.
pub fn assert_still_serving(addr: SocketAddr) {
    let response = exchange(addr, "GET /still-serving HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "the server must keep serving new clients");
}

/// Sends `request` on a new connection and asserts the server's own error response
/// (see [`assert_error_response`]), then that the next client is served.
pub fn assert_rejected(addr: SocketAddr, request: impl AsRef<[u8]>, status: u16) -> Response {
    let request = request.as_ref();
    let mut client = Client::connect(addr);
    // The server may answer and close before reading everything; a failed write is fine
    // as long as the answer arrives.
    let _ = client.try_send(request);
    let raw = client.read_until_close();
    let response = assert_error_response(&raw, status, &String::from_utf8_lossy(request));
    assert_still_serving(addr);
    response
}

/// Asserts that `raw` (everything received until the server closed) is exactly one of
/// the server's own error responses: this status, the standard head, `connection:
/// close`, and a plain-text body that names the status. `what` names the request in
/// failure messages.
pub fn assert_error_response(raw: &[u8], status: u16, what: &str) -> Response {
    let (response, used) = match parse_response(raw, false, false) {
        Ok(Some(parsed)) => parsed,
        other => panic!("no complete response to {what:?}: {other:?}; received {:?}", String::from_utf8_lossy(raw)),
    };
    let reason = rasgi_http::server::reason_phrase(status);
    let body_len = response.body.len();
    let expected_head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: {body_len}\r\nconnection: close\r\n\r\n"
    );
    assert_eq!(
        normalize_date(&String::from_utf8_lossy(&raw[..used - body_len])),
        expected_head,
        "response to {what:?}"
    );
    assert!(
        response.text().starts_with(&format!("{status} {reason}: ")),
        "the body names the status: {:?} (request {what:?})",
        response.text()
    );
    assert_eq!(used, raw.len(), "nothing may follow the error response to {what:?}");
    response.assert_standard_headers();
    response
}

/// Raises this process's open-file limit to its hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid, initialised rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    limit.rlim_cur
}

/// True if `tool` can be run. A missing tool fails the test under `CI=true` and skips it
/// (loudly) elsewhere.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} is required under CI but was not found");
        }
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// Builds an example of the `rasgi-http` package and returns its path.
///
/// Cargo builds the binaries of an integration test's own package for it
/// (`CARGO_BIN_EXE_<name>`), but these examples belong to `rasgi-http`, so the test
/// asks Cargo itself — the same `cargo`, manifest and target directory the tests were
/// built with — and reads the executable's path from Cargo's JSON messages rather than
/// guessing the target directory and profile. Built once per test process.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", "rasgi-http", "--example", name, "--message-format=json", "--manifest-path"])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo to build the example");
    assert!(output.status.success(), "cargo build --example {name} failed");
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo did not report an executable for example {name}"));
    built.insert(name.to_owned(), path.clone());
    path
}

/// A server running as a separate process, with its stderr collected line by line.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// Where it listens (read from its startup log line).
    pub addr: SocketAddr,
    /// Every stderr line so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `binary` with `args` and `env`, and waits until it logs the address it
    /// listens on.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(binary);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("running on http://").nth(1).and_then(|rest| rest.split(' ').next()) {
                    let _ = addr_tx.send(addr.parse::<SocketAddr>().ok());
                }
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(addr)) => addr,
            _ => {
                let _ = child.kill();
                panic!(
                    "the server process did not report its address; stderr: {:?}",
                    stderr.lock().unwrap_or_else(|e| e.into_inner())
                );
            }
        };
        ServerProcess { child, addr, stderr }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill() takes no pointers; the pid is our own child's, not yet reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The stderr lines so far, joined.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `check` until it returns true or `limit` passes; returns whether it did.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What an application saw, in order, written by the application (on its server thread)
/// and read by the test.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    /// Appends an entry.
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry.into());
    }

    /// The entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (up to [`IO_TIMEOUT`]) until there are at least `n` entries; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        assert!(
            eventually(IO_TIMEOUT, || self.entries().len() >= n),
            "expected {n} journal entries, have {:?}",
            self.entries()
        );
        self.entries()
    }
}
