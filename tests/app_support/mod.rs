//! A minimal blocking HTTP/1.1 client for tests: one request per connection, the
//! response parsed just enough to assert on status, headers and body.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with an optional body and `Connection: close`, reads to EOF.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse(&raw)
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None)
}

/// Parses one response with a content-length or chunked body.
pub fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("complete head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    Reply { status, headers, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size, 16).expect("hex size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// The demo binary (`rasgi`) running on a free port, its stderr collected line by line.
/// Killed when dropped; [`Demo::interrupt`] stops it the way a person does.
pub struct Demo {
    child: std::process::Child,
    pub addr: SocketAddr,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Demo {
    /// Starts the demo with extra flags; no database (`RASGI_DEMO_DATABASE=off`), no
    /// trace, no `DATABASE_URL`, `SSL_CERT_FILE` or `RUST_BACKTRACE` from the caller's
    /// environment.
    pub fn start(args: &[&str]) -> Demo {
        Demo::start_with(args, &[("RASGI_DEMO_DATABASE", "off")])
    }

    /// Starts the demo with extra flags and environment (which may turn the database,
    /// the trace or a CA bundle on). Waits for it to print its address; the first start
    /// of a throwaway PostgreSQL (`initdb`) makes this take a few seconds.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Demo {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut command = Command::new(env!("CARGO_BIN_EXE_rasgi"));
        command.args(["--port", "0"]).args(args);
        let inherited = [
            "DATABASE_URL",
            "SSL_CERT_FILE",
            "RASGI_TRACE",
            "RASGI_TRACE_FILE",
            "RASGI_DEMO_DATABASE",
            "EXTERNAL_API_URL",
            "RUST_BACKTRACE",
        ];
        for name in inherited {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("start the demo binary");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("running on http://").nth(1) {
                    let _ = addr_tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(120)).expect("the demo prints its address");
        Demo { child, addr: addr.parse().expect("a socket address"), log }
    }

    /// Lines logged so far.
    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The lines logged after the first `from`.
    pub fn log_since(&self, from: usize) -> Vec<String> {
        self.log.lock().unwrap().get(from..).map(<[String]>::to_vec).unwrap_or_default()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// `GET /_rasgi/state`, parsed.
    pub fn state(&self) -> serde_json::Value {
        let reply = get(self.addr, "/_rasgi/state");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
    }

    /// Reads the state until `done` accepts it, or panics after `limit` showing the last.
    pub fn state_when(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let state = self.state();
            if done(&state) {
                return state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no state showed {what} within {limit:?}; the last was:\n{state:#}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT and returns the exit status.
    pub fn interrupt(self) -> std::process::ExitStatus {
        self.stop_with(libc::SIGINT)
    }

    /// Sends SIGTERM (what a deploy tool sends) and returns the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.stop_with(libc::SIGTERM)
    }

    fn stop_with(mut self, signal: libc::c_int) -> std::process::ExitStatus {
        // SAFETY: kill() with the pid of our own child and a valid signal number.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the demo did not exit after signal {signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
