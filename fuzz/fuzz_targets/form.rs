//! `application/x-www-form-urlencoded` decoding (`rasgi::app::form_decode`), which reads
//! every query string and form body a client sends.
//!
//! Arbitrary input must decode without a panic, into no more pairs than it has `&`-separated
//! pieces. And the input, read as a list of strings (cut at NUL bytes, taken two by two as
//! names and values), encoded the way a browser encodes a form, must decode back to exactly
//! those pairs. The encoder here is written apart from rasgi's decoder: unreserved bytes as
//! they are, a space as `+`, every other byte as `%XX`, in upper or lower case as the first
//! byte of the input says (both are valid).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi::app::form_decode;

fn encode(text: &str, lower: bool, out: &mut String) {
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ if lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let pieces = data.split(|&b| b == b'&').filter(|p| !p.is_empty()).count();
    assert!(form_decode(data).len() <= pieces, "more pairs than pieces");

    let Some((&case, rest)) = data.split_first() else { return };
    let strings: Vec<String> = rest.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    let pairs: Vec<(String, String)> =
        strings.chunks(2).map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default())).collect();
    let mut query = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            query.push('&');
        }
        encode(name, case & 1 == 1, &mut query);
        query.push('=');
        encode(value, case & 1 == 1, &mut query);
    }
    assert_eq!(form_decode(query.as_bytes()), pairs, "the encoded form {query:?} did not decode back");
});
