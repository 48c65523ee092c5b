//! The client against a plain-HTTP peer whose every byte the test scripts: body framings,
//! keep-alive reuse, the safe retry, stale connections, timeouts of each kind, redirects.

mod tls_support;

use std::time::{Duration, Instant};

use rasgi_executor::block_on;
use rasgi_executor::reactor::net::{ListenOptions, TcpListener};
use rasgi_http::client::{Client, Error, PoolLimits, TimeoutKind, Timeouts};
use tls_support::plain::{response, PlainServer, Reply};
use tls_support::{free_port, within};

/// Runs an async test body on a fresh loop, failing if it takes longer than 30 s.
fn run<F: std::future::Future<Output = ()>>(body: impl FnOnce() -> F + Send + 'static) {
    within(Duration::from_secs(30), move || block_on(body()));
}

fn short(limit_ms: u64) -> Timeouts {
    Timeouts::all(Duration::from_millis(limit_ms))
}

#[test]
fn chunked_body_is_decoded_and_the_connection_reused() {
    let server = PlainServer::start(|_| {
        Reply::Send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec())
    });
    let url = server.url("/chunked");
    run(move || async move {
        let client = Client::new().unwrap();
        for _ in 0..3 {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().await.unwrap(), "hello world");
            assert_eq!(client.idle_connections(), 1, "a complete chunked body frees the connection");
        }
    });
    assert_eq!(server.connections(), 1, "three requests, one connection");
}

#[test]
fn chunks_are_streamed_as_they_arrive() {
    let server = PlainServer::start(|_| {
        Reply::Send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n".to_vec())
    });
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        let mut response = client.get(&url).send().await.unwrap();
        let mut body = Vec::new();
        while let Some(piece) = response.chunk().await.unwrap() {
            assert!(!piece.is_empty());
            body.extend_from_slice(&piece);
        }
        assert_eq!(body, b"onetwo");
        assert!(response.is_body_complete());
        assert_eq!(response.chunk().await.unwrap(), None, "the end stays the end");
    });
}

#[test]
fn close_delimited_body_ends_when_the_server_closes() {
    // No Content-Length, no chunking: the body is everything until the server's FIN.
    let server = PlainServer::start(|_| {
        Reply::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the very end".to_vec())
    });
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "until the very end");
        assert_eq!(client.idle_connections(), 0, "a close-delimited connection is never reused");
    });
}

#[test]
fn a_truncated_body_is_an_error() {
    let server =
        PlainServer::start(|_| Reply::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello".to_vec()));
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        let error = client.get(&url).send().await.unwrap().bytes().await.unwrap_err();
        assert_eq!(error.step(), "read", "{error}");
        assert!(error.to_string().contains("after 5 of 10 body bytes"), "{error}");
    });
}

#[test]
fn head_and_interim_responses_have_no_body() {
    let server = PlainServer::start(|seen| match seen.method.as_str() {
        // A HEAD response announces a length but sends no body.
        "HEAD" => Reply::Send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n".to_vec()),
        // An interim 100 Continue before the real answer is skipped.
        _ => Reply::Send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok".to_vec()),
    });
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        let response = client.head(&url).send().await.unwrap();
        assert_eq!(response.header("content-length"), Some("5"));
        assert!(response.bytes().await.unwrap().is_empty());
        let response = client.post(&url).body("x").send().await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.bytes().await.unwrap(), b"ok");
    });
    assert_eq!(server.connections(), 1);
}

#[test]
fn json_bodies_and_headers_go_out_as_written() {
    let server = PlainServer::start(|seen| {
        let echo = serde_json::json!({
            "method": seen.method,
            "target": seen.target,
            "content_type": seen.header("content-type"),
            "host": seen.header("host"),
            "x_custom": seen.header("x-custom"),
            "body": serde_json::from_slice::<serde_json::Value>(&seen.body).ok(),
        });
        Reply::Send(response(200, "content-type: application/json\r\n", echo.to_string().as_bytes()))
    });
    let (url, port) = (server.url("/items?a=1"), server.port());
    run(move || async move {
        let client = Client::new().unwrap();
        let sent = serde_json::json!({"name": "widget", "n": 3});
        let echo: serde_json::Value =
            client.post(&url).header("X-Custom", "yes").json(&sent).send().await.unwrap().json().await.unwrap();
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["target"], "/items?a=1");
        assert_eq!(echo["content_type"], "application/json");
        assert_eq!(echo["host"], format!("127.0.0.1:{port}"));
        assert_eq!(echo["x_custom"], "yes");
        assert_eq!(echo["body"], sent);
    });
}

