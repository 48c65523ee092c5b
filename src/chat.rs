//! The demo's WebSocket routes: `/ws/echo`, a chat room per name at `/ws/chat/{room}`,
//! and the page `/chat` that uses it from a browser. The FastAPI documentation's
//! WebSocket chapter builds the same chat with a `ConnectionManager` holding a list of
//! sockets and a `for connection in active_connections: await connection.send_text(...)`
//! loop; here each room is a broadcast channel ([`rasgi_executor::sync::broadcast`]), so
//! a slow client is told it missed messages instead of slowing the whole room down.
//!
//! Each chat session is one task doing two things at once: waiting for its client's next
//! message and waiting for the room's next broadcast, whichever comes first.
//!
//! A room spans every server that shares the demo's PostgreSQL — the `--workers` loops of
//! one process, and the processes behind a load balancer. Each loop publishes what its
//! members say with `NOTIFY rasgi_chat` and relays what the others publish into its own
//! rooms, from one `LISTEN`ing connection ([`crate::pg::Listener`]). That is asyncpg's
//! `add_listener` doing what a Redis pub/sub does in the FastAPI world: the database the
//! servers already share is the message bus. Without a database, rooms stay per loop.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use rasgi_executor::sync::broadcast::{self, RecvError};
use rasgi_executor::{log_warn, select, Either};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{App, Html, Received, Request, WebSocket, WebSocketError};
use crate::pg::{Listener, Pool};

/// The NOTIFY channel every loop's rooms share.
const BUS_CHANNEL: &str = "rasgi_chat";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; longer messages stay on the
/// loop where they were said.
const BUS_MAX_PAYLOAD: usize = 7900;

/// The chat page.
const PAGE: &str = include_str!("chat.html");

/// Messages a room keeps for members that fall behind.
const ROOM_BACKLOG: usize = 256;

/// One room's fan-out: every member holds the sender (to speak) and a receiver.
type Room = Rc<broadcast::Sender<Rc<str>>>;

/// The chat rooms of one loop, by name. Without a database, rooms are per loop: with
/// `--workers N`, members of one room only meet if they landed on the same loop, as with
/// FastAPI's in-process `ConnectionManager` under several uvicorn workers. With one, the
/// loops' rooms are joined through NOTIFY (see the module doc). Members are numbered per
/// loop, so two loops may each have a member 1.
#[derive(Default)]
pub struct Rooms {
    /// Open rooms; a room is removed when its last member leaves.
    rooms: RefCell<HashMap<String, Room>>,
    /// The number the next member gets, to tell members apart.
    next_member: Cell<u64>,
    /// Set when the loop has a database: what members say is also published to the other
    /// loops.
    bus: RefCell<Option<Bus>>,
}

/// This loop's side of the message bus between loops.
#[derive(Clone)]
struct Bus {
    /// Where `NOTIFY` is sent from.
    pool: Rc<Pool>,
    /// This loop's name on the bus, so that it skips its own messages when they come back.
    origin: Rc<str>,
}

/// One message on the bus. `Cow`, because a field that needed escaping in the payload
/// (the message is JSON text, full of quotes) cannot be borrowed from it.
#[derive(Serialize, Deserialize)]
struct BusMessage<'a> {
    /// The loop that published it.
    #[serde(borrow)]
    origin: Cow<'a, str>,
    /// The room it was said in.
    #[serde(borrow)]
    room: Cow<'a, str>,
    /// The message as the room's members receive it (JSON text).
    #[serde(borrow)]
    message: Cow<'a, str>,
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

    /// Says `message` in `room`: to this loop's members, and through the bus to the
    /// others'. A bus that fails is logged; the room here still hears the message.
    async fn say(&self, room: &str, sender: &Room, message: Rc<str>) {
        sender.send(message.clone());
        let Some(bus) = self.bus.borrow().clone() else { return };
        let payload = serde_json::to_string(&BusMessage {
            origin: Cow::Borrowed(&bus.origin),
            room: Cow::Borrowed(room),
            message: Cow::Borrowed(&message),
        });
        match payload {
            Ok(payload) if payload.len() <= BUS_MAX_PAYLOAD => {
                if let Err(e) = bus.pool.execute("SELECT pg_notify($1, $2)", &[&BUS_CHANNEL, &payload]).await {
                    log_warn!("chat: could not publish to the other servers: {e}");
                }
            }
            Ok(_) => log_warn!("chat: a message over {BUS_MAX_PAYLOAD} bytes stays on this server"),
            Err(e) => log_warn!("chat: cannot encode a message for the bus: {e}"),
        }
    }

    /// Delivers a message from the bus to this loop's members of its room, unless this
    /// loop published it.
    fn deliver(&self, payload: &str, origin: &str) {
        let Ok(message) = serde_json::from_str::<BusMessage<'_>>(payload) else {
            log_warn!("chat: ignoring a malformed message on {BUS_CHANNEL}");
            return;
        };
        if message.origin == origin {
            return;
        }
        let sender = self.rooms.borrow().get(&*message.room).cloned();
        if let Some(sender) = sender {
            sender.send(Rc::from(&*message.message));
        }
    }
}

/// The loop's end of the bus: relays every message other loops publish into the local
/// rooms, for as long as the loop runs. The listener reconnects by itself; only an error
/// it cannot fix (a refused LISTEN) ends the relay.
async fn relay(rooms: Rc<Rooms>, mut listener: Listener, origin: Rc<str>) {
    loop {
        match listener.recv().await {
            Ok(notification) => rooms.deliver(&notification.payload, &origin),
            Err(e) => {
                log_warn!("chat: rooms are per server from now on: the {BUS_CHANNEL} listener failed: {e}");
                return;
            }
        }
    }
}

/// Joins the bus when the loop has a database: LISTENs on [`BUS_CHANNEL`] and spawns the
/// relay. Each loop gets its own name, made of the process id and a counter.
async fn join_bus(rooms: Rc<Rooms>, pool: Rc<Pool>) {
    static LOOPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = LOOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let origin: Rc<str> = Rc::from(format!("{}-{number}", std::process::id()));
    let listener = async {
        let mut listener = Listener::connect(pool.config().clone()).await?;
        listener.listen(BUS_CHANNEL).await?;
        Ok::<_, crate::pg::PgError>(listener)
    };
    match listener.await {
        Ok(listener) => {
            *rooms.bus.borrow_mut() = Some(Bus { pool, origin: origin.clone() });
            drop(rasgi_executor::spawn_named("chat bus relay", relay(rooms, listener, origin)));
        }
        // The database may be down at startup: the rooms still work on this loop.
        Err(e) => log_warn!("chat: rooms are per server: cannot LISTEN on {BUS_CHANNEL}: {e}"),
    }
}

/// Adds `/ws/echo`, `/ws/chat/{room}` and `/chat` to `app`.
pub fn mount(app: App) -> App {
    app.on_startup(|state| async move {
        state.insert(Rooms::default());
        if let (Some(rooms), Some(pool)) = (state.get::<Rooms>(), state.get::<Pool>()) {
            join_bus(rooms, pool).await;
        }
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
    rooms.say(&room, &sender, announce("joined")).await;
    let result = loop {
        match select(ws.receive(), receiver.recv()).await {
            Either::Left(Received::Text(text)) => {
                rooms.say(&room, &sender, Rc::from(json!({ "member": member, "text": text }).to_string())).await;
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
    rooms.say(&room, &sender, announce("left")).await;
    drop(sender);
    rooms.leave(&room);
    result
}
