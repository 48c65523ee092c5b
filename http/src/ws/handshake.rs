//! The opening handshake (RFC 6455 §4.2): is this request an upgrade, is it a valid one,
//! and the `101 Switching Protocols` answer.
//!
//! ```text
//! GET /ws/echo HTTP/1.1                       HTTP/1.1 101 Switching Protocols
//! Host: example.com                           upgrade: websocket
//! Connection: Upgrade                  ──▶    connection: Upgrade
//! Upgrade: websocket                          sec-websocket-accept: base64(SHA-1(key + GUID))
//! Sec-WebSocket-Version: 13
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! ```
//!
//! uvicorn leaves this to the `websockets` library (`websockets.server.ServerProtocol.
//! accept`); rasgi checks the request head the HTTP server already parsed. A bad request
//! gets 400 with the reason; a version other than 13 gets 426 and the version the server
//! speaks, so the client can retry (§4.4). Of the extensions only permessage-deflate is
//! known (`deflate.rs` chooses among its offers); any other is declined by leaving it out
//! of the answer's `Sec-WebSocket-Extensions`, which every client must accept.

use super::deflate::{self, Agreement};
use super::{base64, sha1};
use crate::asgi::{Header, HttpVersion, Scope};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A handshake the server refuses, with the status and the reason given to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// 400, or 426 for an unsupported version.
    pub status: u16,
    /// What is wrong, for the client.
    pub reason: &'static str,
}

/// A valid handshake: what the response needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The subprotocols the client offered, in its order of preference.
    pub subprotocols: Vec<String>,
    /// The permessage-deflate parameters agreed to, if the client offered an acceptable
    /// set (whether the server uses them is its configuration's call).
    pub deflate: Option<Agreement>,
}

/// True if `value`, a comma-separated header value, lists `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    crate::headers::has_token(value, token.as_bytes())
}

/// True if the request asks to become a WebSocket (`Upgrade: websocket`). Whether it
/// does so correctly is [`validate`]'s question: a request that asks badly gets a 400,
/// not an HTTP response from the application.
pub fn is_upgrade(scope: &Scope) -> bool {
    scope.headers().any(|(name, value)| name == b"upgrade" && has_token(value, "websocket"))
}

/// The `Sec-WebSocket-Accept` value for a key.
pub fn accept_key(key: &[u8]) -> String {
    let mut input = Vec::with_capacity(key.len() + GUID.len());
    input.extend_from_slice(key);
    input.extend_from_slice(GUID.as_bytes());
    base64::encode(&sha1::sha1(&input))
}

/// Checks an upgrade request against RFC 6455 §4.2.1.
pub fn validate(scope: &Scope) -> Result<Handshake, HandshakeError> {
    let bad = |reason| Err(HandshakeError { status: 400, reason });
    if scope.method() != "GET" {
        return bad("a WebSocket handshake must be a GET request");
    }
    if scope.http_version() != HttpVersion::Http11 {
        return bad("a WebSocket handshake needs HTTP/1.1");
    }
    if !scope.headers().any(|(name, value)| name == b"connection" && has_token(value, "upgrade")) {
        return bad("a WebSocket handshake needs `Connection: Upgrade`");
    }
    let versions: Vec<&[u8]> =
        scope.headers().filter(|(n, _)| *n == b"sec-websocket-version").map(|(_, v)| v).collect();
    if versions.len() != 1 || crate::headers::trim(versions[0]) != b"13" {
        return Err(HandshakeError { status: 426, reason: "this server speaks WebSocket version 13 only" });
    }
    let keys: Vec<&[u8]> = scope.headers().filter(|(n, _)| *n == b"sec-websocket-key").map(|(_, v)| v).collect();
    let [key] = keys.as_slice() else {
        return bad("a WebSocket handshake needs exactly one Sec-WebSocket-Key");
    };
    let key = crate::headers::trim(key);
    if base64::decode(key).is_none_or(|nonce| nonce.len() != 16) {
        return bad("Sec-WebSocket-Key must be 16 bytes in base64");
    }
    let subprotocols = scope
        .headers()
        .filter(|(n, _)| *n == b"sec-websocket-protocol")
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(crate::headers::trim)
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let offers = scope.headers().filter(|(n, _)| *n == b"sec-websocket-extensions").map(|(_, v)| v);
    Ok(Handshake { accept: accept_key(key), subprotocols, deflate: deflate::negotiate(offers) })
}

