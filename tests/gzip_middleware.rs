//! `GZipMiddleware` over real sockets: the exact response heads for each rule of the
//! middleware (raw HTTP/1.1 bytes, Date normalised), bodies decoded by Python's `zlib`
//! (C zlib), a streamed response that is decodable piece by piece, and real `curl
//! --compressed` against the demo binary, which enables the middleware.

mod app_support;
mod server_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use rasgi_http::gzip::GZipMiddleware;
use rasgi_http::{header, App, AppError, Receive, Scope, SendEvent, Sender};
use server_support::{config, find, Client, TestServer};

/// 2000 bytes of JSON-ish text: above the 500-byte minimum.
fn big_body() -> Vec<u8> {
    (0..100).map(|i| format!("{{\"n\":{i:04},\"x\":\"abcdef\"}}\n")).collect::<String>().into_bytes()
}

/// Routes for each rule: `/big`, `/small`, `/encoded` (already `br`), `/events`
/// (`text/event-stream`), `/length` (the app's own content-length), `/stream` (three
/// pieces, the second after the client has seen the first).
struct Routes;

impl App for Routes {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let big = big_body();
        let text = || header("content-type", "text/plain");
        match scope.path() {
            "/small" => send.respond(200, vec![text()], b"tiny").await?,
            "/encoded" => send.respond(200, vec![text(), header("content-encoding", "br")], &big).await?,
            "/events" => send.respond(200, vec![header("content-type", "text/event-stream")], &big).await?,
            "/length" => {
                let headers = vec![text(), header("content-length", big.len().to_string()), header("vary", "Origin")];
                send.respond(200, headers, &big).await?
            }
            "/stream" => {
                send.send(SendEvent::Start { status: 200, headers: vec![text()], trailers: false }).await?;
                for piece in [&b"first piece\n"[..], b"second piece\n"] {
                    send.send(SendEvent::Body { body: piece, more_body: true }).await?;
                    rasgi_executor::sleep(Duration::from_millis(300)).await;
                }
                send.send(SendEvent::Body { body: b"last\n", more_body: false }).await?;
            }
            _ => send.respond(200, vec![text()], &big).await?,
        }
        Ok(())
    }
}

fn server() -> TestServer {
    TestServer::start(config(), || GZipMiddleware::new(Routes))
}

fn get(server: &TestServer, path: &str, accept: Option<&str>) -> server_support::Response {
    let accept = accept.map(|a| format!("accept-encoding: {a}\r\n")).unwrap_or_default();
    let mut client = Client::connect(server.addr);
    client.send(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{accept}\r\n"));
    client.response()
}

/// Decodes with C zlib (`wbits=31`: gzip), strictly: one whole member, nothing after it.
fn python_gunzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys,zlib; d=zlib.decompressobj(31); out=d.decompress(sys.stdin.buffer.read()); \
             assert d.eof and not d.unused_data, 'incomplete or trailing'; sys.stdout.buffer.write(out)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed (installed by .ci/test-all)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "zlib refused the body");
    output.stdout
}

#[test]
fn a_big_body_is_gzipped_with_vary_and_its_length() {
    let server = server();
    let reply = get(&server, "/big", Some("gzip, deflate"));
    let length = reply.body.len();
    let text = reply.normalized();
    assert_eq!(
        &text[..text.find("\r\n\r\n").unwrap() + 4],
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nvary: Accept-Encoding\r\ncontent-encoding: gzip\r\n\
             server: rasgi\r\ndate: <DATE>\r\ncontent-length: {length}\r\n\r\n"
        )
    );
    assert!(length < 600, "2000 repetitive bytes should shrink, got {length}");
    assert_eq!(python_gunzip(&reply.body), big_body());

    // The application's own content-length is replaced, and an existing vary extended.
    let reply = get(&server, "/length", Some("gzip"));
    assert_eq!(reply.count("content-length"), 1);
    assert_eq!(reply.header("content-length"), Some(reply.body.len().to_string().as_str()));
    assert_eq!(reply.header("vary"), Some("Origin, Accept-Encoding"));
    assert_eq!(python_gunzip(&reply.body), big_body());
}

