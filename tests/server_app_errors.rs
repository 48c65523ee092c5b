//! When the application misbehaves: an error or a panic before the response starts
//! becomes a 500 (and the connection closes), one after the body started closes the
//! connection mid-response, returning without a response is a 500, and the server keeps
//! serving — other connections on the same loop included. Events sent out of order,
//! response headers that would break the framing, and bodies that disagree with their
//! own `content-length` are refused with the matching `SendError`, which the
//! application sees.

mod server_support;

use rasgi_http::{header, App, AppError, Receive, Scope, SendError, SendEvent, Sender};
use server_support::{assert_error_response, assert_still_serving, config, Journal, TestServer};

/// One route per way of failing. Errors that `send` returns are written to the journal.
#[derive(Clone, Default)]
struct FailingApp {
    journal: Journal,
}

impl FailingApp {
    /// Records a send error in the journal.
    fn note(&self, result: Result<(), SendError>) {
        match result {
            Ok(()) => self.journal.push("ok"),
            Err(e) => self.journal.push(format!("{e:?}")),
        }
    }
}

/// A `Start` without a length, so that a streamed body goes out chunked.
fn start_event() -> SendEvent<'static> {
    SendEvent::Start { status: 200, headers: vec![header("content-type", "text/plain")], trailers: false }
}

impl App for FailingApp {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        match scope.path() {
            "/error-before" => return Err(AppError::new("the database is down")),
            "/panic-before" => panic!("the handler panicked on purpose"),
            "/error-after" | "/panic-after" => {
                send.send(start_event()).await?;
                send.send(SendEvent::Body { body: b"partial", more_body: true }).await?;
                if scope.path() == "/panic-after" {
                    panic!("the handler panicked mid-body on purpose");
                }
                return Err(AppError::new("failed mid-body"));
            }
            "/no-response" => {}
            "/body-before-start" => {
                self.note(send.send(SendEvent::Body { body: b"early", more_body: false }).await);
                send.respond(200, vec![], b"recovered").await?;
            }
            "/start-twice" => {
                self.note(send.send(start_event()).await);
                self.note(send.send(start_event()).await);
                send.send(SendEvent::Body { body: b"once", more_body: false }).await?;
            }
            "/after-the-end" => {
                send.respond(200, vec![], b"done").await?;
                self.note(send.send(SendEvent::Body { body: b"more", more_body: false }).await);
            }
            "/injection" => {
                let bad_value = vec![header("x-ok", "fine"), header("x-evil", "a\r\nx-injected: yes")];
                self.note(send.send(SendEvent::Start { status: 200, headers: bad_value, trailers: false }).await);
                self.note(
                    send.send(SendEvent::Start {
                        status: 200,
                        headers: vec![header("bad name", "v")],
                        trailers: false,
                    })
                    .await,
                );
                self.note(
                    send.send(SendEvent::Start { status: 200, headers: vec![header("x-lf", "a\nb")], trailers: false })
                        .await,
                );
                send.respond(200, vec![header("x-ok", "fine")], b"clean").await?;
            }
            "/too-long" => {
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-length", "5")],
                    trailers: false,
                })
                .await?;
                self.note(send.send(SendEvent::Body { body: b"more than five", more_body: false }).await);
            }
            "/too-short" => {
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-length", "10")],
                    trailers: false,
                })
                .await?;
                self.note(send.send(SendEvent::Body { body: b"short", more_body: false }).await);
            }
            "/exact-length" => {
                send.send(SendEvent::Start {
                    status: 200,
                    headers: vec![header("content-length", "10")],
                    trailers: false,
                })
                .await?;
                send.send(SendEvent::Body { body: b"hello", more_body: true }).await?;
                send.send(SendEvent::Body { body: b"world", more_body: false }).await?;
            }
            _ => send.respond(200, vec![], scope.path().as_bytes()).await?,
        }
        Ok(())
    }
}

fn start() -> (TestServer, Journal) {
    let app = FailingApp::default();
    let journal = app.journal.clone();
    (TestServer::start(config(), move || app.clone()), journal)
}

/// Sends a GET for `path` on a new connection and returns all bytes until close, with
/// the date normalised.
fn get_until_close(server: &TestServer, path: &str) -> String {
    let mut client = server.connect();
    client.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"));
    server_support::normalize_date(&String::from_utf8_lossy(&client.read_until_close()))
}

