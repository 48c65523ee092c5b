//! permessage-deflate (RFC 7692) as raw bytes over a real socket: which offer the server
//! accepts and its exact answer, RFC 7692 §7.2.3's example frames, the RSV1 rules,
//! context takeover against `server_no_context_takeover` (both directions),
//! `server_max_window_bits` down to 8, the size limit counted on the inflated message
//! (1009), corrupt compressed data (1007), and the switch `--ws-per-message-deflate false`.

mod server_support;
mod ws_support;

use rasgi_http::compress::{Deflater, Inflater};
use rasgi_http::server::Config;
use rasgi_http::{
    header, App, AppError, Message, Receive, Scope, Sender, WebSocketChannel, WebSocketReceiveEvent, WebSocketScope,
    WebSocketSendEvent,
};
use server_support::{config, Journal, TestServer};
use ws_support::{frame, upgrade, Ws, ACCEPTED};

/// Echoes every message; journals the disconnect as `code reason`.
struct Echo {
    journal: Journal,
}

impl App for Echo {
    async fn call(&self, _scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        send.respond(404, vec![header("content-type", "text/plain")], b"websockets only").await?;
        Ok(())
    }

    async fn websocket(&self, _scope: &WebSocketScope, socket: &WebSocketChannel<'_>) -> Result<(), AppError> {
        assert_eq!(socket.receive().await, WebSocketReceiveEvent::Connect);
        socket.send(WebSocketSendEvent::Accept { subprotocol: None, headers: Vec::new() }).await?;
        loop {
            match socket.receive().await {
                WebSocketReceiveEvent::Receive(Message::Text(text)) => {
                    socket.send(WebSocketSendEvent::Text(&text)).await?
                }
                WebSocketReceiveEvent::Receive(Message::Binary(bytes)) => {
                    socket.send(WebSocketSendEvent::Bytes(&bytes)).await?
                }
                WebSocketReceiveEvent::Disconnect { code, reason } => {
                    self.journal.push(format!("{code} {reason}"));
                    return Ok(());
                }
                WebSocketReceiveEvent::Connect => return Err(AppError::new("a second connect event")),
            }
        }
    }
}

fn start_with(config: Config) -> (TestServer, Journal) {
    let journal = Journal::default();
    let for_app = journal.clone();
    (TestServer::start(config, move || Echo { journal: for_app.clone() }), journal)
}

fn start() -> (TestServer, Journal) {
    start_with(config())
}

/// The `101` head the server gives when it answers `extensions`.
fn accepted_with(extensions: &str) -> String {
    ACCEPTED.replace("\r\n\r\n", &format!("\r\nsec-websocket-extensions: {extensions}\r\n\r\n"))
}

/// Opens a socket that offers `offer` and checks the server agreed to `answer`.
fn open(server: &TestServer, offer: &str, answer: &str) -> Ws {
    let (ws, head) = Ws::handshake(server.addr, &upgrade("/", &format!("Sec-WebSocket-Extensions: {offer}\r\n")));
    assert_eq!(head, accepted_with(answer));
    ws
}

/// A masked client frame with RSV1 set on top of `first_byte`.
fn compressed(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    frame(first_byte | 0x40, payload)
}