#[test]
fn responses_the_middleware_leaves_alone() {
    let server = server();
    let plain = |reply: &server_support::Response| {
        assert_eq!(reply.header("content-encoding"), None);
        assert_eq!(reply.header("vary"), None);
    };
    for accept in [None, Some("gzip;q=0"), Some("identity"), Some("br, *;q=0")] {
        let reply = get(&server, "/big", accept);
        plain(&reply);
        assert_eq!(reply.body, big_body(), "{accept:?}");
    }
    let reply = get(&server, "/small", Some("gzip"));
    assert_eq!(
        reply.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 4\r\n\r\ntiny"
    );
    let reply = get(&server, "/encoded", Some("gzip"));
    assert_eq!(reply.header("content-encoding"), Some("br"));
    assert_eq!(reply.body, big_body());
    let reply = get(&server, "/events", Some("gzip"));
    plain(&reply);
    assert_eq!(reply.body, big_body());
    // A client accepting anything gets gzip.
    assert_eq!(get(&server, "/big", Some("*")).header("content-encoding"), Some("gzip"));
}

#[test]
fn a_stream_is_compressed_piece_by_piece_and_decodable_as_it_arrives() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send("GET /stream HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\n\r\n");
    let mut wire = Vec::new();
    while !wire.ends_with(b"0\r\n\r\n") {
        wire.extend_from_slice(&client.read_for(Duration::from_millis(50)));
    }
    let head_end = find(&wire, b"\r\n\r\n").expect("a head") + 4;
    assert_eq!(
        server_support::normalize_date(&String::from_utf8_lossy(&wire[..head_end])),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nvary: Accept-Encoding\r\ncontent-encoding: gzip\r\n\
         server: rasgi\r\ndate: <DATE>\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    // The chunks as sent: each application piece became one chunk that ends on a sync
    // flush (00 00 ff ff), so the first chunk alone decodes to the first piece — a client
    // sees it 300 ms before the second exists.
    let mut chunks = Vec::new();
    let mut rest = &wire[head_end..];
    loop {
        let line = find(rest, b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        chunks.push(rest[line + 2..line + 2 + size].to_vec());
        rest = &rest[line + 2 + size + 2..];
    }
    assert_eq!(chunks.len(), 3);
    assert!(chunks[0].ends_with(&[0, 0, 0xff, 0xff]) && chunks[1].ends_with(&[0, 0, 0xff, 0xff]));
    let mut decoder = rasgi_http::compress::GzipDecoder::new(1 << 20);
    let mut out = Vec::new();
    decoder.decode(&chunks[0], &mut out).unwrap();
    assert_eq!(out, b"first piece\n");
    assert_eq!(python_gunzip(&chunks.concat()), b"first piece\nsecond piece\nlast\n");
}

#[test]
fn curl_compressed_against_the_demo() {
    let demo = app_support::Demo::start(&["--no-access-log"]);
    let base = format!("http://{}", demo.addr);
    // The loop view's page is well over 500 bytes; curl asks for gzip and decodes it.
    let run = |args: &[&str]| {
        let output =
            Command::new("curl").args(["-s", "-S", "--max-time", "20"]).args(args).output().expect("curl is needed");
        assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let page = format!("{base}/_rasgi/");
    let decoded = run(&["--compressed", &page]);
    let identity = run(&[&page]);
    assert!(identity.len() > 500);
    assert_eq!(decoded, identity);
    let head = String::from_utf8_lossy(&run(&["--compressed", "-D", "-", "-o", "/dev/null", &page])).to_lowercase();
    assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
    assert!(head.contains("vary: accept-encoding\r\n"), "{head}");
    let head = String::from_utf8_lossy(&run(&["-D", "-", "-o", "/dev/null", &page])).to_lowercase();
    assert!(!head.contains("content-encoding"), "{head}");
    // The streamed route, decoded by curl as it streams.
    assert_eq!(run(&["--compressed", "-N", &format!("{base}/stream")]), b"line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert!(demo.interrupt().success());
}
