//! Byte-exact checks of the codec: streams written by C zlib, streams rasgi writes, and
//! every kind of malformed input with the error it must give.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
}

const NO_LIMIT: u64 = u64::MAX;

#[test]
fn decodes_streams_written_by_c_zlib() {
    // Python: zlib.compress(b"hello"), gzip.compress(b"hello", mtime=0), and raw wbits=-15.
    assert_eq!(decompress(Format::Zlib, &hex("789ccb48cdc9c90700062c0215"), NO_LIMIT).unwrap(), b"hello");
    assert_eq!(
        decompress(Format::Gzip, &hex("1f8b0800000000000203cb48cdc9c9070086a6103605000000"), NO_LIMIT).unwrap(),
        b"hello"
    );
    assert_eq!(decompress(Format::Raw, &hex("cb48cdc9c90700"), NO_LIMIT).unwrap(), b"hello");
    assert_eq!(decompress(Format::Zlib, &hex("789c030000000001"), NO_LIMIT).unwrap(), b"");
    // zlib.compress(b"a" * 1000): one overlapping match repeated.
    assert_eq!(
        decompress(Format::Zlib, &hex("789c4b4c1c05a360140c770000f9d87af8"), NO_LIMIT).unwrap(),
        vec![b'a'; 1000]
    );
}

#[test]
fn a_sync_flush_ends_on_the_marker_and_keeps_the_window() {
    // Python: compressobj(6, DEFLATED, -15).compress(b"abc" * 6) + flush(Z_SYNC_FLUSH).
    let zlib_flushed = hex("4a4c4a4e444500000000ffff");
    let mut inflater = Inflater::new();
    let mut out = Vec::new();
    assert_eq!(inflater.inflate(&zlib_flushed, &mut out).unwrap(), Status::NeedsInput);
    assert_eq!(out, b"abcabcabcabcabcabc");

    // rasgi's flush: the same marker, and a second message may refer to the first.
    let mut deflater = Deflater::new(6);
    let mut first = Vec::new();
    deflater.compress(b"the quick brown fox jumps over the lazy dog", &mut first);
    deflater.flush(&mut first);
    assert!(first.ends_with(&[0, 0, 0xff, 0xff]));
    let mut second = Vec::new();
    deflater.compress(b"the quick brown fox jumps over the lazy dog", &mut second);
    deflater.flush(&mut second);
    assert!(second.ends_with(&[0, 0, 0xff, 0xff]));
    assert!(second.len() < 12, "context takeover: the second message is one match, got {second:02x?}");

    let mut inflater = Inflater::new();
    let mut out = Vec::new();
    // permessage-deflate strips the marker and the receiver puts it back.
    let stripped = &first[..first.len() - 4];
    inflater.inflate(stripped, &mut out).unwrap();
    inflater.inflate(&[0, 0, 0xff, 0xff], &mut out).unwrap();
    assert_eq!(out, b"the quick brown fox jumps over the lazy dog");
    out.clear();
    inflater.inflate(&second, &mut out).unwrap();
    assert_eq!(out, b"the quick brown fox jumps over the lazy dog");

    // A per-message limit on a decoder that lives across messages.
    let mut limited = Inflater::new();
    let mut out = Vec::new();
    limited.limit_further(43);
    limited.inflate(&first, &mut out).unwrap();
    limited.limit_further(42);
    assert_eq!(limited.inflate(&second, &mut out), Err(CompressError::OutputLimit(42)));

    // Without context takeover both sides reset, and the second message stands alone.
    deflater.reset();
    let mut alone = Vec::new();
    deflater.compress(b"the quick brown fox jumps over the lazy dog", &mut alone);
    deflater.flush(&mut alone);
    assert_eq!(alone, first);
    let mut fresh = Inflater::new();
    out.clear();
    assert!(matches!(
        fresh.inflate(&second, &mut out),
        Err(CompressError::DistanceTooFar { distance: 43, available: 0 })
    ));
}

