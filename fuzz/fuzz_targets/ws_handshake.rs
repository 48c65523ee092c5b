//! The small WebSocket parsers a client's bytes reach: `Sec-WebSocket-Key`'s base64
//! (`rasgi_http::ws::base64`), the `Sec-WebSocket-Extensions` negotiation
//! (`ws::deflate::negotiate`) and a close frame's payload (`ws::close::parse`).
//!
//! Each is checked against its encoder, both ways where the format allows:
//!
//! - base64: every byte string encodes and decodes back, and any text that decodes is
//!   exactly the encoding of what it decodes to (one byte string has one encoding, as
//!   the decoder promises);
//! - negotiation: the header values are the input's lines; when an offer is accepted,
//!   the answer rasgi would send is itself an acceptable offer that agrees to the same
//!   thing, since a client reads it with the same grammar;
//! - close payloads: one that parses encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::ws::deflate::{negotiate, parse_offer};
use rasgi_http::ws::{base64, close};

fuzz_target!(|data: &[u8]| {
    let encoded = base64::encode(data);
    assert_eq!(base64::decode(encoded.as_bytes()).as_deref(), Some(data), "base64 did not round-trip");
    if let Some(decoded) = base64::decode(data) {
        assert_eq!(base64::encode(&decoded).as_bytes(), data, "a second encoding of the same bytes was accepted");
    }

    if let Some(agreement) = negotiate(data.split(|&b| b == b'\n')) {
        let answer = agreement.response();
        let offer = parse_offer(answer.as_bytes()).expect("the answer parses as an extension element");
        assert_eq!(offer.name, "permessage-deflate");
        let again = negotiate([answer.as_bytes()]).expect("the answer is an acceptable offer");
        assert_eq!(again.response(), answer, "the answer, offered back, agrees to something else");
    }

    // A close frame holds at most 125 bytes; the frame decoder refuses longer ones.
    if data.len() <= 125 {
        if let Ok(payload) = close::parse(data) {
            assert_eq!(close::encode(payload.code, &payload.reason), data, "a close payload did not round-trip");
        }
    }
});