/// `message` compressed as a client would: raw DEFLATE, sync-flushed, tail stripped.
fn deflate(deflater: &mut Deflater, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    deflater.compress(message, &mut out);
    deflater.flush(&mut out);
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A message of 172 bytes that compresses well.
const FOX: &str = "the quick brown fox jumps over the lazy dog, and again: the quick brown fox jumps over \
                   the lazy dog, and once more the quick brown fox jumps over the lazy dog; that is all.";

#[test]
fn negotiation_answers_the_first_acceptable_offer_exactly() {
    let (server, _) = start();
    let cases = [
        // What Chromium and Python's websockets send.
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits=10", "permessage-deflate"),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        // 8 bits is honoured as 8, never widened to zlib's 9.
        ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
        // Unknown, repeated or badly valued parameters make an offer unacceptable; the
        // next one is taken.
        (
            "permessage-deflate; future_option, permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover; client_no_context_takeover, \
             permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=\"12\"",
            "permessage-deflate; server_max_window_bits=12",
        ),
    ];
    for (offer, answer) in cases {
        open(&server, offer, answer);
    }
    // Offers spread over two header lines are one list, in order.
    let two_lines = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits\r\n\
                     Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n";
    let (_, head) = Ws::handshake(server.addr, &upgrade("/", two_lines));
    assert_eq!(head, accepted_with("permessage-deflate; server_no_context_takeover"));
}

#[test]
fn unacceptable_offers_and_the_switch_decline_the_extension() {
    let (server, _) = start();
    for offer in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=yes",
        "x-webkit-deflate-frame",
    ] {
        let extra = format!("Sec-WebSocket-Extensions: {offer}\r\n");
        let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/", &extra));
        assert_eq!(head, ACCEPTED, "{offer}: declined");
        // Declined means RSV1 is a protocol error again.
        let reserved = "reserved bits set without an extension that defines them";
        ws.expect_failure(&compressed(0x81, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 1002, reserved);
    }
    let (server, _) = start_with(Config { ws_per_message_deflate: false, ..config() });
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (mut ws, head) = Ws::handshake(server.addr, &upgrade("/", offer));
    assert_eq!(head, ACCEPTED, "--ws-per-message-deflate false declines every offer");
    ws.send(&frame(0x81, FOX.as_bytes()));
    assert_eq!(ws.read_text(), FOX, "and sends uncompressed");
}

#[test]
fn rfc7692_examples_and_small_messages_go_uncompressed() {
    let (server, _) = start();
    let mut ws = open(&server, "permessage-deflate", "permessage-deflate");
    // §7.2.3.1: "Hello" in one compressed frame. The echo is below the compression
    // threshold, so it comes back as a plain frame: RSV1 is per message.
    ws.send(&compressed(0x81, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]));
    ws.expect(b"\x81\x05Hello");
    // §7.2.3.2: the same message again, through the shared window (context takeover).
    ws.send(&compressed(0x81, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    ws.expect(b"\x81\x05Hello");
    // §7.2.3.1, fragmented: RSV1 on the first frame only, a ping in between.
    let mut stream = compressed(0x01, &[0xf2, 0x48, 0xcd]);
    stream.extend(frame(0x89, b"hi"));
    stream.extend(frame(0x80, &[0xc9, 0xc9, 0x07, 0x00]));
    ws.send(&stream);
    ws.expect(b"\x8a\x02hi");
    ws.expect(b"\x81\x05Hello");
    // §7.2.3.3: a stored (uncompressed) block inside a compressed message.
    ws.send(&compressed(0x81, &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]));
    ws.expect(b"\x81\x05Hello");
    // §7.2.3.4: a final block (BFINAL) ends the message's stream.
    ws.send(&compressed(0x81, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]));
    ws.expect(b"\x81\x05Hello");
    // And a plain message on the same connection.
    ws.send(&frame(0x81, b"plain"));
    ws.expect(b"\x81\x05plain");
}

#[test]
fn rsv1_only_on_the_first_frame_of_a_data_message() {
    let (server, journal) = start();
    let offer = "permessage-deflate";
    let mut ws = open(&server, offer, offer);
    let mut stream = frame(0x01, b"Hel");
    stream.extend(compressed(0x80, b"lo"));
    ws.expect_failure(&stream, 1002, "RSV1 set on a continuation frame");
    assert_eq!(journal.wait_for(1), ["1002 RSV1 set on a continuation frame"]);
    open(&server, offer, offer).expect_failure(&compressed(0x89, b""), 1002, "reserved bits set on a control frame");
    open(&server, offer, offer).expect_failure(
        &compressed(0x88, b"\x03\xe8"),
        1002,
        "reserved bits set on a control frame",
    );
    let reserved = "reserved bits set without an extension that defines them";
    open(&server, offer, offer).expect_failure(&frame(0xA1, b"x"), 1002, reserved);
}

