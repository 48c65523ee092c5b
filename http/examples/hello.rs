//! The smallest rasgi application: the raw ASGI-like contract, no framework.
//!
//! `cargo run --release -p rasgi-http --example hello -- --port 8001`

use rasgi_http::{header, App, AppError, Receive, Scope, SendEvent, Sender};

struct Hello;

impl App for Hello {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/echo" {
            // Stream the request body back as it arrives.
            send.send(SendEvent::Start {
                status: 200,
                headers: vec![header("content-type", "application/octet-stream")],
                trailers: false,
            })
            .await?;
            loop {
                match receive.receive().await {
                    rasgi_http::ReceiveEvent::Request { body, more_body } => {
                        send.send(SendEvent::Body { body: &body, more_body }).await?;
                        if !more_body {
                            return Ok(());
                        }
                    }
                    rasgi_http::ReceiveEvent::Disconnect => return Ok(()),
                }
            }
        }
        send.respond(200, vec![header("content-type", "text/plain")], b"Hello, World!").await?;
        Ok(())
    }
}

fn main() {
    let config = match rasgi_http::server::Config::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}\n{}", rasgi_http::server::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = rasgi_http::server::run(config, || Hello) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
