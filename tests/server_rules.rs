//! The rules in the table of `http/src/head.rs`'s module doc, shown with raw bytes over
//! a real socket: the exact status each malformed or over-limit request gets, that the
//! server closes such a connection — and that after every one of them the server still
//! serves the next client. Also the framing every response must have: `date`, `server`,
//! exactly one of `content-length` / chunked, no body for `HEAD`/204/304, HTTP/1.0
//! keep-alive only on request, and a small response arriving in one piece.

mod server_support;

use std::time::Duration;

use rasgi_http::server::Config;
use rasgi_http::{header, App, AppError, Receive, Scope, Sender};
use server_support::{
    assert_rejected, assert_still_serving, config, exchange, parse_response, Client, Echo, TestServer,
};

/// The echo application, plus: `/status/NNN` answers that status with a body (which
/// the server must drop for 204 and 304); a request with a query string is answered
/// with its path and query; `/own-headers` sets headers that are the server's business.
struct RulesApp;

impl App for RulesApp {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/own-headers" {
            // Framing is the server's business: this transfer-encoding is ignored. A
            // `server` or `date` of the application's own replaces the server's.
            let headers = vec![header("transfer-encoding", "chunked"), header("server", "custom/1.0")];
            send.respond(200, headers, b"abc").await?;
            return Ok(());
        }
        if !scope.query_string().is_empty() {
            let answer = format!("{}?{}", scope.path(), String::from_utf8_lossy(scope.query_string()));
            send.respond(200, vec![], answer.as_bytes()).await?;
            return Ok(());
        }
        if let Some(status) = scope.path().strip_prefix("/status/").and_then(|s| s.parse().ok()) {
            send.respond(status, vec![header("content-type", "text/plain")], b"a body the server must drop").await?;
            return Ok(());
        }
        Echo.call(scope, receive, send).await
    }
}

/// The body limit the tests below use.
const LIMIT_BODY: u64 = 1000;

fn server() -> TestServer {
    TestServer::start(Config { limit_body: LIMIT_BODY, ..config() }, || RulesApp)
}

/// A GET with `extra` header lines (each ending in CRLF) after `Host`.
fn get_with(extra: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: test\r\n{extra}\r\n")
}

#[test]
fn a_plain_response_has_exactly_this_head_and_arrives_in_one_read() {
    let server = server();
    let mut client = server.connect();
    client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n");
    let first = client.read_for(Duration::from_secs(10));
    // Head and body were written together; on loopback they arrive in the first recv.
    let (response, used) =
        parse_response(&first, false, false).expect("well-formed").expect("the whole response in the first read");
    assert_eq!(used, first.len());
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 6\r\n\r\n/hello"
    );
    response.assert_standard_headers();
}

#[test]
fn request_head_over_16_kib_gets_431() {
    let server = server();
    // A head of exactly 16 KiB is accepted; one byte more is not.
    let filler = |head_len: usize| {
        let base = get_with("X-Fill: \r\n").len();
        get_with(&format!("X-Fill: {}\r\n", "a".repeat(head_len - base)))
    };
    assert_eq!(filler(16 * 1024).len(), 16 * 1024);
    assert_eq!(exchange(server.addr, filler(16 * 1024)).status, 200);
    assert_rejected(server.addr, filler(16 * 1024 + 1), 431);
    // Many moderate headers add up the same way.
    let many: String = (0..90).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(200))).collect();
    assert_rejected(server.addr, get_with(&many), 431);
    // A head that never ends is cut off at the limit rather than buffered forever.
    let mut client = server.connect();
    client.send(get_with("").trim_end_matches("\r\n").to_owned() + "\r\nX-Endless: ");
    let _ = client.try_send("c".repeat(40 * 1024));
    let raw = client.read_until_close();
    assert!(
        raw.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert_still_serving(server.addr);
}

#[test]
fn request_target_over_8_kib_gets_414() {
    let server = server();
    let target = |len: usize| format!("/{}", "t".repeat(len - 1));
    let ok = exchange(server.addr, format!("GET {} HTTP/1.1\r\nHost: test\r\n\r\n", target(8 * 1024)));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.len(), 8 * 1024, "the echoed path");
    assert_rejected(server.addr, format!("GET {} HTTP/1.1\r\nHost: test\r\n\r\n", target(8 * 1024 + 1)), 414);
    // Also when the line is still arriving: no need to wait for its end.
    let mut client = server.connect();
    client.send(format!("GET {}", target(9000)));
    let raw = client.read_until_close();
    assert!(raw.starts_with(b"HTTP/1.1 414 URI Too Long\r\n"), "{:?}", String::from_utf8_lossy(&raw));
    assert_still_serving(server.addr);
}

