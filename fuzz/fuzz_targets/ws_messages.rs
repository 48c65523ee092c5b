//! The WebSocket message reader (`rasgi_http::ws::message`): frame headers, masking,
//! fragments with control frames between them, the size limit, UTF-8 checked as text
//! arrives, and permessage-deflate. Everything a client sends after the handshake goes
//! through it.
//!
//! The first byte picks the mode and its options; the rest is the input.
//!
//! - **Arbitrary bytes** (the high bit clear). Read whole and read in small pieces, as a
//!   connection's read buffer delivers them, the stream must give the same items and end
//!   in the same failure, if any. Every item must obey the protocol: no data message over
//!   the size limit, no control payload over 125 bytes, no close code that may not be
//!   sent on the wire. A read that completes nothing must have consumed its whole input
//!   (the reader keeps partial headers itself), or the server would spin on it.
//! - **A round trip** (the high bit set). The input is a script of messages, each sent
//!   in fragments, with pings between them, masked or not, compressed or not. The frames
//!   are written with the crate's own encoders, and the reader must give back exactly the
//!   script, whole or in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::ws::close;
use rasgi_http::ws::deflate::{negotiate, Agreement};
use rasgi_http::ws::frame::{encode_frame, encode_header, Opcode, Role};
use rasgi_http::ws::message::{Failure, Incoming, Message, MessageReader};

/// Largest message of a round trip: far above what the script can make, so that only
/// the arbitrary-bytes mode meets the limit.
const ROUND_TRIP_LIMIT: u64 = 1 << 20;

/// What reading a stream produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    items: Vec<Incoming>,
    failure: Option<Failure>,
}

fn agreement() -> Agreement {
    // The plain offer: both windows 15 bits, context kept between messages, so that the
    // inflater's state carries across the messages of one stream.
    negotiate([&b"permessage-deflate"[..]]).expect("the plain permessage-deflate offer is accepted")
}

fn reader(role: Role, max_size: u64, deflate: bool) -> MessageReader {
    let mut reader = MessageReader::new(role, max_size);
    if deflate {
        reader.enable_deflate(agreement().inflater());
    }
    reader
}

/// Feeds `input` to `reader` `piece` bytes at a time, keeping what a read did not
/// consume, until a failure, a close, or the end of the input (what the server's
/// WebSocket session does with its read buffer).
fn read_in_pieces(mut reader: MessageReader, input: &[u8], piece: usize, max_size: u64) -> Outcome {
    let mut outcome = Outcome { items: Vec::new(), failure: None };
    let mut buffered: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        while !buffered.is_empty() {
            match reader.read(&buffered) {
                Ok((used, item)) => {
                    assert!(used <= buffered.len(), "the reader consumed more than it was given");
                    let rest = buffered.len() - used;
                    buffered.drain(..used);
                    let Some(item) = item else {
                        assert_eq!(rest, 0, "a read that completed nothing left input behind");
                        break;
                    };
                    check(&item, max_size);
                    let closed = matches!(item, Incoming::Close(_));
                    outcome.items.push(item);
                    if closed {
                        // The server stops reading once the client has closed.
                        return outcome;
                    }
                }
                Err(failure) => {
                    assert!(
                        matches!(failure.code, close::PROTOCOL_ERROR | close::INVALID_PAYLOAD | close::MESSAGE_TOO_BIG),
                        "failure code {} is not one the reader may send",
                        failure.code
                    );
                    outcome.failure = Some(failure);
                    return outcome;
                }
            }
        }
        if fed == input.len() {
            return outcome;
        }
        let end = (fed + piece).min(input.len());
        buffered.extend_from_slice(&input[fed..end]);
        fed = end;
    }
}

/// The rules every item the reader hands the session must obey.
fn check(item: &Incoming, max_size: u64) {
    match item {
        Incoming::Message(Message::Text(text)) => {
            assert!(text.len() as u64 <= max_size, "a text message over the limit")
        }
        Incoming::Message(Message::Binary(data)) => {
            assert!(data.len() as u64 <= max_size, "a binary message over the limit")
        }
        Incoming::Ping(payload) | Incoming::Pong(payload) => {
            assert!(payload.len() <= 125, "a control payload over 125 bytes")
        }
        Incoming::Close(payload) => {
            assert!(
                payload.code == close::NO_STATUS || close::is_valid_on_wire(payload.code),
                "close code {} may not come from the wire",
                payload.code
            );
            assert!(payload.reason.len() <= 123, "a close reason longer than a control frame holds");
        }
    }
}

