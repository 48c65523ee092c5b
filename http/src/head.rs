//! Reading a request head: check, then parse, then validate.
//!
//! *Check-then-parse*: bytes arrive in arbitrary pieces, so the server first asks
//! httparse whether the buffer holds a complete head (`Status::Partial` means "read
//! more", not an error); only a complete head is turned into a [`Scope`]. Then come the
//! rules httparse leaves to the server — the ones that decide how long the body is, and
//! which resource the request names. A server and a proxy that disagree on where one
//! request ends and the next begins let an attacker smuggle a request past the proxy; a
//! server and a proxy that disagree on the *path* let an attacker reach a location the
//! proxy forbids. So every ambiguity is an error here, even where other servers are
//! lenient.
//!
//! # The rules
//!
//! This table is the server's contract; `tests/server_rules.rs` and
//! `tests/server_targets.rs` check each row with raw bytes over a real socket.
//!
//! | rule | rasgi |
//! |---|---|
//! | request head (line + headers) | 16 KiB max → 431; request target over 8 KiB → 414 |
//! | header count | 100 max → 431 |
//! | header read timeout (slowloris) | `--timeout-header`, 10 s, counted from the connection's first moment or the end of the previous response → 408 and close |
//! | keep-alive idle | `--timeout-keep-alive`, 5 s; set it above any proxy's idle timeout |
//! | body stalls | `--timeout-body`, 10 s without a byte of a started body → 408 and close |
//! | send stalls | `--timeout-send`, 30 s in which a client takes none of its response → close |
//! | body size | `--limit-body` → 413 (sent at once, without `100 Continue`, when `Content-Length` already says so) |
//! | `Content-Length` + `Transfer-Encoding` | 400 and close |
//! | repeated `Content-Length`, sign, spaces, non-digits, overflow | 400 |
//! | `Transfer-Encoding` other than one final `chunked` | 501; any `Transfer-Encoding` on HTTP/1.0 → 400 |
//! | chunk size not hex, over 16 hex digits, bad CRLF | 400 |
//! | obs-fold, bare CR, control characters in values, space before colon | 400 |
//! | HTTP/1.1 without `Host`, two `Host`s, or a `Host` that is not RFC 3986 `host[:port]` | 400 |
//! | request line not `METHOD SP target SP HTTP/d.d` (`GET /a b HTTP/1.1`) | 400 |
//! | HTTP/1.2 … HTTP/1.9 | served as HTTP/1.1 (RFC 9112 §2.3: same major version) |
//! | any other version (`HTTP/2.0`, `HTTP/9.9`) | 505 |
//! | HTTP/1.0 | keep-alive only with `Connection: keep-alive` |
//! | request-target forms (RFC 9112 §3.2) | see below |
//! | pipelining | yes; responses in order; all responses of one read batch in one write |
//! | every response | `date` (cached, refreshed each second), `server`, `content-length` or chunked; no body for HEAD/1xx/204/304 |
//! | graceful shutdown | responses finished after the signal carry `connection: close`; an idle connection answers a request already on its way, then closes |
//!
//! # Request-target forms
//!
//! RFC 9112 §3.2 defines four forms, and which one a target is follows from its *first*
//! bytes and the method — never from what appears later in it:
//!
//! | form | looks like | allowed with | the scope's path |
//! |---|---|---|---|
//! | origin-form | `/items/42?q=1` | any method but CONNECT | the target up to `?` |
//! | absolute-form | `http://host:8000/items/42?q=1` (scheme `http` or `https`) | any method but CONNECT | what follows the authority (`/` if nothing) |
//! | authority-form | `host:443` | CONNECT only | — (CONNECT is refused with 501: this is not a proxy) |
//! | asterisk-form | `*` | OPTIONS only | `*` |
//!
//! Anything else is a 400. In particular a `://` *inside* an origin-form target
//! (`/?next=http://x/admin`) is data like any other byte: reducing such a target to
//! "the part after the authority" would route `/admin` while a proxy in front, and the
//! access log, saw `/`.

use std::mem::MaybeUninit;