#[test]
fn more_than_100_headers_get_431() {
    let server = server();
    let headers = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    // Host plus 99 more is exactly 100.
    assert_eq!(exchange(server.addr, get_with(&headers(99))).status, 200);
    assert_rejected(server.addr, get_with(&headers(100)), 431);
}

#[test]
fn content_length_with_transfer_encoding_gets_400() {
    let server = server();
    assert_rejected(
        server.addr,
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    );
    assert_rejected(
        server.addr,
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        400,
    );
}

#[test]
fn ambiguous_content_lengths_get_400() {
    let server = server();
    for value in ["+5", "-5", "5 5", "5, 5", "abc", "0x10", "5a", "", "99999999999999999999999", "18446744073709551616"]
    {
        assert_rejected(server.addr, format!("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {value}\r\n\r\n"), 400);
    }
    // Repeated, even with the same value.
    assert_rejected(
        server.addr,
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        400,
    );
    // Surrounding whitespace is the field's, not the number's: accepted.
    let ok = exchange(server.addr, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length:   5  \r\n\r\nhello");
    assert_eq!((ok.status, ok.text().as_str()), (200, "hello"));
}

#[test]
fn transfer_encodings_other_than_a_single_chunked_get_501() {
    let server = server();
    for te in ["gzip", "gzip, chunked", "chunked, gzip", "identity", "chunked, chunked", "chunkedx"] {
        assert_rejected(server.addr, format!("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: {te}\r\n\r\n"), 501);
    }
    assert_rejected(
        server.addr,
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        501,
    );
    // The coding name is case-insensitive.
    let ok = exchange(
        server.addr,
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));
}

#[test]
fn transfer_encoding_on_http_1_0_gets_400() {
    let server = server();
    assert_rejected(server.addr, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

#[test]
fn malformed_chunk_framing_gets_400() {
    let server = server();
    let head = "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",                // size not hex
        "-5\r\nhello\r\n0\r\n\r\n",                // a sign is not hex either
        "00000000000000005\r\nhello\r\n0\r\n\r\n", // 17 hex digits
        "3\r\nabcX\r\n0\r\n\r\n",                  // data not followed by CRLF
        "3\nabc\r\n0\r\n\r\n",                     // size line ends in a bare LF
        "3\r\nabc\r\n0\r\n\n",                     // last line ends in a bare LF
        "3 x\r\nabc\r\n0\r\n\r\n",                 // junk after the size
    ] {
        assert_rejected(server.addr, format!("{head}{body}"), 400);
    }
    // 16 hex digits are fine.
    let ok = exchange(server.addr, format!("{head}0000000000000002\r\nok\r\n0\r\n\r\n"));
    assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));
    // Chunk extensions and trailers are allowed (and not passed on).
    let ok = exchange(server.addr, format!("{head}2;name=value\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n"));
    assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));
}

#[test]
fn obs_fold_bare_cr_control_characters_and_space_before_colon_get_400() {
    let server = server();
    for bad in [
        get_with("X-A: a\r\n b\r\n"),                       // obs-fold continuation line
        get_with("X-A: a\r\n\tb\r\n"),                      // obs-fold with a tab
        get_with("X-A: a\rb\r\n"),                          // bare CR in a value
        "GET / HTTP/1.1\rHost: test\r\n\r\n".to_owned(),    // bare CR ending the request line
        get_with("X-A: a\x01b\r\n"),                        // control character
        get_with("X-A: a\x00b\r\n"),                        // NUL
        get_with("X-A: a\x7fb\r\n"),                        // DEL
        "GET / HTTP/1.1\r\nHost : test\r\n\r\n".to_owned(), // space before the colon
        get_with("X-A\t: a\r\n"),                           // tab before the colon
        get_with("X A: a\r\n"),                             // space inside the name
    ] {
        assert_rejected(server.addr, bad, 400);
    }
    // A tab inside a value is allowed.
    assert_eq!(exchange(server.addr, get_with("X-A: a\tb\r\n")).status, 200);
}