/// The `101` response: the fixed headers, the chosen subprotocol, the agreed
/// extensions, then the application's extra headers (already validated as header-safe
/// by the caller).
pub fn write_accept(
    out: &mut Vec<u8>,
    accept: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    headers: &[Header],
) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n");
    out.extend_from_slice(b"sec-websocket-accept: ");
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(protocol) = subprotocol {
        out.extend_from_slice(b"sec-websocket-protocol: ");
        out.extend_from_slice(protocol.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(extensions) = extensions {
        out.extend_from_slice(b"sec-websocket-extensions: ");
        out.extend_from_slice(extensions.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asgi::header;

    fn request(headers: &[(&str, &[u8])]) -> Scope {
        Scope::build("GET", "/ws", headers)
    }

    const GOOD: [(&str, &[u8]); 5] = [
        ("host", b"example.com"),
        ("upgrade", b"websocket"),
        ("connection", b"keep-alive, Upgrade"),
        ("sec-websocket-version", b"13"),
        ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn rfc6455_accept_key() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn validates_and_collects_subprotocols() {
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", b"chat, superchat"));
        headers.push(("sec-websocket-protocol", b"v2"));
        let scope = request(&headers);
        assert!(is_upgrade(&scope));
        let handshake = validate(&scope).unwrap();
        assert_eq!(handshake.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(handshake.subprotocols, ["chat", "superchat", "v2"]);
        assert_eq!(handshake.deflate, None);
        headers.push(("sec-websocket-extensions", b"permessage-deflate; mystery"));
        headers.push(("sec-websocket-extensions", b"permessage-deflate; server_no_context_takeover"));
        let agreed = validate(&request(&headers)).unwrap().deflate.map(|a| a.response());
        assert_eq!(agreed.as_deref(), Some("permessage-deflate; server_no_context_takeover"));
        assert!(!is_upgrade(&request(&[("upgrade", b"h2c")])));
    }

    #[test]
    fn refusals() {
        let with = |name: &str, value: &'static [u8]| {
            let mut headers: Vec<(&str, &[u8])> = GOOD.iter().filter(|(n, _)| *n != name).copied().collect();
            if !value.is_empty() {
                headers.push((name, value));
            }
            validate(&request(&headers)).unwrap_err()
        };
        assert_eq!(
            with("sec-websocket-version", b"8"),
            HandshakeError { status: 426, reason: "this server speaks WebSocket version 13 only" }
        );
        assert_eq!(with("sec-websocket-version", b"").status, 426);
        assert_eq!(with("connection", b"keep-alive").reason, "a WebSocket handshake needs `Connection: Upgrade`");
        assert_eq!(with("sec-websocket-key", b"").reason, "a WebSocket handshake needs exactly one Sec-WebSocket-Key");
        assert_eq!(with("sec-websocket-key", b"c2hvcnQ=").reason, "Sec-WebSocket-Key must be 16 bytes in base64");
        let post = Scope::build("POST", "/ws", &GOOD);
        assert_eq!(validate(&post).unwrap_err().reason, "a WebSocket handshake must be a GET request");
    }

    #[test]
    fn accept_response_bytes() {
        let mut out = Vec::new();
        let extensions = Some("permessage-deflate");
        write_accept(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Some("chat"), extensions, &[header("x-room", "lobby")]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nsec-websocket-protocol: chat\r\n\
             sec-websocket-extensions: permessage-deflate\r\nx-room: lobby\r\n\r\n"
        );
    }
}
