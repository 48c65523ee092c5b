//! The client against a real TLS server: nginx with a CA made at test time. GET and POST
//! with JSON, keep-alive reuse proven from nginx's access log, certificate failures named,
//! `SSL_CERT_FILE`, an `https://` URL aimed at a plain-HTTP port, and what an end of
//! stream without `close_notify` means.

mod tls_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rasgi_executor::block_on;
use rasgi_http::client::{CertificateCheck, Client};
use tls_support::nginx::Nginx;
use tls_support::pki::Pki;
use tls_support::plain::{response, PlainServer, Reply};
use tls_support::{within, TempDir};

fn run<F: std::future::Future<Output = ()>>(body: impl FnOnce() -> F + Send + 'static) {
    within(Duration::from_secs(60), move || block_on(body()));
}

/// A client that trusts the test CA (and not `SSL_CERT_FILE`, so that the environment the
/// tests run in cannot change their outcome).
fn trusting(ca: &std::path::Path) -> Client {
    Client::builder().trust_env(false).ca_file(ca).build().unwrap()
}

#[test]
fn get_json_over_tls() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, url, ip_url) = (pki.ca_pem(), nginx.url("/json"), format!("https://127.0.0.1:{}/json", nginx.port));
    run(move || async move {
        let client = trusting(&ca);
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let value: serde_json::Value = response.json().await.unwrap();
        assert_eq!(value, serde_json::json!({"ok": true, "server": "nginx"}));
        // By IP address: no SNI is sent, and the certificate's IP entry is checked.
        let value: serde_json::Value = client.get(&ip_url).send().await.unwrap().json().await.unwrap();
        assert_eq!(value["ok"], true);
    });
}

#[test]
fn post_json_over_tls() {
    // nginx terminates TLS and proxies /echo to a plain server that echoes the body back.
    let upstream = PlainServer::start(|seen| {
        let headers = format!("content-type: {}\r\n", seen.header("content-type").unwrap_or("none"));
        Reply::SendAndClose(response(200, &headers, &seen.body))
    });
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, Some(upstream.port()));
    let (ca, url) = (pki.ca_pem(), nginx.url("/echo"));
    run(move || async move {
        let client = trusting(&ca);
        let sent = serde_json::json!({"message": "Hello, World!", "list": [1, 2, 3]});
        let response = client.post(&url).json(&sent).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let echoed: serde_json::Value = response.json().await.unwrap();
        assert_eq!(echoed, sent);
    });
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
}

#[test]
fn a_hundred_sequential_requests_use_one_tls_connection() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, base) = (pki.ca_pem(), nginx.url("/json"));
    run(move || async move {
        let client = trusting(&ca);
        for i in 0..100 {
            let response = client.get(format!("{base}?i={i}")).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
        }
        assert_eq!(client.idle_connections(), 1);
    });
    // The server's view: one connection serial number, requests 1..=100 on it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines: Vec<_> = nginx.access_log().into_iter().filter(|l| l.uri.starts_with("/json?i=")).collect();
        if lines.len() >= 100 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 100, "{lines:?}");
    assert!(lines.iter().all(|l| l.connection == lines[0].connection), "more than one connection: {lines:?}");
    let numbers: Vec<u64> = lines.iter().map(|l| l.connection_requests).collect();
    assert_eq!(numbers, (1..=100).collect::<Vec<u64>>());
}

#[test]
fn concurrent_requests_share_the_pool() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, url) = (pki.ca_pem(), nginx.url("/"));
    run(move || async move {
        let client = trusting(&ca);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                rasgi_executor::spawn(async move {
                    for _ in 0..5 {
                        let body = client.get(&url).send().await.unwrap().bytes().await.unwrap();
                        assert_eq!(body, b"Hello, World!");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(client.idle_connections() <= 16);
    });
    let connections: std::collections::HashSet<u64> = nginx.access_log().iter().map(|l| l.connection).collect();
    assert!(connections.len() <= 16, "{} connections for 16 concurrent tasks", connections.len());
}

#[test]
fn without_the_test_ca_the_issuer_is_unknown() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let url = nginx.url("/json");
    run(move || async move {
        let client = Client::builder().trust_env(false).build().unwrap();
        let error = client.get(&url).send().await.unwrap_err();
        assert_eq!(error.step(), "tls", "{error}");
        assert_eq!(error.certificate_check(), Some(CertificateCheck::UnknownIssuer), "{error}");
        assert!(error.to_string().contains("unknown issuer"), "{error}");
    });
}

#[test]
fn a_certificate_for_another_name_is_a_name_mismatch() {
    // The certificate on `other_port` is valid (our CA signed it) but names only
    // `other.test`; we connect as `localhost`.
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, url) = (pki.ca_pem(), format!("https://localhost:{}/", nginx.other_port));
    run(move || async move {
        let client = trusting(&ca);
        let error = client.get(&url).send().await.unwrap_err();
        assert_eq!(error.step(), "tls", "{error}");
        assert_eq!(error.certificate_check(), Some(CertificateCheck::NameMismatch), "{error}");
        assert!(error.to_string().contains("host name mismatch"), "{error}");
    });
}