#[test]
fn read_timeout_when_the_server_never_answers() {
    let server = PlainServer::start(|_| Reply::Hang);
    let url = server.url("/");
    run(move || async move {
        let client = Client::builder().timeouts(short(200)).build().unwrap();
        let started = Instant::now();
        let error = client.get(&url).send().await.unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(error.timeout_kind(), Some(TimeoutKind::Read), "{error}");
        assert!(error.to_string().contains("waiting for the response head"), "{error}");
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    });
}

#[test]
fn total_deadline_bounds_the_whole_request() {
    let server = PlainServer::start(|_| Reply::Hang);
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        let timeouts = Timeouts { total: Some(Duration::from_millis(150)), ..Timeouts::default() };
        let error = client.get(&url).timeouts(timeouts).send().await.unwrap_err();
        assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total), "{error}");
    });
}

#[test]
fn pool_acquire_timeout_when_every_connection_is_busy() {
    let server = PlainServer::start(|_| Reply::Send(response(200, "", b"held body")));
    let url = server.url("/");
    run(move || async move {
        let limits = PoolLimits { max_connections: 1, ..PoolLimits::default() };
        let client = Client::builder().pool_limits(limits).timeouts(short(200)).build().unwrap();
        // The first response's body is not read: its connection stays checked out.
        let held = client.get(&url).send().await.unwrap();
        let error = client.get(&url).send().await.unwrap_err();
        assert_eq!(error.timeout_kind(), Some(TimeoutKind::PoolAcquire), "{error}");
        assert!(error.to_string().contains("pool"), "{error}");
        // Reading the body gives the connection back; the next request gets it.
        assert_eq!(held.bytes().await.unwrap(), b"held body");
        let again = client.get(&url).send().await.unwrap();
        assert_eq!(again.bytes().await.unwrap(), b"held body");
    });
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_waiting_request_gets_the_connection_when_it_is_released() {
    let server = PlainServer::start(|_| Reply::Send(response(200, "", b"x")));
    let url = server.url("/");
    run(move || async move {
        let limits = PoolLimits { max_connections: 1, ..PoolLimits::default() };
        let client = Client::builder().pool_limits(limits).build().unwrap();
        let held = client.get(&url).send().await.unwrap();
        let (c2, u2) = (client.clone(), url.clone());
        let waiter = rasgi_executor::spawn(async move { c2.get(&u2).send().await.unwrap().bytes().await.unwrap() });
        rasgi_executor::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second request must wait for the only connection");
        held.bytes().await.unwrap();
        assert_eq!(waiter.await.unwrap(), b"x");
    });
    assert_eq!(server.connections(), 1, "the waiter reused the released connection");
}

/// The server answers the first request on a connection, then closes the connection when
/// the second arrives, without answering: the race of a keep-alive timeout.
fn closes_on_second_request() -> PlainServer {
    PlainServer::start(|seen| if seen.index == 1 { Reply::Send(response(200, "", b"fine")) } else { Reply::Close })
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_retried_once() {
    let server = closes_on_second_request();
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        assert_eq!(client.get(&url).send().await.unwrap().bytes().await.unwrap(), b"fine");
        // Reuses connection 1, which the server closes on receipt: retried on connection 2.
        assert_eq!(client.get(&url).send().await.unwrap().bytes().await.unwrap(), b"fine");
    });
    let seen: Vec<(usize, usize)> = server.seen().iter().map(|s| (s.connection, s.index)).collect();
    assert_eq!(seen, vec![(1, 1), (1, 2), (2, 1)]);
}

