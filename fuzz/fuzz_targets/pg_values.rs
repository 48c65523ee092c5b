//! The Postgres value decoders that read structure out of a column's bytes: the text
//! array syntax (`{a,"b c",NULL,{nested}}`, for `interval[]`, `inet[]` and the other arrays
//! rasgi reads as text), the binary array header, and binary `numeric`.
//!
//! - Arrays in text: arbitrary text must parse or be refused, never panic or recurse past
//!   PostgreSQL's six dimensions. And a tree of strings and NULLs taken from the input,
//!   written the way PostgreSQL's `array_out` writes it (an element is quoted when it is
//!   empty, is `NULL` in any case, or holds a delimiter, a brace, a quote, a backslash or
//!   ASCII white space; inside quotes, `"` and `\` are escaped with `\`), must parse back to
//!   exactly that tree. The writer here is written apart from the parser.
//! - Arrays in binary: a header that parses has exactly as many elements as its
//!   dimensions multiply to.
//! - `numeric` in binary: a value that decodes is `NaN`, `Infinity`, `-Infinity`, or a
//!   plain decimal with exactly `dscale` digits after the point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi::pg::fuzzing::{decode_numeric, parse_array_text, parse_binary_array};
use serde_json::Value;

/// White space as PostgreSQL's arrays know it (`array_isspace`): ASCII only.
fn pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// PostgreSQL's rule for when `array_out` quotes an element.
fn needs_quotes(text: &str, delimiter: char) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text.chars().any(|c| c == delimiter || matches!(c, '{' | '}' | '"' | '\\') || pg_space(c))
}

fn write_array(items: &[Value], delimiter: char, out: &mut String) {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::String(text) if needs_quotes(text, delimiter) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Value::String(text) => out.push_str(text),
            Value::Array(inner) => write_array(inner, delimiter, out),
            other => unreachable!("the tree holds only strings, NULLs and arrays: {other}"),
        }
    }
    out.push('}');
}

/// A tree from the input: `\x01` opens a sub-array, `\x02` closes one, `\x03` is a NULL,
/// `\x00` ends an element; everything else is element text.
fn tree(input: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(input);
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    let mut element = String::new();
    let flush = |element: &mut String, stack: &mut Vec<Vec<Value>>| {
        if !element.is_empty() {
            let top = stack.last_mut().expect("the root stays");
            top.push(Value::String(std::mem::take(element)));
        }
    };
    for c in text.chars() {
        match c {
            '\u{1}' if stack.len() < 6 => {
                flush(&mut element, &mut stack);
                stack.push(Vec::new());
            }
            '\u{2}' if stack.len() > 1 => {
                flush(&mut element, &mut stack);
                let done = stack.pop().expect("more than the root");
                stack.last_mut().expect("the root stays").push(Value::Array(done));
            }
            '\u{3}' => {
                flush(&mut element, &mut stack);
                stack.last_mut().expect("the root stays").push(Value::Null);
            }
            '\u{0}' => {
                // An explicit end: an empty element is an empty string.
                let top = stack.last_mut().expect("the root stays");
                top.push(Value::String(std::mem::take(&mut element)));
            }
            '\u{1}' | '\u{2}' => {}
            c => element.push(c),
        }
    }
    flush(&mut element, &mut stack);
    while stack.len() > 1 {
        let done = stack.pop().expect("more than the root");
        stack.last_mut().expect("the root stays").push(Value::Array(done));
    }
    stack.pop().expect("the root")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else { return };
    let delimiter = if mode & 1 == 0 { b',' } else { b';' };

    // Arbitrary text: an answer, whatever it is.
    let _ = parse_array_text(&String::from_utf8_lossy(input), delimiter);

    // A written tree reads back as itself.
    let items = tree(input);
    let mut text = String::new();
    write_array(&items, char::from(delimiter), &mut text);
    match parse_array_text(&text, delimiter) {
        Ok(parsed) => assert_eq!(parsed, Value::Array(items), "{text:?} read back differently"),
        Err(e) => panic!("{text:?}, written as array_out writes, was refused: {e}"),
    }

    if let Ok((dims, elements)) = parse_binary_array(input) {
        let count = if dims.is_empty() { 0 } else { dims.iter().product::<usize>() };
        assert_eq!(elements, count, "dimensions {dims:?}");
    }

    if let Ok(text) = decode_numeric(input) {
        if !matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity") {
            let digits = text.strip_prefix('-').unwrap_or(&text);
            let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
            assert!(!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
            assert!(fraction.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
            let dscale = input.get(6..8).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            assert_eq!(fraction.len(), dscale, "{text:?}");
        }
    }
});
