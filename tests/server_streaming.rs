//! Requests and responses as streams: 100 pipelined requests answered in order and in
//! one batch, a chunked upload reaching the application as several `http.request`
//! events, a streamed response going out chunked (exact framing bytes), `Expect:
//! 100-continue` answered on the application's first `receive` and not before, a
//! client that hangs up showing up as `http.disconnect`, a handler that is waiting when
//! its client leaves being dropped, and a slow reader holding back a fast writer
//! (backpressure).

mod server_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rasgi_http::{header, App, AppError, Receive, ReceiveEvent, Scope, SendEvent, Sender};
use server_support::{assert_still_serving, config, eventually, Echo, Journal, TestServer, IO_TIMEOUT};

/// Size of the response `/big` streams, and of each piece it sends.
const BIG: u64 = 64 * 1024 * 1024;
const PIECE: usize = 64 * 1024;

/// Sets its flag when dropped: proof that a handler's future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Routes that show streaming in both directions; anything else is [`Echo`].
#[derive(Clone, Default)]
struct StreamApp {
    /// What the application saw.
    journal: Journal,
    /// Set when the `/sleep` handler is dropped.
    dropped: Arc<AtomicBool>,
    /// Bytes `/big` has handed to `send` so far.
    big_sent: Arc<AtomicU64>,
}

impl StreamApp {
    /// Records every `receive` event until the body ends or the client leaves.
    async fn record_body(&self, receive: &Receive<'_>) -> bool {
        loop {
            match receive.receive().await {
                ReceiveEvent::Request { body, more_body } => {
                    self.journal.push(format!("request {} more={more_body}", String::from_utf8_lossy(&body)));
                    if !more_body {
                        return true;
                    }
                }
                ReceiveEvent::Disconnect => {
                    self.journal.push("disconnect");
                    return false;
                }
            }
        }
    }
}

impl App for StreamApp {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        match scope.path() {
            "/record" => {
                if self.record_body(receive).await {
                    send.respond(200, vec![], b"recorded").await?;
                }
            }
            "/stream" => {
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-type", "text/plain")],
                    trailers: false,
                })
                .await?;
                for piece in ["hello", " ", "streaming world"] {
                    send.send(SendEvent::Body { body: piece.as_bytes(), more_body: true }).await?;
                }
                send.send(SendEvent::Body { body: b"", more_body: false }).await?;
            }
            "/trailers" => {
                send.send(SendEvent::Start { status: 200, headers: vec![], trailers: true }).await?;
                send.send(SendEvent::Body { body: b"data", more_body: false }).await?;
                send.send(SendEvent::Trailers { headers: vec![header("x-checksum", "abc")], more_trailers: false })
                    .await?;
            }
            "/continue" => {
                // Think a while before asking for the body: the client must not get
                // `100 Continue` during this time.
                rasgi_executor::sleep(Duration::from_millis(300)).await;
                let body = receive.body(1024).await.ok_or_else(|| AppError::new("no body"))?;
                send.respond(200, vec![], &body).await?;
            }
            "/no-read" => send.respond(200, vec![], b"not reading").await?,
            "/sleep" => {
                let _flag = DropFlag(self.dropped.clone());
                self.journal.push("sleeping");
                rasgi_executor::sleep(Duration::from_secs(30)).await;
                self.journal.push("woke");
                send.respond(200, vec![], b"too late").await?;
            }
            "/watch" => {
                // Read the body, then wait for the disconnect without responding.
                if self.record_body(receive).await {
                    self.journal.push("waiting");
                    let event = receive.receive().await;
                    self.journal.push(format!("after body: {event:?}"));
                }
            }
            "/big" => {
                let length = BIG.to_string();
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-length", length)],
                    trailers: false,
                })
                .await?;
                let piece = vec![b'b'; PIECE];
                let mut sent = 0;
                while sent < BIG {
                    sent += PIECE as u64;
                    send.send(SendEvent::Body { body: &piece, more_body: sent < BIG }).await?;
                    self.big_sent.store(sent, Ordering::SeqCst);
                }
            }
            _ => Echo.call(scope, receive, send).await?,
        }
        Ok(())
    }
}

fn start(app: &StreamApp) -> TestServer {
    let app = app.clone();
    TestServer::start(config(), move || app.clone())
}

#[test]
fn a_hundred_pipelined_requests_get_a_hundred_responses_in_order_in_one_batch() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    let batch: String = (0..100).map(|i| format!("GET /p{i} HTTP/1.1\r\nHost: test\r\n\r\n")).collect();
    client.send(&batch);
    for i in 0..100 {
        let response = client.response();
        assert_eq!((response.status, response.text()), (200, format!("/p{i}")), "response {i}");
        response.assert_standard_headers();
    }
    // The server wrote all hundred responses together (about 11 KB); they arrive in
    // one or two reads, not a hundred.
    eprintln!("100 pipelined responses arrived in {} read(s)", client.reads);
    assert!(client.reads <= 3, "100 responses took {} reads", client.reads);
    assert!(client.pending().is_empty());
}

