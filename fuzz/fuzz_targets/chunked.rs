//! The chunked decoder (`rasgi_http::chunked`), shared by the server's request bodies and
//! the client's response bodies.
//!
//! Bytes arrive from the network in arbitrary pieces, so the property checked is that the
//! piece boundaries do not matter: decoding the input as one buffer and decoding it fed
//! in small pieces (the first byte chooses their size) give the same body, the same end,
//! and agree on whether it is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::chunked::ChunkedDecoder;

/// What decoding found: the body bytes, whether the terminating chunk was read, whether
/// the input was refused.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    done: bool,
    error: bool,
    /// Input bytes the decoder took in total (framing included), once the body ended;
    /// before that, how far it got depends on where the pieces were cut.
    consumed: usize,
}

/// Feeds `input` to a decoder `piece` bytes at a time, keeping what it did not consume,
/// as a connection's read buffer does.
fn decode_in_pieces(input: &[u8], piece: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut buffered: Vec<u8> = Vec::new();
    let mut outcome = Outcome { body: Vec::new(), done: false, error: false, consumed: 0 };
    let mut fed = 0;
    loop {
        match decoder.decode(&buffered) {
            Ok(decoded) => {
                assert!(decoded.consumed <= buffered.len());
                assert!(decoded.data.start <= decoded.data.end && decoded.data.end <= decoded.consumed);
                outcome.body.extend_from_slice(&buffered[decoded.data.clone()]);
                buffered.drain(..decoded.consumed);
                outcome.consumed += decoded.consumed;
                if decoded.done {
                    assert!(decoder.is_done());
                    outcome.done = true;
                    return outcome;
                }
                if decoded.consumed > 0 {
                    continue;
                }
            }
            Err(_) => {
                outcome.error = true;
                outcome.consumed = 0;
                return outcome;
            }
        }
        // The decoder wants more bytes.
        if fed == input.len() {
            outcome.consumed = 0;
            return outcome;
        }
        let end = (fed + piece).min(input.len());
        buffered.extend_from_slice(&input[fed..end]);
        fed = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let whole = decode_in_pieces(input, input.len().max(1));
    let pieces = decode_in_pieces(input, usize::from(first % 7) + 1);
    assert_eq!(whole, pieces, "piece boundaries changed the outcome");
});