#[test]
fn a_post_is_never_retried() {
    let server = closes_on_second_request();
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        client.post(&url).body("1").send().await.unwrap().bytes().await.unwrap();
        let error = client.post(&url).body("2").send().await.unwrap_err();
        assert_eq!(error.step(), "read", "{error}");
        assert!(error.to_string().contains("without sending a response"), "{error}");
    });
    assert_eq!(server.connections(), 1, "no second attempt");
}

#[test]
fn an_idle_connection_the_server_closed_is_discarded_before_use() {
    // The server closes right after answering (without saying `Connection: close`).
    let server = PlainServer::start(|_| Reply::SendAndClose(response(200, "", b"once")));
    let url = server.url("/");
    run(move || async move {
        let client = Client::new().unwrap();
        client.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(client.idle_connections(), 1);
        rasgi_executor::sleep(Duration::from_millis(50)).await;
        // The staleness check sees the FIN and opens a new connection; nothing is written
        // to the dead one (the server saw one request per connection).
        client.get(&url).send().await.unwrap().bytes().await.unwrap();
    });
    let seen: Vec<(usize, usize)> = server.seen().iter().map(|s| (s.connection, s.index)).collect();
    assert_eq!(seen, vec![(1, 1), (2, 1)]);
}

#[test]
fn idle_connections_expire() {
    let server = PlainServer::start(|_| Reply::Send(response(200, "", b"x")));
    let url = server.url("/");
    run(move || async move {
        let limits = PoolLimits { idle_expiry: Duration::from_millis(50), ..PoolLimits::default() };
        let client = Client::builder().pool_limits(limits).build().unwrap();
        client.get(&url).send().await.unwrap().bytes().await.unwrap();
        rasgi_executor::sleep(Duration::from_millis(100)).await;
        client.get(&url).send().await.unwrap().bytes().await.unwrap();
    });
    assert_eq!(server.connections(), 2);
}

#[test]
fn connect_timeout_against_a_full_backlog() {
    // Observed on Linux: a listener with backlog 0 completes one handshake into its accept
    // queue; with that queue full, the kernel drops further SYNs (SYN cookies do not
    // apply to a full accept queue), so a connect hangs in SYN_SENT until it times out.
    run(|| async {
        let listener =
            TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), ListenOptions { reuse_port: false, backlog: 0 })
                .unwrap();
        let addr = listener.local_addr().unwrap();
        // Fill the queue (never accepting), until a connect attempt really hangs.
        let mut held = Vec::new();
        let mut saw_hang = false;
        for _ in 0..8 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => held.push(stream),
                Err(_) => {
                    saw_hang = true;
                    break;
                }
            }
        }
        assert!(saw_hang, "the kernel kept accepting handshakes; cannot demonstrate a connect timeout here");
        let client = Client::builder().timeouts(short(300)).build().unwrap();
        let started = Instant::now();
        let error = client.get(format!("http://{addr}/")).send().await.unwrap_err();
        assert_eq!(error.timeout_kind(), Some(TimeoutKind::Connect), "{error}");
        assert!(error.to_string().contains("connecting (TCP)"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    });
}

#[test]
fn refused_connections_name_the_connect_step() {
    let port = free_port();
    run(move || async move {
        let client = Client::new().unwrap();
        let error = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
        assert_eq!(error.step(), "connect", "{error}");
        assert!(matches!(error, Error::Connect { .. }));
        assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
    });
}

#[test]
fn localhost_is_resolved_on_the_blocking_pool() {
    let server = PlainServer::start(|_| Reply::Send(response(200, "", b"resolved")));
    let port = server.port();
    run(move || async move {
        let client = Client::new().unwrap();
        // `localhost` may resolve to ::1 first, where nothing listens: the next address
        // (127.0.0.1) is tried.
        let body = client.get(format!("http://localhost:{port}/")).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(body, b"resolved");
    });
}

/// Answers `/echo` with what it received: method, target, body, and the credentials.
fn echo_reply(seen: &tls_support::plain::Seen) -> Reply {
    let text = format!(
        "{} {} body={:?} authorization={:?} cookie={:?}",
        seen.method,
        seen.target,
        String::from_utf8_lossy(&seen.body),
        seen.header("authorization"),
        seen.header("cookie"),
    );
    Reply::Send(response(200, "", text.as_bytes()))
}

