//! The tokio-tungstenite peer: `/ws/echo` sends every message back, `/ws/broadcast` sends
//! every text message to every connected client through `tokio::sync::broadcast`. One
//! current-thread runtime with a `LocalSet`, like one rasgi loop. `tungstenite-ws --port P`.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let (hub, _) = broadcast::channel::<Utf8Bytes>(1024);
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(serve(stream, hub.clone()));
        }
    });
}

async fn serve(stream: TcpStream, hub: broadcast::Sender<Utf8Bytes>) {
    let mut path = String::new();
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    if path == "/ws/echo" {
        let mut ws = ws;
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
        return;
    }
    let (mut tx, mut rx) = ws.split();
    let mut inbox = hub.subscribe();
    loop {
        tokio::select! {
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => { let _ = hub.send(text); }
                Some(Ok(_)) => {}
                _ => return,
            },
            delivered = inbox.recv() => match delivered {
                Ok(text) => if tx.send(Message::Text(text)).await.is_err() { return },
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}
