//! Real clients against the server, not just hand-written bytes: `curl` (two URLs over
//! one kept-alive connection, a chunked upload from a file, HTTP/1.0) and Python's
//! `http.client` (keep-alive, a chunked upload from a generator, a chunked streamed
//! response, HEAD). A missing tool fails the test under `CI=true` and skips it loudly
//! elsewhere.

mod server_support;

use std::process::Command;

use rasgi_http::{header, App, AppError, Receive, Scope, SendEvent, Sender};
use server_support::{config, have_tool, Echo, TestServer};

/// `/upload` echoes the body and reports, in headers, how it arrived; `/stream` streams
/// a response; anything else is [`Echo`].
struct ClientsApp;

impl App for ClientsApp {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        match scope.path() {
            "/upload" => {
                let te = String::from_utf8_lossy(scope.header("transfer-encoding").unwrap_or(b"none")).into_owned();
                let Some((body, events)) = server_support::read_body(receive).await else { return Ok(()) };
                let headers = vec![header("x-request-te", te), header("x-request-events", events.to_string())];
                send.respond(200, headers, &body).await?;
            }
            "/stream" => {
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-type", "text/plain")],
                    trailers: false,
                })
                .await?;
                for piece in ["streamed ", "in ", "pieces"] {
                    send.send(SendEvent::Body { body: piece.as_bytes(), more_body: true }).await?;
                }
                send.send(SendEvent::Body { body: b"", more_body: false }).await?;
            }
            _ => Echo.call(scope, receive, send).await?,
        }
        Ok(())
    }
}

fn start() -> TestServer {
    TestServer::start(config(), || ClientsApp)
}

/// Runs curl with `args`; returns (stdout, stderr), failing the test if curl fails.
fn curl(args: &[&str]) -> (Vec<u8>, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "curl {args:?} failed: {stderr}");
    (output.stdout, stderr)
}

#[test]
fn curl_reuses_one_keep_alive_connection_for_two_urls() {
    if !have_tool("curl") {
        return;
    }
    let server = start();
    let (a, b) = (format!("http://{}/first", server.addr), format!("http://{}/second", server.addr));
    let (stdout, stderr) = curl(&["--verbose", &a, &b]);
    assert_eq!(String::from_utf8_lossy(&stdout), "/first/second");
    assert!(stderr.contains("Re-using existing connection"), "curl opened a second connection:\n{stderr}");
    assert_eq!(stderr.matches("Connected to").count(), 1, "one TCP connection:\n{stderr}");
}

#[test]
fn curl_uploads_a_file_chunked() {
    if !have_tool("curl") {
        return;
    }
    let server = start();
    // 300 KB of varied bytes: more than one read buffer, so it arrives in several pieces.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let dir = std::env::temp_dir().join(format!("rasgi-curl-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("upload.bin");
    std::fs::write(&file, &content).expect("write the upload");
    let headers_file = dir.join("headers.txt");
    let (stdout, _) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", file.display()),
        "--dump-header",
        &headers_file.display().to_string(),
        &format!("http://{}/upload", server.addr),
    ]);
    let headers = std::fs::read_to_string(&headers_file).expect("curl wrote the headers");
    std::fs::remove_dir_all(&dir).ok();
    assert!(stdout == content, "the echoed upload differs ({} bytes back)", stdout.len());
    assert!(headers.starts_with("HTTP/1.1 200 OK\r\n"), "{headers}");
    assert!(headers.contains("x-request-te: chunked\r\n"), "curl sent it chunked: {headers}");
    let events: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("x-request-events: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("x-request-events");
    assert!(events >= 2, "a 300 KB upload came in one event");
}

#[test]
fn curl_speaks_http_1_0() {
    if !have_tool("curl") {
        return;
    }
    let server = start();
    let (stdout, stderr) = curl(&["--verbose", "--http1.0", &format!("http://{}/old", server.addr)]);
    assert_eq!(String::from_utf8_lossy(&stdout), "/old");
    assert!(stderr.contains("> GET /old HTTP/1.0"), "{stderr}");
    assert!(stderr.contains("< HTTP/1.0 200 OK"), "{stderr}");
    assert!(stderr.contains("< content-length: 4"), "{stderr}");
}

/// The Python side: every exchange's result, printed as one JSON object.
const PYTHON_CLIENT: &str = r#"
import http.client, json, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
out = {}
conn.request("GET", "/py-one")
r = conn.getresponse()
out["one"] = [r.status, r.read().decode()]
first_socket = conn.sock
conn.request("GET", "/py-two")
r = conn.getresponse()
out["two"] = [r.status, r.read().decode()]
out["same_connection"] = conn.sock is first_socket
def pieces():
    yield b"sent "
    yield b"from a "
    yield b"generator"
conn.request("POST", "/upload", body=pieces())
r = conn.getresponse()
out["upload"] = [r.status, r.getheader("x-request-te"), r.read().decode()]
conn.request("GET", "/stream")
r = conn.getresponse()
out["stream"] = [r.status, r.getheader("transfer-encoding"), r.read().decode()]
conn.request("HEAD", "/headed")
r = conn.getresponse()
out["head"] = [r.status, r.getheader("content-length"), r.read().decode()]
out["still_same_connection"] = conn.sock is first_socket
print(json.dumps(out))
"#;

#[test]
fn python_http_client_talks_to_the_server() {
    if !have_tool("python3") {
        return;
    }
    let server = start();
    let output = Command::new("python3")
        .args(["-c", PYTHON_CLIENT, &server.addr.ip().to_string(), &server.addr.port().to_string()])
        .output()
        .expect("run python3");
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("python printed JSON");
    assert_eq!(
        result,
        serde_json::json!({
            "one": [200, "/py-one"],
            "two": [200, "/py-two"],
            "same_connection": true,
            "upload": [200, "chunked", "sent from a generator"],
            "stream": [200, "chunked", "streamed in pieces"],
            "head": [200, "7", ""],
            "still_same_connection": true,
        })
    );
}
