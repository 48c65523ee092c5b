//! Fuzzes the DEFLATE decoder: arbitrary bytes, as raw DEFLATE, zlib and gzip, whole and in
//! pieces, must give an error or output and never a panic, a hang, or unbounded memory.
//! Whatever decodes must decode the same in pieces, and re-encoding it must round-trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::compress::{compress, decompress, Decoder, Format};

/// Far above what a few kilobytes of input can legitimately need, far below an OOM.
const LIMIT: u64 = 8 << 20;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size, so the fuzzer explores stopping points too.
    let Some((&split, stream)) = data.split_first() else { return };
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        let whole = decompress(format, stream, LIMIT);
        let mut decoder = Decoder::new(format, LIMIT);
        let mut pieces = Vec::new();
        let mut piecewise = Ok(());
        for piece in stream.chunks(split as usize + 1) {
            if let Err(e) = decoder.decode(piece, &mut pieces) {
                piecewise = Err(e);
                break;
            }
        }
        let piecewise = piecewise.and_then(|()| decoder.finish()).map(|()| pieces);
        // Error details may differ (how many trailing bytes one call saw), the verdict not.
        match (&whole, &piecewise) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "decoding in pieces changed the output"),
            (Err(_), Err(_)) => {}
            _ => panic!("whole: {whole:?}, in pieces: {piecewise:?}"),
        }
        if let Ok(out) = whole {
            let again = compress(format, 6, &out);
            assert_eq!(decompress(format, &again, LIMIT).as_deref(), Ok(&out[..]));
        }
    }
});