#[test]
fn redirects_over_tls() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, url, looping) = (pki.ca_pem(), nginx.url("/redirect"), nginx.url("/redirect-loop"));
    run(move || async move {
        let client = trusting(&ca);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 302);
        let response = client.get(&url).follow_redirects(true).max_redirects(3).send().await.unwrap();
        assert_eq!(response.url().path(), "/json");
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["ok"], true);
        let error = client.get(&looping).follow_redirects(true).max_redirects(3).send().await.unwrap_err();
        assert_eq!(error.step(), "redirect");
    });
}

#[test]
fn https_to_a_plain_http_port_says_the_server_did_not_speak_tls() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let (ca, port) = (pki.ca_pem(), nginx.plain_port);
    run(move || async move {
        let client = trusting(&ca);
        // The port does serve plain HTTP...
        let value: serde_json::Value =
            client.get(format!("http://localhost:{port}/json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(value["server"], "nginx");
        // ... so the TLS handshake gets nginx's `400 Bad Request` in reply, and says so.
        let error = client.get(format!("https://localhost:{port}/json?api_key=TOPSECRET")).send().await.unwrap_err();
        assert_eq!(error.step(), "tls");
        assert_eq!(
            error.to_string(),
            "TLS handshake with localhost failed: the server did not speak TLS: it answered in plain HTTP, so \
             this port serves http://, not https:// (use an http:// URL, or the server's TLS port)"
        );
    });
}

/// Environment variables are process-wide and tests run on parallel threads, so the
/// `SSL_CERT_FILE` test re-runs itself in a child process with the variable set there.
const CHILD_URL: &str = "RASGI_TEST_CHILD_URL";

#[test]
fn ssl_cert_file_is_trusted() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        // In the child: `Client::new()` reads SSL_CERT_FILE.
        run(move || async move {
            let client = Client::new().unwrap();
            let value: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
            assert_eq!(value["ok"], true);
        });
        return;
    }
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ssl_cert_file_is_trusted", "--test-threads=1"])
        .env("SSL_CERT_FILE", pki.ca_pem())
        .env(CHILD_URL, nginx.url("/json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

const CHILD_BAD_FILE: &str = "RASGI_TEST_CHILD_BAD_CA";

#[test]
fn an_unreadable_ssl_cert_file_is_a_configuration_error() {
    if std::env::var_os(CHILD_BAD_FILE).is_some() {
        let error = Client::new().unwrap_err();
        assert_eq!(error.step(), "config", "{error}");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "an_unreadable_ssl_cert_file_is_a_configuration_error", "--test-threads=1"])
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .env(CHILD_BAD_FILE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("1 passed"), "child failed: {stdout}");
}

/// Python's `ssl` server, which closes the socket without sending `close_notify` (unless
/// the path asks for a proper TLS shutdown): a common peer that ends a response with a bare
/// EOF, which the client must judge by the response's framing.
const PYTHON_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
bodies = {
    b"/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"/close-delimited": b"HTTP/1.1 200 OK\r\n\r\nhello",
    b"/close-delimited-notify": b"HTTP/1.1 200 OK\r\n\r\nhello",
    b"/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
}
while True:
    raw, _ = listener.accept()
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        path = data.split(b" ")[1] if b" " in data else b""
        conn.sendall(bodies.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        if path == b"/close-delimited-notify":
            conn.unwrap()  # sends close_notify (and waits for the client's)
    except Exception as e:
        print("server:", e, file=sys.stderr, flush=True)
    finally:
        try:
            conn.close()  # frees the TLS object without a shutdown: no close_notify
        except Exception:
            raw.close()
"#;

/// The Python server as a child process, killed on drop.
struct PythonTls {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl PythonTls {
    fn start(pki: &Pki) -> Option<PythonTls> {
        let dir = TempDir::new("python-tls");
        let script = dir.path().join("server.py");
        std::fs::write(&script, PYTHON_SERVER).ok()?;
        let (cert, key) = pki.cert_and_key("server");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&cert)
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
        let port = line.trim().parse().ok()?;
        Some(PythonTls { child, port, _dir: dir })
    }
}

impl Drop for PythonTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn end_of_stream_without_close_notify() {
    let pki = Pki::generate();
    let Some(server) = PythonTls::start(&pki) else {
        eprintln!("python3 is not available; skipping the close_notify test");
        return;
    };
    let (ca, port) = (pki.ca_pem(), server.port);
    run(move || async move {
        let client = trusting(&ca);
        let url = |path: &str| format!("https://localhost:{port}{path}");
        // Framing says complete (all Content-Length bytes, or the last chunk): the body is
        // whole, whatever happens to the connection next.
        assert_eq!(client.get(url("/length")).send().await.unwrap().text().await.unwrap(), "hello");
        assert_eq!(client.get(url("/chunked")).send().await.unwrap().text().await.unwrap(), "hello");
        // A body that ends only with the connection is trusted only with close_notify.
        assert_eq!(client.get(url("/close-delimited-notify")).send().await.unwrap().text().await.unwrap(), "hello");
        let error = client.get(url("/close-delimited")).send().await.unwrap().text().await.unwrap_err();
        assert_eq!(error.step(), "read", "{error}");
        assert!(error.to_string().contains("without TLS close_notify"), "{error}");
        // Cut in the middle of a Content-Length body: truncated.
        let error = client.get(url("/truncated")).send().await.unwrap().text().await.unwrap_err();
        assert!(error.to_string().contains("after 5 of 10 body bytes"), "{error}");
    });
}