#[test]
fn window_bits_limit_the_decoder_and_the_encoder() {
    // A match 300 bytes back is fine with a 512-byte window, refused with 256.
    let mut data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 251) as u8).collect();
    data.extend_from_within(..100);
    let packed = compress(Format::Raw, 9, &data);
    let mut out = Vec::new();
    Inflater::new().with_window_bits(9).inflate(&packed, &mut out).unwrap();
    assert_eq!(out, data);
    let err = Inflater::new().with_window_bits(8).inflate(&packed, &mut Vec::new());
    assert_eq!(err, Err(CompressError::DistanceTooFar { distance: 300, available: 256 }));

    let mut narrow = Deflater::new(9).with_window_bits(8);
    let mut packed = Vec::new();
    narrow.compress(&data, &mut packed);
    narrow.finish(&mut packed);
    let mut out = Vec::new();
    Inflater::new().with_window_bits(8).inflate(&packed, &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn rasgi_writes_exact_small_streams() {
    // Empty input: one fixed final block holding only the end-of-block code, as zlib writes.
    assert_eq!(compress(Format::Raw, 6, b""), [0x03, 0x00]);
    assert_eq!(compress(Format::Zlib, 6, b""), hex("789c030000000001"));
    assert_eq!(compress(Format::Raw, 6, b"hello"), hex("cb48cdc9c90700"));
    assert_eq!(compress(Format::Gzip, 9, b"hello"), hex("1f8b08000000000002ffcb48cdc9c9070086a6103605000000"));
    // Level 0: a final stored block: 01, LEN 5, NLEN !5, the bytes.
    assert_eq!(compress(Format::Raw, 0, b"hello"), hex("010500faff68656c6c6f"));
}

#[test]
fn every_level_round_trips_every_shape() {
    let text = b"It was the best of times, it was the worst of times, it was the age of wisdom. ".repeat(200);
    let mut random = Vec::with_capacity(100_000);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        random.push(x as u8);
    }
    let zeros = vec![0u8; 300_000];
    for level in 0..=9 {
        for data in [&b""[..], b"x", &text, &random, &zeros] {
            for format in [Format::Raw, Format::Zlib, Format::Gzip] {
                let packed = compress(format, level, data);
                assert_eq!(decompress(format, &packed, NO_LIMIT).unwrap(), data, "level {level} {format:?}");
            }
        }
        // Incompressible data grows only by the stored-block framing: 5 bytes per block,
        // and a block holds at most 16 K symbols.
        let packed = compress(Format::Raw, level, &random);
        assert!(packed.len() <= random.len() + 5 * (random.len() / 16_383 + 1), "level {level}: {}", packed.len());
    }
}

#[test]
fn input_in_one_byte_pieces_decodes_the_same() {
    let data = b"{\"id\": 1, \"name\": \"rasgi\", \"tags\": [\"a\", \"b\", \"a\", \"b\"]} ".repeat(50);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        for level in [0, 1, 6, 9] {
            let packed = compress(format, level, &data);
            let mut decoder = Decoder::new(format, NO_LIMIT);
            let mut out = Vec::new();
            for byte in &packed {
                decoder.decode(std::slice::from_ref(byte), &mut out).unwrap();
            }
            decoder.finish().unwrap();
            assert_eq!(out, data);
        }
    }
}

#[test]
fn the_output_limit_stops_a_bomb() {
    // 10 MB of zeros compress to about 10 KB.
    let bomb = compress(Format::Gzip, 9, &vec![0u8; 10_000_000]);
    assert!(bomb.len() < 20_000);
    assert_eq!(decompress(Format::Gzip, &bomb, 1_000_000), Err(CompressError::OutputLimit(1_000_000)));
    assert_eq!(decompress(Format::Gzip, &bomb, 10_000_000).map(|v| v.len()), Ok(10_000_000));
}

/// Faults come out in stream order, whatever the pieces: the output decoded before a
/// corrupt block reaches the caller, and a stream already past its limit fails on the
/// limit, with exactly the limit's worth handed out.
#[test]
fn the_first_fault_in_the_stream_is_the_one_reported() {
    // A stored block of 100 bytes, then a final block of the reserved type 3.
    let content: Vec<u8> = (0..100u8).collect();
    let mut stream = vec![0x00, 100, 0, !100, 0xff];
    stream.extend_from_slice(&content);
    stream.push(0x07);
    for (limit, fault, handed_out) in
        [(10, CompressError::OutputLimit(10), &content[..10]), (1000, CompressError::BadBlockType, &content[..])]
    {
        let mut whole = Vec::new();
        assert_eq!(Inflater::new().with_limit(limit).inflate(&stream, &mut whole), Err(fault.clone()));
        assert_eq!(whole, handed_out, "whole, limit {limit}");
        let mut inflater = Inflater::new().with_limit(limit);
        let mut pieces = Vec::new();
        let verdict =
            stream.iter().try_for_each(|byte| inflater.inflate(std::slice::from_ref(byte), &mut pieces).map(drop));
        assert_eq!(verdict, Err(fault), "byte by byte, limit {limit}");
        assert_eq!(pieces, handed_out, "byte by byte, limit {limit}");
    }
}

