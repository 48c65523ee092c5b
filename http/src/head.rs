//! Reading a request head: check, then parse, then validate.
//!
//! *Check-then-parse*: bytes arrive in arbitrary pieces, so the server first asks
//! httparse whether the buffer holds a complete head (`Status::Partial` means "read
//! more", not an error); only a complete head is turned into a [`Scope`]. Then come the
//! rules httparse leaves to the server — the ones that decide how long the body is. A
//! server and a proxy that disagree on where one request ends and the next begins let
//! an attacker smuggle a request past the proxy, so every ambiguity is an error here,
//! even where other servers are lenient: two `Content-Length`s, `Content-Length` with
//! `Transfer-Encoding`, a `Transfer-Encoding` we cannot decode.

use std::mem::MaybeUninit;

use crate::asgi::{HttpVersion, Scope};

/// The most bytes a request line plus headers may take (431 beyond).
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest request target (414 beyond).
pub const MAX_TARGET: usize = 8 * 1024;
/// The most headers a request may have (431 beyond).
pub const MAX_HEADERS: usize = 100;

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no `Content-Length`, no `Transfer-Encoding`, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the head says beyond the scope itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    /// Bytes the head took in the buffer (where the body starts).
    pub len: usize,
    /// How the body is framed.
    pub body: BodyFraming,
    /// Whether the client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// The method is `HEAD`: the response gets headers but no body.
    pub is_head: bool,
}

/// Why a head was refused: the status to answer with (the connection then closes) and a
/// reason for the response body and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The status code (400, 413, 414, 431, 501, 505).
    pub status: u16,
    /// A short explanation.
    pub reason: &'static str,
}

const fn reject(status: u16, reason: &'static str) -> Reject {
    Reject { status, reason }
}

