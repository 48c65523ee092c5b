//! The server's request reader: `head::parse` on arbitrary bytes, then the body framing it
//! chose driven over the rest of the input, then the next pipelined request, as a
//! keep-alive connection would.
//!
//! Beyond "never panics", two properties: the head is *check-then-parse* consistent (any
//! strict prefix of an accepted head is incomplete or an error, never a different
//! request), and the body framing never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::chunked::ChunkedDecoder;
use rasgi_http::head::{parse, BodyFraming};
use rasgi_http::Scope;

fuzz_target!(|data: &[u8]| {
    let mut scope = Scope::build("GET", "/", &[]);
    let mut rest = data;
    // A few pipelined requests are enough to reach every state of the reader.
    for _ in 0..4 {
        let info = match parse(rest, &mut scope) {
            Ok(Some(info)) => info,
            Ok(None) | Err(_) => return,
        };
        assert!(info.len > 0 && info.len <= rest.len());
        // The same head cut short must not parse as a whole request.
        let mut shorter = Scope::build("GET", "/", &[]);
        if let Ok(Some(other)) = parse(&rest[..info.len - 1], &mut shorter) {
            panic!("a prefix of the head parsed as a request of {} bytes", other.len);
        }
        let _ = (scope.method(), scope.path(), scope.query_string(), scope.headers().count());
        rest = &rest[info.len..];
        match info.body {
            BodyFraming::Empty => {}
            BodyFraming::Length(n) => {
                let take = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
                rest = &rest[take..];
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                loop {
                    match decoder.decode(rest) {
                        Ok(decoded) => {
                            assert!(decoded.consumed <= rest.len());
                            assert!(decoded.data.end <= decoded.consumed);
                            rest = &rest[decoded.consumed..];
                            if decoded.done {
                                break;
                            }
                            if decoded.consumed == 0 {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }
});