#[test]
fn redirects_are_off_by_default_and_limited_when_on() {
    let server = PlainServer::start(|seen| match seen.target.as_str() {
        "/old" => Reply::Send(response(302, "location: /new\r\n", b"moved")),
        t if t.starts_with("/loop") => Reply::Send(response(302, "location: /loop?token=TOPSECRET\r\n", b"")),
        _ => Reply::Send(response(200, "", format!("{} {}", seen.method, seen.target).as_bytes())),
    });
    let (old, looping, port) = (server.url("/old"), server.url("/loop"), server.port());
    run(move || async move {
        let client = Client::new().unwrap();
        let response = client.get(&old).send().await.unwrap();
        assert_eq!((response.status(), response.header("location")), (302, Some("/new")));
        assert_eq!(response.text().await.unwrap(), "moved");

        let response = client.get(&old).follow_redirects(true).send().await.unwrap();
        assert_eq!(response.url().path(), "/new");
        assert_eq!(response.text().await.unwrap(), "GET /new");

        // The default limit is httpx's 20: the first request and 20 redirects, then the error.
        let error = client.get(&looping).follow_redirects(true).send().await.unwrap_err();
        assert_eq!(error.step(), "redirect", "{error}");
        assert_eq!(
            error.to_string(),
            format!("more than 20 redirects (the last one pointed to http://127.0.0.1:{port}/loop?token=[redacted])")
        );
        let error = client.get(&looping).follow_redirects(true).max_redirects(3).send().await.unwrap_err();
        assert!(error.to_string().starts_with("more than 3 redirects"), "{error}");

        // The same settings on the client, for every request.
        let client = Client::builder().follow_redirects(true).max_redirects(1).build().unwrap();
        assert_eq!(client.get(&old).send().await.unwrap().text().await.unwrap(), "GET /new");
        assert_eq!(client.get(&looping).send().await.unwrap_err().step(), "redirect");
        let response = client.get(&old).follow_redirects(false).send().await.unwrap();
        assert_eq!(response.status(), 302);
    });
    let loops = server.seen().iter().filter(|s| s.target.starts_with("/loop")).count();
    assert_eq!(loops, 21 + 4 + 2, "21 requests at the default limit, 4 at max 3, 2 at max 1");
}

#[test]
fn redirects_change_the_method_as_httpx_does() {
    let server = PlainServer::start(|seen| match seen.target.as_str() {
        "/echo" => echo_reply(seen),
        other => {
            let status: u16 = other.trim_start_matches('/').parse().unwrap_or(500);
            Reply::Send(response(status, "location: /echo\r\n", b""))
        }
    });
    let base = server.url("");
    run(move || async move {
        let client = Client::builder().follow_redirects(true).build().unwrap();
        for (status, method, expected) in [
            (301, "POST", "GET /echo body=\"\""),
            (302, "POST", "GET /echo body=\"\""),
            (303, "POST", "GET /echo body=\"\""),
            (303, "PUT", "GET /echo body=\"\""),
            (307, "POST", "POST /echo body=\"data\""),
            (308, "POST", "POST /echo body=\"data\""),
            (301, "PUT", "PUT /echo body=\"data\""),
            (302, "DELETE", "DELETE /echo body=\"data\""),
        ] {
            let request = client.request(method, format!("{base}/{status}")).body("data");
            let text = request.send().await.unwrap().text().await.unwrap();
            assert_eq!(text, format!("{expected} authorization=None cookie=None"), "{method} answered by {status}");
        }
    });
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let other = PlainServer::start(echo_reply);
    let elsewhere = other.url("/echo");
    let server = PlainServer::start(move |seen| match seen.target.as_str() {
        "/echo" => echo_reply(seen),
        "/same" => Reply::Send(response(302, "location: /echo\r\n", b"")),
        _ => Reply::Send(response(307, &format!("location: {elsewhere}\r\n"), b"")),
    });
    let (same, cross) = (server.url("/same"), server.url("/cross"));
    run(move || async move {
        let client = Client::builder().follow_redirects(true).build().unwrap();
        let send =
            |url: String| client.get(url).header("authorization", "Bearer TOKEN").header("cookie", "session=1").send();
        let text = send(same).await.unwrap().text().await.unwrap();
        assert_eq!(text, "GET /echo body=\"\" authorization=Some(\"Bearer TOKEN\") cookie=Some(\"session=1\")");
        let text = send(cross).await.unwrap().text().await.unwrap();
        assert_eq!(text, "GET /echo body=\"\" authorization=None cookie=None");
    });
    assert_eq!(other.seen().len(), 1);
}