use crate::asgi::{HttpVersion, Scope};
use crate::headers::{hex_value, parse_content_length, trim, ConnectionTokens, LengthError};

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
    /// The request carries `Forwarded` or `X-Forwarded-*` headers (believed or not
    /// depending on who sent them: `server/proxy.rs`).
    pub proxy_headers: bool,
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
        // httparse knows only 1.0 and 1.1 and reports anything else here, including a
        // request line that is not three parts (`GET /a b HTTP/1.1` reads as version
        // `b`): `other_version` sorts out which it was.
        Err(httparse::Error::Version) => return other_version(buf, scope),
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
    // Where the path starts inside the target: 0 except for absolute-form.
    let path_in_target = match target_form(method, target)? {
        TargetForm::Origin | TargetForm::Asterisk => 0,
        TargetForm::Absolute { path_start } => path_start,
    };
    let version = if minor == 0 { HttpVersion::Http10 } else { HttpVersion::Http11 };

    // Copy the head into the scope's own buffer (reused across requests), so that the
    // scope stays valid while the connection's read buffer is refilled with body bytes.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    scope.head.clear();
    scope.head.extend_from_slice(&buf[..len]);
    scope.version = version;
    scope.method = range_of(offset(method.as_bytes()), method.len());
    scope.known_method = known_method(method);
    let target_start = offset(target.as_bytes()) + path_in_target;
    let target = &target[path_in_target..];
    // httparse hands out the target as `&str`, already checked: slicing it keeps that,
    // where going back to the bytes would validate them as UTF-8 a second time. One pass
    // over the bytes finds both the `?` and whether the path has a `%` escape:
    // `str::find` and `str::contains` with a `char` each set up a `memchr`: for a
    // ten-byte path the two cost 190 instructions per request, this loop 50.
    let (question, escaped) = scan_target(target.as_bytes());
    let raw_path = match question {
        Some(q) => {
            scope.raw_path = range_of(target_start, q);
            scope.query = range_of(target_start + q + 1, target.len() - q - 1);
            &target[..q]
        }
        None => {
            scope.raw_path = range_of(target_start, target.len());
            scope.query = target_start + target.len()..target_start + target.len();
            target
        }
    };
    scope.path.clear();
    if escaped {
        scope.path.push_str(&percent_decode(raw_path.as_bytes()));
    } else {
        scope.path.push_str(raw_path);
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
    let mut connection = ConnectionTokens::default();
    let mut expect_continue = false;
    let mut proxy_headers = false;
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
                content_length = Some(parse_content_length(h.value).map_err(|e| match e {
                    LengthError::Invalid => reject(400, "invalid Content-Length"),
                    LengthError::Overflow => reject(400, "Content-Length overflows"),
                })?);
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
            b"host" => {
                hosts += 1;
                // RFC 9110 §7.2 allows an empty Host (a target without authority).
                let host = trim(h.value);
                if !host.is_empty() && !is_host_and_port(host) {
                    return Err(reject(400, "invalid Host header (expected host[:port])"));
                }
            }
            b"connection" => connection.add(h.value),
            b"expect" => expect_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue"),
            b"forwarded" | b"x-forwarded-for" | b"x-forwarded-proto" => proxy_headers = true,
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
    let keep_alive = connection.persist(version == HttpVersion::Http11);
    Ok(Some(HeadInfo {
        len,
        body,
        keep_alive,
        expect_continue: expect_continue && version == HttpVersion::Http11,
        is_head: method == "HEAD",
        proxy_headers,
    }))
}

/// Where the target's query starts (its `?`), and whether the path before it has a `%`.
fn scan_target(target: &[u8]) -> (Option<usize>, bool) {
    let mut escaped = false;
    for (i, &b) in target.iter().enumerate() {
        match b {
            b'?' => return (Some(i), escaped),
            b'%' => escaped = true,
            _ => {}
        }
    }
    (None, escaped)
}

/// The method as a `&'static str` when it is one of RFC 9110's, so that
/// [`Scope::method`] can answer without looking at (or re-validating) the head bytes.
fn known_method(method: &str) -> Option<&'static str> {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.into_iter().find(|known| *known == method)
}

/// The form of a request target (RFC 9112 §3.2), with what the scope needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TargetForm {
    /// `/path?query`.
    Origin,
    /// `http://authority/path?query`; the path starts at this byte of the target.
    Absolute {
        /// Offset of the path (or of `?`, or the end) after the authority.
        path_start: usize,
    },
    /// `*`, with OPTIONS.
    Asterisk,
}

