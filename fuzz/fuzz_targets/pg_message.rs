//! The Postgres backend-message decoder (`src/pg/message.rs`, through
//! `rasgi::pg::fuzzing`): arbitrary bytes as a server's reply stream.
//!
//! Properties: never a panic (a hostile or broken server must give a protocol error, not
//! bring the process down), and the decoder leaves no more bytes over than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi::pg::fuzzing::parse_backend_messages;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, left)) = parse_backend_messages(data) {
        assert!(left <= data.len());
    }
});