#[test]
fn an_error_before_the_response_starts_is_a_500_and_a_close() {
    let (server, _) = start();
    let mut client = server.connect();
    client.send("GET /error-before HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = assert_error_response(&client.read_until_close(), 500, "/error-before");
    assert_eq!(
        response.text(),
        "500 Internal Server Error: Internal Server Error\n",
        "no internals leak to the client"
    );
    assert_still_serving(server.addr);
}

#[test]
fn a_panic_before_the_response_starts_is_a_500_and_the_loop_survives() {
    let (server, _) = start();
    // A kept-alive connection on the same loop, open across the panic.
    let mut bystander = server.connect();
    bystander.send("GET /before HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(bystander.response().text(), "/before");

    let mut client = server.connect();
    client.send("GET /panic-before HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_error_response(&client.read_until_close(), 500, "/panic-before");

    bystander.send("GET /after HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(bystander.response().text(), "/after", "the other connection lives on");
    assert_still_serving(server.addr);
}

#[test]
fn an_error_or_panic_after_the_body_started_truncates_the_response() {
    let (server, _) = start();
    for path in ["/error-after", "/panic-after"] {
        // The head and the first chunk went out; then the connection closes without the
        // final `0` chunk, so the client knows the body is incomplete.
        assert_eq!(
            get_until_close(&server, path),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ntransfer-encoding: chunked\r\n\r\n7\r\npartial\r\n",
            "{path}"
        );
        assert_still_serving(server.addr);
    }
}

#[test]
fn returning_without_a_response_is_a_500() {
    let (server, _) = start();
    let mut client = server.connect();
    client.send("GET /no-response HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_error_response(&client.read_until_close(), 500, "/no-response");
    assert_still_serving(server.addr);
}

#[test]
fn events_out_of_order_are_errors_for_the_application() {
    let (server, journal) = start();
    let body_first = get_until_close(&server, "/body-before-start");
    assert_eq!(journal.wait_for(1), [r#"OutOfOrder("the first event must be Start")"#]);
    // The application could still answer properly; the connection then closes, as a
    // confused exchange should.
    assert_eq!(
        body_first,
        "HTTP/1.1 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 9\r\nconnection: close\r\n\r\nrecovered"
    );

    let twice = get_until_close(&server, "/start-twice");
    assert_eq!(journal.wait_for(3)[1..], ["ok", r#"OutOfOrder("Start was already sent; send Body next")"#]);
    assert!(twice.ends_with("\r\n\r\nonce"), "{twice:?}");

    let mut client = server.connect();
    client.send("GET /after-the-end HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().text(), "done");
    assert_eq!(journal.wait_for(4)[3], r#"OutOfOrder("the response is already complete")"#);
    client.assert_closed();
}

#[test]
fn headers_that_would_break_the_framing_are_refused() {
    let (server, journal) = start();
    let mut client = server.connect();
    client.send("GET /injection HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    let entries = journal.wait_for(3);
    assert_eq!(entries[0], r#"InvalidHeader("x-evil: a\r\nx-injected: yes")"#);
    assert_eq!(entries[1], r#"InvalidHeader("bad name: v")"#);
    assert_eq!(entries[2], r#"InvalidHeader("x-lf: a\nb")"#);
    // Nothing of the refused starts reached the wire.
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\nx-ok: fine\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 5\r\n\r\nclean"
    );
}

#[test]
fn a_body_longer_than_its_content_length_is_refused_and_the_connection_cut() {
    let (server, journal) = start();
    let raw = get_until_close(&server, "/too-long");
    assert_eq!(journal.wait_for(1), ["ContentLengthExceeded { declared: 5 }"]);
    // The head was already written when the piece turned out too long; not one byte of
    // the piece follows it, and the close tells the client the body is incomplete.
    assert_eq!(raw, "HTTP/1.1 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 5\r\n\r\n");
    assert_still_serving(server.addr);
}

#[test]
fn a_body_shorter_than_its_content_length_closes_the_connection() {
    let (server, journal) = start();
    let raw = get_until_close(&server, "/too-short");
    assert_eq!(journal.wait_for(1), ["ok"]);
    assert_eq!(raw, "HTTP/1.1 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 10\r\n\r\nshort");
    assert_still_serving(server.addr);
}

#[test]
fn a_declared_content_length_met_in_pieces_keeps_the_connection() {
    let (server, _) = start();
    let mut client = server.connect();
    client.send("GET /exact-length HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 10\r\n\r\nhelloworld"
    );
    client.send("GET /next HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().text(), "/next");
}