/// Decides the target's form from its first bytes and the method (see the module doc).
fn target_form(method: &str, target: &str) -> Result<TargetForm, Reject> {
    if method == "CONNECT" {
        // Authority-form belongs to CONNECT alone, and CONNECT asks for a tunnel, which
        // only a proxy provides.
        return Err(if is_host_and_port(target.as_bytes()) && target.contains(':') {
            reject(501, "CONNECT is not supported (this server is not a proxy)")
        } else {
            reject(400, "a CONNECT target must be host:port")
        });
    }
    if target.starts_with('/') {
        return Ok(TargetForm::Origin);
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(TargetForm::Asterisk)
        } else {
            Err(reject(400, "the target `*` is only allowed with OPTIONS"))
        };
    }
    // Absolute-form: the target must *begin* with `http://` or `https://`.
    let after_scheme = ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then_some(scheme.len())
    });
    let Some(authority_start) = after_scheme else {
        return Err(reject(400, "request target must be a path (/...), an http(s):// URL, or `*` for OPTIONS"));
    };
    let rest = &target[authority_start..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // RFC 9110 §4.2.1: an http URI with an empty host is invalid; §4.2.4: userinfo is
    // deprecated and a recipient should treat it as an error.
    if authority.contains('@') {
        return Err(reject(400, "userinfo in an absolute-form target"));
    }
    if authority.is_empty() || authority.starts_with(':') || !is_host_and_port(authority.as_bytes()) {
        return Err(reject(400, "invalid authority in an absolute-form target"));
    }
    Ok(TargetForm::Absolute { path_start: authority_start + authority_len })
}

/// The bytes RFC 3986 allows in a reg-name (or IPv4 address) besides `%` escapes:
/// unreserved (`A-Z a-z 0-9 - . _ ~`) and sub-delims (`! $ & ' ( ) * + , ; =`). A table,
/// because this runs on every request's `Host`: a `contains` over the 17 punctuation
/// bytes per character cost about 5 % of a pipelined request's instructions.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            );
        b += 1;
    }
    table
};

/// True for RFC 3986 `host [ ":" port ]`: a reg-name or IPv4 address (unreserved
/// characters, percent-escapes, sub-delims), or an IPv6 literal in brackets; the port is
/// digits.
pub(crate) fn is_host_and_port(value: &[u8]) -> bool {
    let port = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else { return false };
        let literal = std::str::from_utf8(&value[1..close]).unwrap_or_default();
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        &value[close + 1..]
    } else {
        // One pass over the reg-name (the common case, `example.com:8000`), stopping at
        // the port's colon.
        let mut i = 0;
        loop {
            match value.get(i) {
                None => return true,
                Some(&b) if REG_NAME[usize::from(b)] => i += 1,
                Some(b':') => break,
                Some(b'%')
                    if value.len() > i + 2
                        && hex_value(value[i + 1]).is_some()
                        && hex_value(value[i + 2]).is_some() =>
                {
                    i += 3
                }
                Some(_) => return false,
            }
        }
        &value[i..]
    };
    match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// httparse refused the version. Either the request line is well-formed with a version