/// Tries to parse one request head from the start of `buf` into `scope`.
///
/// `Ok(None)`: incomplete, read more. `Ok(Some(info))`: `scope` now describes the
/// request. `Err(reject)`: malformed; answer `reject.status` and close.
pub fn parse(buf: &[u8], scope: &mut Scope) -> Result<Option<HeadInfo>, Reject> {
    // Uninitialised header slots: httparse fills only as many as the request has, so
    // the 100-slot array costs nothing to create (initialising it would be ~3 KiB of
    // writes per request).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let status = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, &mut slots);
    let len = match status {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return check_partial(buf).map(|()| None),
        // httparse reports any version other than 1.0 and 1.1 this way, including a
        // missing or garbled one; only a well-formed `HTTP/d.d` is an *unsupported*
        // version (505), the rest is a malformed request line (400).
        Err(httparse::Error::Version) if names_a_version(buf) => return Err(reject(505, "HTTP version not supported")),
        Err(httparse::Error::Version) => return Err(reject(400, "malformed HTTP version in the request line")),
        Err(httparse::Error::TooManyHeaders) => return Err(reject(431, "too many header fields")),
        Err(httparse::Error::HeaderName) => {
            return Err(reject(400, "invalid header name (or whitespace before the colon)"))
        }
        Err(httparse::Error::HeaderValue) => return Err(reject(400, "invalid character in a header value")),
        Err(httparse::Error::NewLine) | Err(httparse::Error::Token) => {
            return Err(reject(400, "malformed request line or header (bare CR, obs-fold, or a control character)"))
        }
        Err(_) => return Err(reject(400, "malformed request line")),
    };
    if len > MAX_HEAD {
        return Err(reject(431, "request head larger than 16 KiB"));
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(reject(400, "incomplete request line"));
    };
    if target.len() > MAX_TARGET {
        return Err(reject(414, "request target longer than 8 KiB"));
    }
    if !target.starts_with('/') && target != "*" && !target.contains("://") {
        return Err(reject(400, "request target must be an absolute path"));
    }
    let version = if minor == 0 { HttpVersion::Http10 } else { HttpVersion::Http11 };

    // Copy the head into the scope's own buffer (reused across requests), so that the
    // scope stays valid while the connection's read buffer is refilled with body bytes.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    scope.head.clear();
    scope.head.extend_from_slice(&buf[..len]);
    scope.version = version;
    scope.method = range_of(offset(method.as_bytes()), method.len());
    // An absolute-form target (`http://host/path`, sent to proxies) is reduced to its path.
    let target_start = offset(target.as_bytes());
    let path_in_target = match target.find("://") {
        Some(i) => target[i + 3..].find(['/', '?']).map_or(target.len(), |j| i + 3 + j),
        None => 0,
    };
    let target = &target[path_in_target..];
    let target_start = target_start + path_in_target;
    match target.find('?') {
        Some(q) => {
            scope.raw_path = range_of(target_start, q);
            scope.query = range_of(target_start + q + 1, target.len() - q - 1);
        }
        None => {
            scope.raw_path = range_of(target_start, target.len());
            scope.query = target_start + target.len()..target_start + target.len();
        }
    }
    let raw_path = &buf[scope.raw_path.clone()];
    scope.path.clear();
    if raw_path.contains(&b'%') {
        scope.path.push_str(&percent_decode(raw_path));
    } else {
        // No escapes: the bytes are the request target's, which httparse checked are
        // visible ASCII.
        scope.path.push_str(std::str::from_utf8(raw_path).unwrap_or_default());
    }
    if scope.path.is_empty() {
        // Only an absolute-form target can have an empty path (`http://host` or
        // `http://host?q`); it means the root, as in origin form.
        scope.path.push('/');
    }

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut hosts = 0;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut expect_continue = false;
    scope.headers.clear();
    for h in req.headers.iter() {
        let name = range_of(offset(h.name.as_bytes()), h.name.len());
        let value = range_of(offset(h.value), h.value.len());
        // ASGI wants lowercase names; lowercase the scope's copy in place.
        scope.head[name.clone()].make_ascii_lowercase();
        let lower = &scope.head[name.clone()];
        match lower {
            b"content-length" => {
                if content_length.is_some() {
                    return Err(reject(400, "more than one Content-Length"));
                }
                content_length = Some(parse_content_length(h.value)?);
            }
            b"transfer-encoding" => {
                if version == HttpVersion::Http10 {
                    return Err(reject(400, "Transfer-Encoding is not allowed in HTTP/1.0"));
                }
                // Only a single `chunked` is supported; "gzip, chunked" would hand the
                // application a compressed body it did not ask for.
                if transfer_encoding || !trim(h.value).eq_ignore_ascii_case(b"chunked") {
                    return Err(reject(501, "unsupported Transfer-Encoding (only a single `chunked` is implemented)"));
                }
                transfer_encoding = true;
                chunked = true;
            }
            b"host" => hosts += 1,
            b"connection" => {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim(token);
                    connection_close |= token.eq_ignore_ascii_case(b"close");
                    connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            b"expect" => expect_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
        scope.headers.push((name, value));
    }
    if content_length.is_some() && transfer_encoding {
        return Err(reject(400, "both Content-Length and Transfer-Encoding"));
    }
    if version == HttpVersion::Http11 && hosts != 1 {
        return Err(reject(
            400,
            if hosts == 0 { "HTTP/1.1 request without Host" } else { "more than one Host header" },
        ));
    }
    let body = match (chunked, content_length) {
        (true, _) => BodyFraming::Chunked,
        (false, Some(0)) | (false, None) => BodyFraming::Empty,
        (false, Some(n)) => BodyFraming::Length(n),
    };
    let keep_alive = match version {
        HttpVersion::Http11 => !connection_close,
        HttpVersion::Http10 => connection_keep_alive && !connection_close,
    };
    Ok(Some(HeadInfo {
        len,
        body,
        keep_alive,
        expect_continue: expect_continue && version == HttpVersion::Http11,
        is_head: method == "HEAD",
    }))
}

/// True if the request line ends in a well-formed `HTTP/DIGIT.DIGIT`.
fn names_a_version(buf: &[u8]) -> bool {
    // httparse skips empty lines before the request line, and so does this.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line = buf[start..].split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

/// Limits that apply before the head is complete: a head that has not ended within
/// 16 KiB never will be acceptable, so there is no point reading more.
fn check_partial(buf: &[u8]) -> Result<(), Reject> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    if line_end.is_none() && buf.len() > MAX_TARGET + 16 {
        return Err(reject(414, "request target longer than 8 KiB"));
    }
    if buf.len() > MAX_HEAD {
        return Err(reject(431, "request head larger than 16 KiB"));
    }
    Ok(())
}

fn range_of(start: usize, len: usize) -> std::ops::Range<usize> {
    start..start + len
}

/// Trims spaces and tabs (the only whitespace a header value may have around it).
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Content-Length` must be 1*DIGIT: no sign, no inner spaces, no list, no overflow.
fn parse_content_length(value: &[u8]) -> Result<u64, Reject> {
    let digits = trim(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(reject(400, "invalid Content-Length"));
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(reject(400, "Content-Length overflows"))
}

/// Percent-decodes a path. Invalid escapes stay as they are; bytes that do not form
/// UTF-8 become U+FFFD (the scope's `path` is a string, as in ASGI).
pub fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex_value(raw[i + 1]), hex_value(raw[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asgi::State;
    use std::rc::Rc;

    fn scope() -> Scope {
        Scope::new(Rc::from(""), Rc::new(State::default()), None, None)
    }

    #[test]
    fn parses_a_simple_get() {
        let mut s = scope();
        let raw = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Up: V\r\n\r\nrest";
        let info = parse(raw, &mut s).unwrap().unwrap();
        assert_eq!(info.len, raw.len() - 4);
        assert_eq!(info.body, BodyFraming::Empty);
        assert!(info.keep_alive);
        assert_eq!(s.method(), "GET");
        assert_eq!(s.path(), "/a b");
        assert_eq!(s.raw_path(), b"/a%20b");
        assert_eq!(s.query_string(), b"x=1");
        assert_eq!(s.headers().collect::<Vec<_>>(), vec![(&b"host"[..], &b"h"[..]), (&b"x-up"[..], &b"V"[..])]);
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: h\r\n", &mut scope()), Ok(None));
    }

    #[test]
    fn content_length_rules() {
        for bad in ["+5", "5 5", "-1", "0x10", "", "99999999999999999999999"] {
            let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(parse(raw.as_bytes(), &mut scope()).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%2Fb%zz%4"), "/a/b%zz%4");
        assert_eq!(percent_decode(b"/caf%C3%A9"), "/café");
    }
}