#[test]
fn malformed_streams_get_named_errors() {
    let good = hex("789ccb48cdc9c90700062c0215");
    for cut in 0..good.len() {
        let err = decompress(Format::Zlib, &good[..cut], NO_LIMIT).unwrap_err();
        assert!(matches!(err, CompressError::Truncated(_)), "cut at {cut}: {err}");
    }
    let mut bad_sum = good.clone();
    bad_sum[12] ^= 1;
    assert_eq!(
        decompress(Format::Zlib, &bad_sum, NO_LIMIT),
        Err(CompressError::Checksum { kind: "Adler-32", expected: 0x062c_0214, computed: 0x062c_0215 })
    );
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"xyz");
    assert_eq!(decompress(Format::Zlib, &trailing, NO_LIMIT), Err(CompressError::TrailingData(3)));
    assert_eq!(decompress(Format::Raw, &hex("cb48cdc9c90700ff"), NO_LIMIT), Err(CompressError::TrailingData(1)));
    assert!(matches!(decompress(Format::Zlib, &hex("789d"), NO_LIMIT), Err(CompressError::BadHeader(_))));
    assert!(matches!(decompress(Format::Gzip, &hex("1f8c08"), NO_LIMIT), Err(CompressError::BadHeader(_))));

    let gz = hex("1f8b0800000000000203cb48cdc9c9070086a6103605000000");
    let mut bad_crc = gz.clone();
    bad_crc[17] ^= 0xff;
    assert!(matches!(
        decompress(Format::Gzip, &bad_crc, NO_LIMIT),
        Err(CompressError::Checksum { kind: "CRC-32", .. })
    ));
    let mut bad_size = gz.clone();
    bad_size[21] = 6;
    assert_eq!(
        decompress(Format::Gzip, &bad_size, NO_LIMIT),
        Err(CompressError::SizeMismatch { expected: 6, actual: 5 })
    );

    // Block type 3.
    assert_eq!(decompress(Format::Raw, &[0x07], NO_LIMIT), Err(CompressError::BadBlockType));
    // Stored: LEN 5 with NLEN 5.
    assert_eq!(
        decompress(Format::Raw, &hex("0105000500"), NO_LIMIT),
        Err(CompressError::StoredLength { len: 5, nlen: 5 })
    );
    // Fixed block, first symbol a match with distance 1 and nothing before it:
    // length 3 is code 0000001 (7 bits), distance 1 is 00000 (5 bits).
    let mut w = super::bits::BitWriter::default();
    w.put(1, 1);
    w.put(1, 2);
    w.put(0b1000000, 7);
    w.put(0, 5);
    w.align();
    assert_eq!(
        decompress(Format::Raw, &w.bytes, NO_LIMIT),
        Err(CompressError::DistanceTooFar { distance: 1, available: 0 })
    );
    // Dynamic block whose code-length code is over-subscribed (three 1-bit lengths).
    let mut w = super::bits::BitWriter::default();
    w.put(1, 1);
    w.put(2, 2);
    w.put(0, 5);
    w.put(0, 5);
    w.put(0, 4);
    for _ in 0..3 {
        w.put(1, 3);
    }
    w.put(0, 3);
    w.align();
    assert_eq!(
        decompress(Format::Raw, &w.bytes, NO_LIMIT),
        Err(CompressError::BadCodeLengths("unusable code-length code"))
    );
    // Errors stick: the decoder does not resume after garbage.
    let mut inflater = Inflater::new();
    assert!(inflater.inflate(&[0x07], &mut Vec::new()).is_err());
    assert_eq!(inflater.inflate(&hex("cb48cdc9c90700"), &mut Vec::new()), Err(CompressError::BadBlockType));
}

#[test]
fn mangled_streams_fail_cleanly_and_agree_in_pieces() {
    // A small fuzz pass in the unit tests (the fuzz target goes much further): valid streams
    // with bytes flipped, cut or garbled never panic, and pieces give the same verdict.
    let data = b"{\"message\":\"Hello, World!\",\"n\":[1,2,3,1,2,3,1,2,3]} lorem ipsum dolor ".repeat(30);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        for level in [0, 1, 6, 9] {
            let good = compress(format, level, &data);
            for _ in 0..150 {
                let mut bad = good.clone();
                for _ in 0..1 + next() % 3 {
                    let i = (next() as usize) % bad.len();
                    bad[i] ^= 1 << (next() % 8);
                }
                if next() % 4 == 0 {
                    bad.truncate((next() as usize) % bad.len());
                }
                let whole = decompress(format, &bad, 1 << 20);
                let mut decoder = Decoder::new(format, 1 << 20);
                let mut out = Vec::new();
                let piece = 1 + (next() as usize) % 17;
                let pieces = bad
                    .chunks(piece)
                    .try_for_each(|p| decoder.decode(p, &mut out).map(|_| ()))
                    .and_then(|()| decoder.finish())
                    .map(|()| out);
                assert_eq!(whole.is_ok(), pieces.is_ok(), "{format:?} level {level}: {whole:?} vs {pieces:?}");
                if let (Ok(a), Ok(b)) = (&whole, &pieces) {
                    assert_eq!(a, b);
                }
            }
        }
    }
}