#[test]
fn an_unfollowed_redirect_is_reported_as_a_redirect() {
    let server = PlainServer::start(|_| Reply::Send(response(302, "location: /next?token=TOPSECRET\r\n", b"")));
    let (url, port) = (server.url("/start?api_key=TOPSECRET"), server.port());
    run(move || async move {
        let client = Client::new().unwrap();
        let error = client.get(&url).send().await.unwrap().error_for_status().unwrap_err();
        assert_eq!(error.step(), "status");
        assert_eq!(
            error.to_string(),
            format!(
                "http://127.0.0.1:{port}/start?api_key=[redacted] answered with status 302, a redirect to \
                 /next?token=[redacted] that was not followed (redirects are followed only with follow_redirects)"
            )
        );
    });
}

#[test]
fn errors_never_show_userinfo_or_query_values() {
    let server = PlainServer::start(|_| Reply::Send(response(404, "", b"")));
    let (missing, port) = (server.url("/x?api_key=TOPSECRET&page=2"), server.port());
    run(move || async move {
        let client = Client::new().unwrap();
        let error = client.get("http://user:TOPSECRET@127.0.0.1/x?api_key=TOPSECRET").send().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid URL \"http://127.0.0.1/x?api_key=[redacted]\": credentials in URLs (user:password@) are not \
             supported; send an Authorization header"
        );
        let error = client.get("gopher://h/x?api_key=TOPSECRET").send().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid URL \"gopher://h/x?api_key=[redacted]\": unsupported scheme \"gopher\"; only http and https are \
             supported"
        );
        let error = client.get(&missing).send().await.unwrap().error_for_status().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("http://127.0.0.1:{port}/x?api_key=[redacted]&page=[redacted] answered with status 404")
        );
        let response = client.get(&missing).send().await.unwrap();
        let debug = format!("{response:?}");
        assert!(debug.contains("api_key=[redacted]") && !debug.contains("TOPSECRET"), "{debug}");
    });
}

#[test]
fn the_total_deadline_covers_the_body() {
    // The head and 3 of 10 body bytes arrive at once, then nothing: the read timeout (2 s)
    // would wait much longer than the request's total deadline (300 ms).
    let server =
        PlainServer::start(|_| Reply::SendAndHang(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec()));
    let url = server.url("/slow");
    run(move || async move {
        let client = Client::new().unwrap();
        let timeouts = Timeouts { total: Some(Duration::from_millis(300)), ..Timeouts::all(Duration::from_secs(2)) };
        let started = Instant::now();
        let response = client.get(&url).timeouts(timeouts).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let error = response.bytes().await.unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total), "{error}");
        assert!(error.to_string().contains("reading the response body took longer than 300ms"), "{error}");
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1900), "{elapsed:?}");
    });
}

#[test]
fn invalid_requests_fail_before_anything_is_sent() {
    run(|| async {
        let client = Client::new().unwrap();
        let error = client.get("ftp://127.0.0.1/").send().await.unwrap_err();
        assert_eq!(error.step(), "url");
        assert!(error.to_string().contains("only http and https"), "{error}");
        let error = client.get("127.0.0.1:8000/").send().await.unwrap_err();
        assert!(error.to_string().contains("must start with http:// or https://"), "{error}");
        let error = client.get("http://127.0.0.1:1/").header("x", "a\r\nInjected: 1").send().await.unwrap_err();
        assert_eq!(error.step(), "request", "{error}");
        let error = client.request("GE T", "http://127.0.0.1:1/").send().await.unwrap_err();
        assert_eq!(error.step(), "request", "{error}");
    });
}