/// httparse does not know — HTTP/1.2 to 1.9 are served as 1.1 (RFC 9112 §2.3: a server
/// answers with the highest minor version it speaks of the same major version), others
/// get 505 — or the line is malformed (a space in the target, a space in the method),
/// which is a 400.
fn other_version(buf: &[u8], scope: &mut Scope) -> Result<Option<HeadInfo>, Reject> {
    // httparse skips empty lines before the request line, and so does this.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let Some(line_len) = buf[start..].iter().position(|&b| b == b'\n') else {
        // httparse judges the version as soon as eight bytes of it are in; the line may
        // still go on (`HTTP/1.23`). Wait for its end, within the usual limits.
        return check_partial(buf).map(|()| None);
    };
    let line = &buf[start..start + line_len];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(reject(400, "malformed request line (expected METHOD target HTTP/version)"));
    };
    if method.is_empty() || target.is_empty() {
        return Err(reject(400, "malformed request line (expected METHOD target HTTP/version)"));
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => {
            // Parse a copy that says HTTP/1.1; the scope then reports 1.1, and the
            // response goes out as 1.1. Rare enough that the copy does not matter.
            let mut patched = buf.to_vec();
            patched[start + line.len() - 1] = b'1';
            parse(&patched, scope)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Err(reject(505, "HTTP version not supported"))
        }
        _ => Err(reject(400, "malformed HTTP version in the request line")),
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

    /// Parses `GET {target}`-style requests and returns (path, raw_path, query) or the status.
    fn route(method: &str, target: &str) -> Result<(String, String, String), u16> {
        let mut s = scope();
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        match parse(raw.as_bytes(), &mut s) {
            Ok(Some(_)) => Ok((
                s.path().to_owned(),
                String::from_utf8_lossy(s.raw_path()).into_owned(),
                String::from_utf8_lossy(s.query_string()).into_owned(),
            )),
            Ok(None) => panic!("{raw:?} is complete"),
            Err(r) => Err(r.status),
        }
    }

    fn ok(path: &str, raw: &str, query: &str) -> Result<(String, String, String), u16> {
        Ok((path.to_owned(), raw.to_owned(), query.to_owned()))
    }

    #[test]
    fn a_url_inside_an_origin_form_target_is_data() {
        assert_eq!(route("GET", "/?next=http://x/items/42"), ok("/", "/", "next=http://x/items/42"));
        assert_eq!(
            route("GET", "/items/7?next=https://evil.example/"),
            ok("/items/7", "/items/7", "next=https://evil.example/")
        );
        assert_eq!(
            route("GET", "/a/http://h/_rasgi/state"),
            ok("/a/http://h/_rasgi/state", "/a/http://h/_rasgi/state", "")
        );
        assert_eq!(route("GET", "//evil.example/x"), ok("//evil.example/x", "//evil.example/x", ""));
    }

    #[test]
    fn absolute_form_is_reduced_to_its_path_only_when_it_begins_with_the_scheme() {
        assert_eq!(route("GET", "http://h:8000/items/42?q=1"), ok("/items/42", "/items/42", "q=1"));
        assert_eq!(route("GET", "HTTPS://h/a"), ok("/a", "/a", ""));
        assert_eq!(route("GET", "http://h"), ok("/", "", ""));
        assert_eq!(route("GET", "http://h?x=http://y/z"), ok("/", "", "x=http://y/z"));
        assert_eq!(route("GET", "http://[::1]:80/v6"), ok("/v6", "/v6", ""));
        for bad in ["x/http://h/a", "ftp://h/a", "http://", "http:///a", "http://u:p@h/a", "http://h:x/a", "h/a"] {
            assert_eq!(route("GET", bad), Err(400), "{bad}");
        }
    }

    #[test]
    fn authority_and_asterisk_forms_belong_to_connect_and_options() {
        assert_eq!(route("OPTIONS", "*"), ok("*", "*", ""));
        assert_eq!(route("GET", "*"), Err(400));
        assert_eq!(route("GET", "example.com:443"), Err(400));
        assert_eq!(route("CONNECT", "example.com:443"), Err(501));
        assert_eq!(route("CONNECT", "/"), Err(400));
        assert_eq!(route("CONNECT", "example.com"), Err(400));
    }

    #[test]
    fn the_request_line_must_have_three_parts() {
        let status = |raw: &str| parse(raw.as_bytes(), &mut scope()).map(|_| 0).unwrap_or_else(|r| r.status);
        assert_eq!(status("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GE T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/9.9\r\nHost: h\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
        assert_eq!(status("GET / FTP/1.1\r\nHost: h\r\n\r\n"), 400);
    }

    #[test]
    fn http_1_2_to_1_9_are_served_as_1_1() {
        for minor in 2..=9 {
            let mut s = scope();
            let raw = format!("GET /v HTTP/1.{minor}\r\nHost: h\r\n\r\nnext");
            let info = parse(raw.as_bytes(), &mut s).unwrap().unwrap();
            assert_eq!(
                (s.http_version(), s.path(), info.len, info.keep_alive),
                (HttpVersion::Http11, "/v", raw.len() - 4, true)
            );
        }
        // A version whose line has not ended yet waits for the rest.
        assert_eq!(parse(b"GET / HTTP/1.2", &mut scope()), Ok(None));
    }

    #[test]
    fn host_must_be_host_and_port() {
        for good in ["h", "h:80", "127.0.0.1:8000", "[::1]", "[::1]:8000", "xn--caf-dma.example", "a%20b", ""] {
            assert!(is_host_and_port(good.as_bytes()) || good.is_empty(), "{good}");
            let raw = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(parse(raw.as_bytes(), &mut scope()).is_ok(), "{good}");
        }
        for bad in ["a b/c@d", "h:80:90", "[::1", "[zz]:1", "h/p", "u@h", "h:8a", "[::1]x"] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(parse(raw.as_bytes(), &mut scope()).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%2Fb%zz%4"), "/a/b%zz%4");
        assert_eq!(percent_decode(b"/caf%C3%A9"), "/café");
    }
}
