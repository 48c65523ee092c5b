//! The demo's WebSocket routes: `/ws/echo`, a chat room per name at `/ws/chat/{room}`,
//! and the page `/chat` that uses it from a browser. The FastAPI documentation's
//! WebSocket chapter builds the same chat with a `ConnectionManager` holding a list of
//! sockets and a `for connection in active_connections: await connection.send_text(...)`
//! loop; here each room is a broadcast channel ([`rasgi_executor::sync::broadcast`]), so
//! a slow client is told it missed messages instead of slowing the whole room down.
//!
//! Each chat session is one task doing two things at once: waiting for its client's next
//! message and waiting for the room's next broadcast, whichever comes first.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use rasgi_executor::sync::broadcast::{self, RecvError};
use rasgi_executor::{select, Either};
use serde_json::json;

use crate::app::{App, Html, Received, Request, WebSocket, WebSocketError};

/// The chat page.
const PAGE: &str = include_str!("chat.html");

/// Messages a room keeps for members that fall behind.
const ROOM_BACKLOG: usize = 256;

/// One room's fan-out: every member holds the sender (to speak) and a receiver.
type Room = Rc<broadcast::Sender<Rc<str>>>;

/// The chat rooms of one loop, by name. Rooms are per loop: with `--workers N`, members
/// of one room only meet if they landed on the same loop, as with FastAPI's in-process
/// `ConnectionManager` under several uvicorn workers.
#[derive(Default)]
pub struct Rooms {
    /// Open rooms; a room is removed when its last member leaves.
    rooms: RefCell<HashMap<String, Room>>,
    /// The number the next member gets, to tell members apart.
    next_member: Cell<u64>,
}

impl Rooms {
    fn join(&self, room: &str) -> (Room, broadcast::Receiver<Rc<str>>, u64) {
        let sender = self
            .rooms
            .borrow_mut()
            .entry(room.to_owned())
            .or_insert_with(|| Rc::new(broadcast::channel(ROOM_BACKLOG)))
            .clone();
        let receiver = sender.subscribe();
        let member = self.next_member.get() + 1;
        self.next_member.set(member);
        (sender, receiver, member)
    }

    fn leave(&self, room: &str) {
        let mut rooms = self.rooms.borrow_mut();
        if rooms.get(room).is_some_and(|sender| sender.receiver_count() == 0) {
            rooms.remove(room);
        }
    }
}

/// Adds `/ws/echo`, `/ws/chat/{room}` and `/chat` to `app`.
pub fn mount(app: App) -> App {
    app.on_startup(|state| async move {
        state.insert(Rooms::default());
        Ok(())
    })
    .get("/chat", page)
    .websocket("/ws/echo", echo)
    .websocket("/ws/chat/{room}", chat)
}

/// `GET /chat`: the page.
async fn page(_request: Request) -> Html<&'static str> {
    Html(PAGE)
}

/// `WS /ws/echo`: every message straight back, text as text and binary as binary — the
/// endpoint conformance suites such as Autobahn expect.
pub async fn echo(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    ws.accept().await?;
    loop {
        match ws.receive().await {
            Received::Text(text) => ws.send_text(&text).await?,
            Received::Bytes(bytes) => ws.send_bytes(&bytes).await?,
            Received::Disconnect { .. } => return Ok(()),
        }
    }
}

/// `WS /ws/chat/{room}`: every text a member sends goes to every member of the room as
/// `{"member": n, "text": ...}`; joins and departures as `{"member": n, "event":
/// "joined" | "left"}`. A member too slow for the room gets `{"event": "lagged",
/// "missed": n}`.
pub async fn chat(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    let room: String = ws.path_param("room")?;
    let Some(rooms) = ws.state::<Rooms>() else {
        return ws.close(1011, "chat rooms are not set up").await;
    };
    ws.accept().await?;
    let (sender, mut receiver, member) = rooms.join(&room);
    let announce = |event: &str| Rc::from(json!({ "member": member, "event": event }).to_string());
    sender.send(announce("joined"));
    let result = loop {
        match select(ws.receive(), receiver.recv()).await {
            Either::Left(Received::Text(text)) => {
                sender.send(Rc::from(json!({ "member": member, "text": text }).to_string()));
            }
            Either::Left(Received::Bytes(_)) => {
                break ws.close(1003, "this room speaks text").await;
            }
            Either::Left(Received::Disconnect { .. }) => break Ok(()),
            Either::Right(Ok(message)) => {
                if let Err(e) = ws.send_text(&message).await {
                    break Err(e);
                }
            }
            Either::Right(Err(RecvError::Lagged(missed))) => {
                if let Err(e) = ws.send_json(&json!({ "event": "lagged", "missed": missed })).await {
                    break Err(e);
                }
            }
            Either::Right(Err(RecvError::Closed)) => break Ok(()),
        }
    };
    drop(receiver);
    sender.send(announce("left"));
    drop(sender);
    rooms.leave(&room);
    result
}