#[test]
fn host_is_required_once_in_http_1_1() {
    let server = server();
    assert_rejected(server.addr, "GET / HTTP/1.1\r\n\r\n", 400);
    assert_rejected(server.addr, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_rejected(server.addr, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    // HTTP/1.0 predates Host.
    let ok = exchange(server.addr, "GET /old HTTP/1.0\r\n\r\n");
    assert_eq!((ok.status_line.as_str(), ok.text().as_str()), ("HTTP/1.0 200 OK", "/old"));
}

#[test]
fn unknown_http_versions_get_505() {
    let server = server();
    // (HTTP/1.2 to 1.9 share 1.1's major version and are served as 1.1: see
    // `server_targets.rs`.)
    for version in ["HTTP/9.9", "HTTP/0.9", "HTTP/2.0"] {
        assert_rejected(server.addr, format!("GET / {version}\r\nHost: test\r\n\r\n"), 505);
    }
    // Also after the empty lines a server skips before a request line.
    assert_rejected(server.addr, "\r\n\r\nGET / HTTP/9.9\r\nHost: test\r\n\r\n", 505);
    // A missing or garbled version is not an unknown one, just a malformed line.
    for version in ["", "HTTP/1", "HTTP/1.1.1", "HTTPS/1.1", "http/1.1"] {
        assert_rejected(server.addr, format!("GET / {version}\r\nHost: test\r\n\r\n"), 400);
    }
}

#[test]
fn http_1_0_keeps_the_connection_only_when_asked() {
    let server = server();
    // Without `Connection: keep-alive`: answered, then closed, with no `connection`
    // header needed (closing is HTTP/1.0's default).
    let mut client = server.connect();
    client.send("GET /one HTTP/1.0\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 4\r\n\r\n/one"
    );
    client.assert_closed();

    // With it: the response says so, and a second request is served on the connection.
    let mut client = server.connect();
    client.send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let first = client.response();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    assert_eq!(first.text(), "/one");
    client.send("GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(client.response().text(), "/two");
    // And a final one without it closes.
    client.send("GET /three HTTP/1.0\r\n\r\n");
    let last = client.response();
    assert_eq!((last.text().as_str(), last.header("connection")), ("/three", None));
    client.assert_closed();
}

#[test]
fn http_1_1_connection_close_is_honoured() {
    let server = server();
    let mut client = server.connect();
    client.send("GET /a HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().header("connection"), None, "HTTP/1.1 keeps alive by default");
    client.send("GET /b HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let response = client.response();
    assert_eq!((response.text().as_str(), response.header("connection")), ("/b", Some("close")));
    client.assert_closed();
}

#[test]
fn a_body_over_the_limit_gets_413_when_its_length_is_announced() {
    let server = server();
    // At the limit: served.
    let body = "x".repeat(LIMIT_BODY as usize);
    let ok =
        exchange(server.addr, format!("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {LIMIT_BODY}\r\n\r\n{body}"));
    assert_eq!((ok.status, ok.body.len()), (200, LIMIT_BODY as usize));
    // Over it: refused on the head alone, before the client sends a byte of body.
    let response = assert_rejected(
        server.addr,
        format!("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n", LIMIT_BODY + 1),
        413,
    );
    assert_eq!(response.status_line, "HTTP/1.1 413 Content Too Large");
    // Also for a client that waits for `100 Continue`: it gets 413 instead.
    assert_rejected(
        server.addr,
        format!("POST / HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", 10 * LIMIT_BODY),
        413,
    );
}

#[test]
fn a_chunked_body_over_the_limit_gets_413_when_it_crosses_it() {
    let server = server();
    let head = "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("258\r\n{}\r\n", "y".repeat(600)); // 0x258 = 600 bytes
    let mut client = server.connect();
    client.send(head);
    client.send(&chunk);
    // 600 bytes are within the limit: nothing is answered yet.
    assert!(client.read_for(Duration::from_millis(200)).is_empty(), "no answer before the limit is crossed");
    // The next 600 cross it.
    let _ = client.try_send(&chunk);
    let raw = client.read_until_close();
    assert!(raw.starts_with(b"HTTP/1.1 413 Content Too Large\r\n"), "{:?}", String::from_utf8_lossy(&raw));
    let (response, used) = parse_response(&raw, false, false).expect("well-formed").expect("complete");
    assert_eq!(used, raw.len());
    assert_eq!(response.header("connection"), Some("close"));
    response.assert_standard_headers();
    assert_still_serving(server.addr);
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let server = server();
    let mut client = server.connect();
    // Pipelined, so that a stray body byte would corrupt the next response.
    client.send(concat!(
        "HEAD /abc HTTP/1.1\r\nHost: test\r\n\r\n",
        "GET /status/204 HTTP/1.1\r\nHost: test\r\n\r\n",
        "GET /status/304 HTTP/1.1\r\nHost: test\r\n\r\n",
        "GET /after HTTP/1.1\r\nHost: test\r\n\r\n",
    ));
    let head = client.response_to("HEAD");
    // HEAD announces the length the GET would have had.
    assert_eq!(
        head.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 4\r\n\r\n"
    );
    let no_content = client.response();
    assert_eq!(
        no_content.normalized(),
        "HTTP/1.1 204 No Content\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\n\r\n"
    );
    no_content.assert_standard_headers();
    let not_modified = client.response();
    assert_eq!(
        not_modified.normalized(),
        "HTTP/1.1 304 Not Modified\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\n\r\n"
    );
    let after = client.response();
    assert_eq!((after.status, after.text().as_str()), (200, "/after"));
    assert!(client.pending().is_empty(), "no stray bytes: {:?}", String::from_utf8_lossy(client.pending()));
}

#[test]
fn an_error_after_a_head_request_still_has_its_body() {
    // The error response belongs to the malformed request, not to the HEAD before it.
    let server = server();
    let mut client = server.connect();
    client.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response_to("HEAD").status, 200);
    client.send("GET / HTTP/9.9\r\nHost: test\r\n\r\n");
    let error = client.response();
    assert_eq!(error.status_line, "HTTP/1.1 505 HTTP Version Not Supported");
    assert!(error.text().starts_with("505 HTTP Version Not Supported: "), "{:?}", error.text());
    client.assert_closed();
}

#[test]
fn every_response_carries_date_server_and_framing() {
    let server = server();
    let responses = [
        exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"),
        exchange(server.addr, "GET / HTTP/1.0\r\n\r\n"),
        exchange(server.addr, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc"),
        exchange(server.addr, "GET /status/404 HTTP/1.1\r\nHost: test\r\n\r\n"),
        exchange(server.addr, "GET /status/204 HTTP/1.1\r\nHost: test\r\n\r\n"),
        exchange(server.addr, "GET / HTTP/1.1\r\n\r\n"),
    ];
    for response in &responses {
        response.assert_standard_headers();
    }
    assert_eq!(responses.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 200, 404, 204, 400]);
}

#[test]
fn the_date_header_follows_the_clock() {
    // The formatted date is cached, but only for the second it stands for.
    let server = server();
    let date_now = || exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").header("date").map(str::to_owned);
    let first = date_now().expect("a date");
    std::thread::sleep(Duration::from_millis(1100));
    let second = date_now().expect("a date");
    assert_ne!(first, second, "the cached date was not refreshed");
    server_support::assert_current_date(&second);
}

#[test]
fn a_client_that_sends_garbage_is_answered_and_others_are_unaffected() {
    let server = server();
    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET / \r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\x03\x03\r\n\r\n",
    ] {
        let mut client = server.connect();
        let _ = client.try_send(garbage);
        let raw = client.read_until_close();
        assert!(
            raw.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
            "{garbage:?} got {:?}",
            String::from_utf8_lossy(&raw)
        );
        assert_still_serving(server.addr);
    }
    // A client that connects and leaves without a word costs nothing either.
    drop(Client::connect(server.addr));
    assert_still_serving(server.addr);
}

#[test]
fn the_server_decides_the_framing_whatever_the_application_says() {
    let server = server();
    let response = exchange(server.addr, "GET /own-headers HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\nserver: custom/1.0\r\ndate: <DATE>\r\ncontent-length: 3\r\n\r\nabc"
    );
}

#[test]
fn request_targets_become_the_scope_path() {
    let server = server();
    let path_of = |target: &[u8]| {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: test\r\n\r\n");
        exchange(server.addr, request).text()
    };
    assert_eq!(path_of(b"/plain?q=1&r=%20"), "/plain?q=1&r=%20", "the query stays encoded");
    assert_eq!(path_of(b"/a%20b/caf%C3%A9"), "/a b/caf\u{e9}");
    assert_eq!(path_of("/caf\u{e9}".as_bytes()), "/caf\u{e9}", "raw UTF-8 in the target");
    // Bytes that are not UTF-8 make the request line malformed.
    assert_rejected(server.addr, b"GET /bad-\xc3-utf8 HTTP/1.1\r\nHost: test\r\n\r\n", 400);
    // The absolute form (sent to proxies) is reduced to its path.
    assert_eq!(path_of(b"http://example.com/abs?q=1"), "/abs?q=1");
    assert_eq!(path_of(b"http://example.com"), "/", "an empty path is /");
    assert_eq!(path_of(b"http://example.com?q=1"), "/?q=1", "an empty path is / also before a query");
}
