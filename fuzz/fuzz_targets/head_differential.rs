//! Differential fuzzing of the server's request-head parser: `rasgi_http::head::parse`
//! against an independent reference written straight from RFC 9112, on the inputs the
//! reference accepts.
//!
//! The reference is deliberately narrow and strict: CRLF line endings only, origin-form
//! targets built from RFC 3986 characters, tokens for methods and field names, visible
//! ASCII in values, a Host that is a plain name or address with an optional port, the
//! framing rules of RFC 9112 §6 (one Content-Length of 1*DIGIT, or a single `chunked`,
//! never both). Whatever it accepts, rasgi must accept too, and agree on the method, the
//! raw path and the query, the header fields (names lowercased, values trimmed, order
//! and duplicates kept), the body framing and keep-alive. Inputs outside the reference's
//! language are not compared: there rasgi's own target (`request_head`) only checks that
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::head::{parse, BodyFraming};
use rasgi_http::Scope;

/// The reference's reading of a request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    len: usize,
    method: Vec<u8>,
    raw_path: Vec<u8>,
    query: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: BodyFraming,
    keep_alive: bool,
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 3986 pchar minus pct-encoded, plus `/` and `?` and `%` (escapes are data here).
fn is_target_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// VCHAR, SP and HTAB: a field value without obs-text.
fn is_value_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b == b' ' || b == b'\t'
}

/// A Host value the reference is sure about: `name[:port]` with a name of letters,
/// digits, `-` and `.` (at least one letter) or an IPv4 address, or `[v6][:port]`.
fn is_plain_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(inner) = value.strip_prefix(b"[") {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return false;
        };
        let addr = &inner[..close];
        let Ok(text) = std::str::from_utf8(addr) else {
            return false;
        };
        if text.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match &inner[close + 1..] {
            [] => return true,
            [b':', port @ ..] => (&b"h"[..], port),
            _ => return false,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon + 1..]),
            None => (value, &b"80"[..]),
        }
    };
    let is_ipv4 = std::str::from_utf8(host).is_ok_and(|h| h.parse::<std::net::Ipv4Addr>().is_ok());
    let is_name = !host.is_empty()
        && host.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && host.iter().any(|b| b.is_ascii_alphabetic());
    let name_ok = is_ipv4 || is_name;
    let port_ok = !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    name_ok && port_ok
}

/// Trims SP and HTAB (OWS) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The next CRLF-terminated line of `buf` from `pos`: the line and the position after
/// its CRLF. A bare CR or LF anywhere puts the input outside the reference's language.
fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let line = &rest[..end];
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    Some((line, pos + end + 2))
}

/// Parses one request head from the start of `buf`, or `None` when the input is not a
/// complete head the reference is sure about.
fn reference(buf: &[u8]) -> Option<Head> {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    let (request_line, mut pos) = line(buf, pos)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    // CONNECT takes the authority form only (RFC 9112 §3.2.3), never an origin-form target.
    if method == b"CONNECT" {
        return None;
    }
    if !target.starts_with(b"/") || target.len() > 1024 || !target.iter().all(|&b| is_target_char(b)) {
        return None;
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return None,
    };
    let (raw_path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &b""[..]),
    };

    let mut headers = Vec::new();
    loop {
        let (field, next) = line(buf, pos)?;
        pos = next;
        if field.is_empty() {
            break;
        }
        let colon = field.iter().position(|&b| b == b':')?;
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) || !value.iter().all(|&b| is_value_char(b)) {
            return None;
        }
        headers.push((name.to_ascii_lowercase(), trim_ows(value).to_vec()));
        if headers.len() > 50 {
            return None;
        }
    }
    if pos > 8 * 1024 {
        return None;
    }

    // The framing and connection rules.
    let mut content_length = None;
    let mut chunked = false;
    let mut hosts = 0;
    let (mut close, mut keep_alive_token) = (false, false);
    for (name, value) in &headers {
        match name.as_slice() {
            b"content-length" => {
                if content_length.is_some()
                    || value.is_empty()
                    || value.len() > 15
                    || !value.iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                content_length = std::str::from_utf8(value).ok()?.parse::<u64>().ok();
            }
            b"transfer-encoding" => {
                if chunked || !http11 || !value.eq_ignore_ascii_case(b"chunked") {
                    return None;
                }
                chunked = true;
            }
            b"host" => {
                if !is_plain_host(value) {
                    return None;
                }
                hosts += 1;
            }
            b"connection" => {
                for token in value.split(|&b| b == b',') {
                    let token = trim_ows(token);
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            // Left to the server's own judgement; the reference does not compare them.
            b"expect" | b"upgrade" => return None,
            _ => {}
        }
    }
    if (chunked && content_length.is_some()) || (http11 && hosts != 1) || hosts > 1 {
        return None;
    }
    let body = match (chunked, content_length) {
        (true, _) => BodyFraming::Chunked,
        (false, None | Some(0)) => BodyFraming::Empty,
        (false, Some(n)) => BodyFraming::Length(n),
    };
    let keep_alive = if http11 { !close } else { keep_alive_token && !close };
    Some(Head {
        len: pos,
        method: method.to_vec(),
        raw_path: raw_path.to_vec(),
        query: query.to_vec(),
        headers,
        body,
        keep_alive,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(expected) = reference(data) else {
        return;
    };
    let mut scope = Scope::build("GET", "/", &[]);
    let info = match parse(data, &mut scope) {
        Ok(Some(info)) => info,
        other => {
            panic!("the reference accepts {:?} as {expected:?}; rasgi says {other:?}", String::from_utf8_lossy(data))
        }
    };
    let got = Head {
        len: info.len,
        method: scope.method().as_bytes().to_vec(),
        raw_path: scope.raw_path().to_vec(),
        query: scope.query_string().to_vec(),
        headers: scope.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        body: info.body,
        keep_alive: info.keep_alive,
    };
    assert_eq!(got, expected, "rasgi and the reference disagree on {:?}", String::from_utf8_lossy(data));
});
