//! Pure ASGI-like middleware: `DefaultHeaders` wraps an application, adds its headers to
//! every response start, and — because it only transforms events as they pass — leaves
//! streaming intact: a streamed body still goes out chunked, piece by piece.

mod server_support;

use rasgi_http::middleware::DefaultHeaders;
use rasgi_http::{header, App, AppError, Receive, Scope, SendEvent, Sender};
use server_support::{config, TestServer};

/// `/stream` streams three pieces; anything else is one small response.
struct Inner;

impl App for Inner {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/stream" {
            send.send(SendEvent::Start {
                status: 200,
                headers: vec![header("content-type", "text/plain")],
                trailers: false,
            })
            .await?;
            for piece in ["one", "two", "three"] {
                send.send(SendEvent::Body { body: piece.as_bytes(), more_body: true }).await?;
            }
            send.send(SendEvent::Body { body: b"", more_body: false }).await?;
        } else {
            send.respond(201, vec![header("content-type", "text/plain")], b"created").await?;
        }
        Ok(())
    }
}

fn start() -> TestServer {
    TestServer::start(config(), || {
        // Two layers: the outer one sees (and extends) what the inner one produced.
        let inner = DefaultHeaders::new(Inner, vec![header("x-frame-options", "DENY")]);
        DefaultHeaders::new(inner, vec![header("x-served-by", "rasgi-test")])
    })
}

#[test]
fn default_headers_are_added_to_every_response() {
    let server = start();
    let mut client = server.connect();
    client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nx-frame-options: DENY\r\nx-served-by: rasgi-test\r\n\
         server: rasgi\r\ndate: <DATE>\r\ncontent-length: 7\r\n\r\ncreated"
    );
    response.assert_standard_headers();
}

#[test]
fn streaming_passes_through_the_middleware() {
    let server = start();
    let mut client = server.connect();
    client.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-frame-options: DENY\r\nx-served-by: rasgi-test\r\n\
         server: rasgi\r\ndate: <DATE>\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"
    );
    // The connection carries on afterwards.
    client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().status, 201);
}