#[test]
fn server_messages_are_compressed_with_context_takeover() {
    let (server, _) = start();
    let offer = "permessage-deflate";
    let mut ws = open(&server, offer, offer);
    ws.send(&frame(0x81, FOX.as_bytes()));
    let (first_byte, first) = ws.read_frame();
    assert_eq!(first_byte, 0xc1, "FIN + RSV1 + text");
    ws.send(&frame(0x81, FOX.as_bytes()));
    let (second_byte, second) = ws.read_frame();
    assert_eq!(second_byte, 0xc1);
    // The repeat is one match, 172 bytes long and 172 back, in a fixed-Huffman block:
    // five bytes (zlib agrees).
    assert_eq!(second, [0x1a, 0x4a, 0x6e, 0x05, 0x00], "after {} bytes for the first", first.len());
    // What a client does: one decoder for the whole connection, the tail put back.
    let mut inflater = Inflater::new();
    for packed in [first, second] {
        let mut out = Vec::new();
        inflater.inflate(&packed, &mut out).unwrap();
        inflater.inflate(&[0, 0, 0xff, 0xff], &mut out).unwrap();
        assert_eq!(out, FOX.as_bytes());
    }
}

#[test]
fn server_no_context_takeover_makes_every_message_stand_alone() {
    let (server, _) = start();
    let offer = "permessage-deflate; server_no_context_takeover";
    let mut ws = open(&server, offer, offer);
    ws.send(&frame(0x81, FOX.as_bytes()));
    let (_, first) = ws.read_frame();
    ws.send(&frame(0x81, FOX.as_bytes()));
    let (second_byte, second) = ws.read_frame();
    assert_eq!(second_byte, 0xc1);
    assert_eq!(second, first, "no history: the same message compresses to the same bytes");
    let mut out = Vec::new();
    let mut inflater = Inflater::new();
    inflater.inflate(&second, &mut out).unwrap();
    inflater.inflate(&[0, 0, 0xff, 0xff], &mut out).unwrap();
    assert_eq!(out, FOX.as_bytes(), "decodable by a fresh decoder");
}

