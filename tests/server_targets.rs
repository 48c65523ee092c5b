//! Which resource a request names: the request-target forms of RFC 9112 §3.2 (the table
//! in `http/src/head.rs`'s module doc), the request line, the version and the `Host`
//! header — with raw bytes over a real socket, then through the demo app, then behind a
//! real nginx that forbids a location.
//!
//! The bug these tests pin down: a target was reduced to "whatever follows `://`"
//! wherever `://` appeared, so `/?next=http://x/items/42` was routed to `/items/42`.
//! A proxy in front sees `/`, lets it through, and the application serves a location the
//! proxy was told to forbid.

mod app_support;
mod proxy_support;
mod server_support;
mod tls_support;

use std::time::Duration;

use rasgi_http::{App, AppError, Receive, Scope, Sender};
use server_support::{assert_rejected, config, exchange, TestServer};

/// Answers what the server made of the request line: `METHOD path raw=RAW query=QUERY`.
struct TargetApp;

impl App for TargetApp {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let answer = format!(
            "{} {} raw={} query={}",
            scope.method(),
            scope.path(),
            String::from_utf8_lossy(scope.raw_path()),
            String::from_utf8_lossy(scope.query_string())
        );
        send.respond(200, vec![], answer.as_bytes()).await?;
        Ok(())
    }
}

fn server() -> TestServer {
    TestServer::start(config(), || TargetApp)
}

/// The answer to `METHOD target HTTP/1.1`.
fn routed(server: &TestServer, method: &str, target: &str) -> String {
    let response = exchange(server.addr, format!("{method} {target} HTTP/1.1\r\nHost: test\r\n\r\n"));
    assert_eq!(response.status, 200, "{method} {target}: {}", response.text());
    response.text()
}

#[test]
fn a_url_in_the_query_or_path_of_an_origin_form_target_is_data() {
    let server = server();
    assert_eq!(routed(&server, "GET", "/?next=http://x/items/42"), "GET / raw=/ query=next=http://x/items/42");
    assert_eq!(
        routed(&server, "GET", "/items/7?next=https://evil.example/"),
        "GET /items/7 raw=/items/7 query=next=https://evil.example/"
    );
    assert_eq!(routed(&server, "GET", "/?x=http://h/_rasgi/state"), "GET / raw=/ query=x=http://h/_rasgi/state");
    assert_eq!(routed(&server, "GET", "/a/http://h/b"), "GET /a/http://h/b raw=/a/http://h/b query=");
    assert_eq!(routed(&server, "GET", "//h/x"), "GET //h/x raw=//h/x query=");
}

#[test]
fn absolute_form_counts_only_when_the_target_begins_with_the_scheme() {
    let server = server();
    assert_eq!(routed(&server, "GET", "http://example.com/abs?q=1"), "GET /abs raw=/abs query=q=1");
    assert_eq!(routed(&server, "POST", "https://example.com:8443/p"), "POST /p raw=/p query=");
    assert_eq!(routed(&server, "GET", "http://example.com?q=http://x/y"), "GET / raw= query=q=http://x/y");
    for target in ["x/http://h/a", "ftp://h/a", "http://", "http://u:p@h/a", "http://h:port/a", "items/42"] {
        let response = assert_rejected(server.addr, format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n"), 400);
        assert!(response.text().starts_with("400 Bad Request: "), "{target}: {}", response.text());
    }
}

#[test]
fn asterisk_form_is_for_options_and_authority_form_for_connect() {
    let server = server();
    assert_eq!(routed(&server, "OPTIONS", "*"), "OPTIONS * raw=* query=");
    let refused = assert_rejected(server.addr, "GET * HTTP/1.1\r\nHost: test\r\n\r\n", 400);
    assert_eq!(refused.text(), "400 Bad Request: the target `*` is only allowed with OPTIONS\n");
    assert_rejected(server.addr, "GET example.com:443 HTTP/1.1\r\nHost: test\r\n\r\n", 400);
    let connect =
        assert_rejected(server.addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501);
    assert_eq!(connect.text(), "501 Not Implemented: CONNECT is not supported (this server is not a proxy)\n");
    assert_rejected(server.addr, "CONNECT / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_request_line_with_a_space_too_many_is_a_400_not_a_505() {
    let server = server();
    for line in ["GET /a b HTTP/1.1", "GE T / HTTP/1.1"] {
        let response = assert_rejected(server.addr, format!("{line}\r\nHost: test\r\n\r\n"), 400);
        assert_eq!(
            response.text(),
            "400 Bad Request: malformed request line (expected METHOD target HTTP/version)\n",
            "{line}"
        );
    }
    // httparse itself refuses two spaces in a row.
    assert_rejected(server.addr, "GET  / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn http_1_2_to_1_9_are_answered_as_http_1_1() {
    let server = server();
    for minor in 2..=9 {
        let response = exchange(server.addr, format!("GET /v?m={minor} HTTP/1.{minor}\r\nHost: test\r\n\r\n"));
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        assert_eq!(response.text(), format!("GET /v raw=/v query=m={minor}"));
        assert_eq!(response.header("connection"), None, "kept alive like 1.1");
    }
}

#[test]
fn a_host_that_is_not_host_and_port_is_a_400() {
    let server = server();
    for host in ["a b/c@d", "h:80:90", "[::1", "x/y", "u@h", "h:8o"] {
        let response = assert_rejected(server.addr, format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400);
        assert_eq!(response.text(), "400 Bad Request: invalid Host header (expected host[:port])\n", "{host}");
    }
    for host in ["example.com", "example.com:8000", "127.0.0.1:1", "[::1]:8000", ""] {
        let response = exchange(server.addr, format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert_eq!(response.status, 200, "Host: {host}");
    }
}

#[test]
fn the_demo_routes_what_the_client_sent_and_logs_it() {
    let demo = app_support::Demo::start(&[]);
    let root = app_support::get(demo.addr, "/?next=http://x/items/42");
    assert_eq!((root.status, root.body.as_str()), (200, r#"{"Hello":"World"}"#));
    let item = app_support::get(demo.addr, "/items/7?next=https://evil.example/");
    assert_eq!((item.status, item.body.as_str()), (200, r#"{"item_id":7,"q":null}"#));
    // The access log shows the target that was routed, as sent.
    let logged = |needle: &str| server_support::eventually(Duration::from_secs(5), || demo.log_contains(needle));
    assert!(logged(r#""GET /?next=http://x/items/42 HTTP/1.1" 200"#), "{:?}", demo.log_since(0));
    assert!(logged(r#""GET /items/7?next=https://evil.example/ HTTP/1.1" 200"#), "{:?}", demo.log_since(0));
}

#[test]
fn behind_nginx_a_forbidden_location_stays_forbidden() {
    let demo = app_support::Demo::start(&[]);
    let proxy = proxy_support::Proxy::start(&format!(
        "location /_rasgi/ {{ return 403; }} location / {{ proxy_pass http://{}; }}",
        demo.addr
    ));
    let proxied = proxy.addr;
    // Directly, the live view answers; through nginx it is forbidden, and smuggling its
    // path into a query string reaches the root instead.
    assert_eq!(app_support::get(demo.addr, "/_rasgi/state").status, 200);
    assert_eq!(app_support::get(proxied, "/_rasgi/state").status, 403);
    let smuggled = app_support::get(proxied, "/?x=http://h/_rasgi/state");
    assert_eq!((smuggled.status, smuggled.body.as_str()), (200, r#"{"Hello":"World"}"#));
}
