//! The client's response parser (`client::response::parse_head`, through
//! `rasgi_http::fuzzing`), with the chunked body that follows when the head asks for one.
//!
//! Properties: a strict prefix of an accepted head is never a complete head, the head
//! never claims more bytes than it was given, and its framing is consistent (`length`
//! comes with a length, a bodiless status never has a body framing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::chunked::ChunkedDecoder;
use rasgi_http::fuzzing::parse_response_head;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let request_was_head = flags & 1 == 1;
    let head = match parse_response_head(input, request_was_head) {
        Ok(Some(head)) => head,
        Ok(None) | Err(_) => return,
    };
    assert!(head.len > 0 && head.len <= input.len());
    if let Ok(Some(shorter)) = parse_response_head(&input[..head.len - 1], request_was_head) {
        panic!("a prefix of the head parsed as a head of {} bytes", shorter.len);
    }
    assert_eq!(head.framing == "length", head.content_length.is_some());
    let bodiless = request_was_head || head.status < 200 || head.status == 204 || head.status == 304;
    if bodiless {
        assert_eq!(head.framing, "empty");
    }
    if head.framing == "close" {
        assert!(!head.keep_alive, "a close-delimited body cannot leave the connection reusable");
    }
    if head.framing == "chunked" {
        let mut rest = &input[head.len..];
        let mut decoder = ChunkedDecoder::new();
        while let Ok(decoded) = decoder.decode(rest) {
            rest = &rest[decoded.consumed..];
            if decoded.done || decoded.consumed == 0 {
                break;
            }
        }
    }
});