/// Inflates a connection's worth of server frames with one decoder, as a client does.
fn inflate_all(frames: &[Vec<u8>]) -> Vec<String> {
    let mut inflater = Inflater::new();
    frames
        .iter()
        .map(|packed| {
            let mut out = Vec::new();
            inflater.inflate(packed, &mut out).unwrap();
            inflater.inflate(&[0, 0, 0xff, 0xff], &mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
        .collect()
}

#[test]
fn client_context_takeover_and_no_context_takeover() {
    let (server, journal) = start();
    // With takeover the client's second message refers to its first, and the server's
    // decoder follows.
    let mut ws = open(&server, "permessage-deflate", "permessage-deflate");
    let mut client = Deflater::new(6);
    let first = deflate(&mut client, FOX.as_bytes());
    let second = deflate(&mut client, FOX.as_bytes());
    assert!(second.len() < first.len() / 4, "{} then {}", first.len(), second.len());
    let mut echoes = Vec::new();
    for packed in [&first, &second] {
        ws.send(&compressed(0x81, packed));
        let (byte, echo) = ws.read_frame();
        assert_eq!(byte, 0xc1);
        echoes.push(echo);
    }
    assert_eq!(inflate_all(&echoes), [FOX, FOX]);
    // client_no_context_takeover: every client message is a stream of its own...
    let offer = "permessage-deflate; client_no_context_takeover";
    let mut ws = open(&server, offer, offer);
    let mut echoes = Vec::new();
    for _ in 0..2 {
        ws.send(&compressed(0x81, &first));
        echoes.push(ws.read_frame().1);
    }
    assert_eq!(inflate_all(&echoes), [FOX, FOX]);
    // ...so the server forgot the first message, and one that refers back to it cannot
    // be decoded.
    ws.expect_failure(&compressed(0x81, &second), 1007, "compressed data that does not inflate");
    assert_eq!(journal.wait_for(1), ["1007 compressed data that does not inflate"]);
}

#[test]
fn the_size_limit_counts_inflated_bytes() {
    let (server, journal) = start_with(Config { ws_max_size: 1000, ..config() });
    let offer = "permessage-deflate";
    let mut ws = open(&server, offer, offer);
    let exact = deflate(&mut Deflater::new(6), &[b'a'; 1000]);
    assert!(exact.len() < 20, "1000 bytes in {} compressed", exact.len());
    ws.send(&compressed(0x82, &exact));
    let (byte, _) = ws.read_frame();
    assert_eq!(byte, 0xc2, "exactly the limit passes");
    // One byte more, in a frame of a few bytes: 1009, before the message is ever whole.
    let over = deflate(&mut Deflater::new(6), &[b'a'; 1001]);
    ws.expect_failure(&compressed(0x82, &over), 1009, "a message larger than the size limit");
    assert_eq!(journal.wait_for(1), ["1009 a message larger than the size limit"]);
    // A bomb: 16 MiB of zeros in a few kilobytes, fragmented; refused without inflating it.
    let bomb = deflate(&mut Deflater::new(9), &vec![0u8; 16 << 20]);
    assert!(bomb.len() < 32 * 1024, "{} bytes", bomb.len());
    let mut stream = compressed(0x02, &bomb[..bomb.len() / 2]);
    stream.extend(frame(0x80, &bomb[bomb.len() / 2..]));
    open(&server, offer, offer).expect_failure(&stream, 1009, "a message larger than the size limit");
}

#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let (server, journal) = start();
    let offer = "permessage-deflate";
    // Block type 3 is reserved.
    open(&server, offer, offer).expect_failure(
        &compressed(0x82, &[0xff, 0xff]),
        1007,
        "compressed data that does not inflate",
    );
    assert_eq!(journal.wait_for(1), ["1007 compressed data that does not inflate"]);
    // "a", then a match 2 bytes back: before the first byte of the stream.
    let far = [0x4a, 0x04, 0x42, 0x00];
    open(&server, offer, offer).expect_failure(&compressed(0x82, &far), 1007, "compressed data that does not inflate");
    // Valid DEFLATE whose text is not UTF-8: a stored block holding 0xff.
    let latin = [0x00, 0x01, 0x00, 0xfe, 0xff, 0xff];
    open(&server, offer, offer).expect_failure(&compressed(0x81, &latin), 1007, "a text message that is not UTF-8");
}

#[test]
fn server_max_window_bits_is_honoured_down_to_8() {
    let (server, _) = start();
    // 300 bytes with no repeat inside, twice: the second copy is 300 bytes back, beyond
    // a 256-byte window.
    let mut state = 0x2545_f491u32;
    let noise: Vec<u8> = (0..300)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 24) as u8
        })
        .collect();
    let twice = [noise.as_slice(), noise.as_slice()].concat();
    let mut sizes = Vec::new();
    for bits in [8u8, 15] {
        let offer = format!("permessage-deflate; server_max_window_bits={bits}");
        let mut ws = open(&server, &offer, &offer);
        ws.send(&frame(0x82, &twice));
        let (byte, packed) = ws.read_frame();
        assert_eq!(byte, 0xc2);
        // A decoder with exactly the agreed window refuses any match beyond it.
        let mut inflater = Inflater::new().with_window_bits(bits);
        let mut out = Vec::new();
        inflater.inflate(&packed, &mut out).unwrap();
        inflater.inflate(&[0, 0, 0xff, 0xff], &mut out).unwrap();
        assert_eq!(out, twice);
        sizes.push(packed.len());
        if bits == 15 {
            let mut narrow = Inflater::new().with_window_bits(8);
            assert!(narrow.inflate(&packed, &mut Vec::new()).is_err(), "the check can tell the difference");
        }
    }
    assert!(sizes[0] > 500 && sizes[1] < 400, "the 8-bit window cannot see the repeat: {sizes:?}");
}
