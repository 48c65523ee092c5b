//! The WebSocket protocol (RFC 6455), one concept per file, with no I/O: the server's
//! session task (`server/websocket.rs`) feeds these bytes and writes what they produce.
//! The Python world splits things the same way: `websockets`' sans-I/O `Protocol`, driven
//! by uvicorn's `WebSocketProtocol`.
//!
//! | file | concept |
//! |---|---|
//! | `sha1.rs` | SHA-1, for the accept key (RFC 3174 vectors) |
//! | `base64.rs` | base64, for the keys |
//! | `handshake.rs` | validating the upgrade request, the `101` answer, subprotocols |
//! | `frame.rs` | the incremental frame decoder (a state machine) and the encoder |
//! | `utf8.rs` | UTF-8 validation that fails at the first impossible byte |
//! | `close.rs` | close codes and close payloads |
//! | `message.rs` | reassembly of fragments, the size limit, control frames in between |
//! | `deflate.rs` | permessage-deflate (RFC 7692): the offers, the answer, compressed messages |

pub mod base64;
pub mod close;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod sha1;
pub mod utf8;

pub use message::Message;