/// Arbitrary bytes: the outcome must not depend on where the input is cut.
fn arbitrary(options: u8, input: &[u8]) {
    let role = if options & 1 == 0 { Role::Server } else { Role::Client };
    let deflate = options & 2 != 0;
    // 0 to 2,100 bytes: small enough for a few bytes of input to cross it.
    let max_size = u64::from((options >> 2) & 7) * 300;
    let whole = read_in_pieces(reader(role, max_size, deflate), input, input.len().max(1), max_size);
    let piece = usize::from((options >> 5) & 3) + 1;
    let pieces = read_in_pieces(reader(role, max_size, deflate), input, piece, max_size);
    assert_eq!(whole, pieces, "piece boundaries changed the outcome");
}

/// Takes `n` bytes from the front of `script` (fewer if it runs out).
fn take<'a>(script: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = script.split_at(n.min(script.len()));
    *script = tail;
    head
}

/// A script: messages sent as the reader's peer would send them, and what the reader
/// must make of them.
fn round_trip(options: u8, mut script: &[u8]) {
    let role = if options & 1 == 0 { Role::Server } else { Role::Client };
    let deflate = options & 2 != 0;
    let mut deflater = agreement().deflater();
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut masks = 0u32;
    // A client masks every frame with a fresh key; a server never masks.
    let mut mask = || match role {
        Role::Server => {
            masks = masks.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
            Some(masks.to_be_bytes())
        }
        Role::Client => None,
    };
    while let [kind, len, ..] = *script {
        script = &script[2..];
        let body = take(&mut script, usize::from(len) * 4);
        let message = if kind & 1 == 0 {
            Message::Text(String::from_utf8_lossy(body).into_owned())
        } else {
            Message::Binary(body.to_vec())
        };
        let (opcode, bytes) = match &message {
            Message::Text(text) => (Opcode::Text, text.as_bytes()),
            Message::Binary(data) => (Opcode::Binary, &data[..]),
        };
        let compressed = deflate && kind & 2 != 0;
        let payload = if compressed {
            let mut packed = Vec::new();
            deflater.compress(bytes, &mut packed);
            packed
        } else {
            bytes.to_vec()
        };
        // 1 to 4 fragments, a ping between each two when bit 4 says so.
        let fragments = usize::from((kind >> 2) & 3) + 1;
        let pings = kind & 0x10 != 0;
        let size = payload.len().div_ceil(fragments).max(1);
        let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(size).collect() };
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let op = if i == 0 { opcode } else { Opcode::Continuation };
            let key = mask();
            let start = wire.len();
            encode_header(&mut wire, last, op, piece.len() as u64, key);
            if i == 0 && compressed {
                // RSV1 marks the first frame of a compressed message (RFC 7692 §6).
                wire[start] |= 0x40;
            }
            let body_start = wire.len();
            wire.extend_from_slice(piece);
            if let Some(key) = key {
                for (j, b) in wire[body_start..].iter_mut().enumerate() {
                    *b ^= key[j % 4];
                }
            }
            if pings && !last {
                let ping = [i as u8, kind];
                encode_frame(&mut wire, Opcode::Ping, &ping, mask());
                expected.push(Incoming::Ping(ping.to_vec()));
            }
        }
        expected.push(Incoming::Message(message));
    }
    let want = Outcome { items: expected, failure: None };
    let whole = read_in_pieces(reader(role, ROUND_TRIP_LIMIT, deflate), &wire, wire.len().max(1), ROUND_TRIP_LIMIT);
    assert_eq!(whole, want, "the reader did not give back what was sent");
    let piece = usize::from(options >> 2) % 13 + 1;
    let pieces = read_in_pieces(reader(role, ROUND_TRIP_LIMIT, deflate), &wire, piece, ROUND_TRIP_LIMIT);
    assert_eq!(pieces, want, "read in pieces of {piece}, the reader did not give back what was sent");
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, input)) = data.split_first() else { return };
    if options & 0x80 == 0 {
        arbitrary(options, input);
    } else {
        round_trip(options & 0x7f, input);
    }
});