#[test]
fn pipelined_requests_with_bodies_stay_in_order() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send(concat!(
        "POST /a HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\none",
        "GET /b HTTP/1.1\r\nHost: test\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n",
        "POST /d HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nthree",
        // Bodies the application never reads are skipped, not taken for requests.
        "POST /no-read HTTP/1.1\r\nHost: test\r\nContent-Length: 24\r\n\r\nGET /smuggled HTTP/1.1\r\n",
        "POST /no-read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nskip\r\n0\r\n\r\n",
        "GET /e HTTP/1.1\r\nHost: test\r\n\r\n",
    ));
    let texts: Vec<String> = (0..7).map(|_| client.response().text()).collect();
    assert_eq!(texts, ["one", "/b", "two", "three", "not reading", "not reading", "/e"]);
}

#[test]
fn a_chunked_upload_arrives_as_several_request_events() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("POST /record HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    // Each chunk is sent only after the application has seen the previous one, so each
    // is its own event.
    for (i, chunk) in ["5\r\nfirst\r\n", "6\r\nsecond\r\n", "5\r\nthird\r\n"].iter().enumerate() {
        client.send(chunk);
        app.journal.wait_for(i + 1);
    }
    client.send("0\r\n\r\n");
    let response = client.response();
    assert_eq!(response.text(), "recorded");
    assert_eq!(
        app.journal.entries(),
        ["request first more=true", "request second more=true", "request third more=true", "request  more=false"]
    );
}

#[test]
fn a_streamed_response_goes_out_chunked() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ntransfer-encoding: chunked\r\n\r\n\
         5\r\nhello\r\n1\r\n \r\nf\r\nstreaming world\r\n0\r\n\r\n"
    );
    response.assert_standard_headers();
    // Trailers follow the last chunk.
    client.send("GET /trailers HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\ntransfer-encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\nx-checksum: abc\r\n\r\n"
    );
    // HTTP/1.0 has no chunking: the body is delimited by closing the connection.
    let mut client = server.connect();
    client.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let raw = client.read_until_close();
    assert_eq!(
        server_support::normalize_date(&String::from_utf8_lossy(&raw)),
        "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\n\r\nhello streaming world"
    );
}

#[test]
fn expect_100_continue_is_answered_on_the_first_receive_and_not_before() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("POST /continue HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    // The application sleeps 300 ms before its first `receive`.
    let early = client.read_for(Duration::from_millis(150));
    assert!(
        early.is_empty(),
        "nothing may be sent before the application asks for the body: {:?}",
        String::from_utf8_lossy(&early)
    );
    let interim = client.response();
    assert_eq!(interim.raw, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.send("hello");
    let response = client.response();
    assert_eq!((response.status, response.text().as_str()), (200, "hello"));

    // An application that answers without reading the body never invites it; the
    // connection then closes, since the body it announced was never read.
    let mut client = server.connect();
    client.send("POST /no-read HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let response = client.response();
    assert_eq!((response.status_line.as_str(), response.text().as_str()), ("HTTP/1.1 200 OK", "not reading"));
    client.assert_closed();
}

#[test]
fn a_client_that_disconnects_mid_request_is_seen_as_http_disconnect() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("POST /record HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\npartial");
    app.journal.wait_for(1);
    drop(client);
    assert_eq!(app.journal.wait_for(2), ["request partial more=true", "disconnect"]);
    assert_still_serving(server.addr);
}

#[test]
fn receive_after_the_body_waits_for_the_disconnect() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("POST /watch HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nbody");
    app.journal.wait_for(2);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        app.journal.entries(),
        ["request body more=false", "waiting"],
        "still waiting while the client is there"
    );
    drop(client);
    assert_eq!(app.journal.wait_for(3)[2], "after body: Disconnect");
}

#[test]
fn a_handler_waiting_when_its_client_leaves_is_dropped() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("GET /sleep HTTP/1.1\r\nHost: test\r\n\r\n");
    app.journal.wait_for(1);
    assert!(!app.dropped.load(Ordering::SeqCst));
    drop(client);
    assert!(eventually(Duration::from_secs(5), || app.dropped.load(Ordering::SeqCst)), "the handler was not dropped");
    assert_eq!(app.journal.entries(), ["sleeping"], "the handler never woke");
    assert_still_serving(server.addr);
}

#[test]
fn a_slow_reader_holds_back_a_fast_writer() {
    let app = StreamApp::default();
    let server = start(&app);
    let mut client = server.connect();
    client.send("GET /big HTTP/1.1\r\nHost: test\r\n\r\n");
    // Read nothing for a while: the application must stall once the socket buffers and
    // the server's bounded write buffer are full, instead of queueing 64 MiB in memory.
    assert!(eventually(IO_TIMEOUT, || app.big_sent.load(Ordering::SeqCst) > 0));
    std::thread::sleep(Duration::from_millis(500));
    let stalled_at = app.big_sent.load(Ordering::SeqCst);
    eprintln!("with nobody reading, the application got {} KiB out before it was held back", stalled_at / 1024);
    assert!(stalled_at < BIG / 2, "the application was not held back: {stalled_at} bytes sent");
    // Now read it all; the stream resumes and completes exactly.
    let head = client.read_for(IO_TIMEOUT);
    let head_end = server_support::find(&head, b"\r\n\r\n").expect("a head in the first read") + 4;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let mut received = (head.len() - head_end) as u64;
    let mut buf = vec![0u8; 256 * 1024];
    while received < BIG {
        let n = std::io::Read::read(&mut client.stream, &mut buf).expect("read the body");
        assert!(n > 0, "connection closed after {received} body bytes");
        received += n as u64;
    }
    assert_eq!(received, BIG);
    assert_eq!(app.big_sent.load(Ordering::SeqCst), BIG);
}
