//! Non-blocking TCP (and Unix-domain streams) on the reactor: the sockets under uvicorn's
//! `asyncio.start_server`, asyncpg's connection and httpx's transport.
//!
//! Every operation is offered twice: as a `poll_*` function (what hand-written futures
//! call from their own `poll`) and as an awaitable leaf future built on it (what
//! `async fn` code calls).

mod listener;
mod stream;
mod unix;

pub use listener::{inherit_listener, Accept, ListenOptions, TcpListener};
pub use stream::{Connect, Read, TcpStream, Write, WriteAll};
pub use unix::{UnixAccept, UnixListener, UnixStream};
