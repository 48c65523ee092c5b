//! Close codes (RFC 6455 §7.4): which a peer may put on the wire, and the close frame's
//! payload — a big-endian code and a UTF-8 reason, or nothing at all.
//!
//! Starlette's `WebSocketDisconnect(code, reason)` and `websocket.close(code, reason)`
//! carry these numbers; `websockets.frames.Close` parses them as done here.

use super::utf8::Utf8Validator;

/// 1000: the purpose of the connection was fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: the server is going down (or a browser leaves the page).
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a data type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: a close frame without a code. Never sent; reported to the application.
pub const NO_STATUS: u16 = 1005;
/// 1006: the connection ended without a close frame. Never sent; reported to the
/// application when TCP vanished.
pub const ABNORMAL: u16 = 1006;
/// 1007: a text message (or a close reason) that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1009: a message larger than the endpoint accepts.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1011: the server met an unexpected condition (the application failed).
pub const INTERNAL_ERROR: u16 = 1011;

/// True for a code a peer may send in a close frame: the registered 1000–1003 and
/// 1007–1011 (1012–1014 were registered later by IANA and are accepted as `websockets`
/// does), and the 3000–4999 ranges for libraries and applications. 1004 is reserved,
/// 1005/1006/1015 are only ever reported locally.
pub fn is_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosePayload {
    /// The code; [`NO_STATUS`] for an empty payload.
    pub code: u16,
    /// The reason, UTF-8 (checked), at most 123 bytes.
    pub reason: String,
}

/// Why a received close payload is refused, with the close code the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseError {
    /// One byte (a code needs two), or a code not allowed on the wire: 1002.
    Protocol(&'static str),
    /// The reason is not UTF-8: 1007.
    Utf8,
}

impl CloseError {
    /// The code to close with.
    pub fn code(self) -> u16 {
        match self {
            CloseError::Protocol(_) => PROTOCOL_ERROR,
            CloseError::Utf8 => INVALID_PAYLOAD,
        }
    }
}

/// Parses a received close payload.
pub fn parse(payload: &[u8]) -> Result<ClosePayload, CloseError> {
    match payload {
        [] => Ok(ClosePayload { code: NO_STATUS, reason: String::new() }),
        [_] => Err(CloseError::Protocol("a close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_on_wire(code) {
                return Err(CloseError::Protocol("a close code not allowed on the wire"));
            }
            let mut check = Utf8Validator::new();
            if check.feed(reason).is_err() || !check.is_complete() {
                return Err(CloseError::Utf8);
            }
            Ok(ClosePayload { code, reason: String::from_utf8_lossy(reason).into_owned() })
        }
    }
}

/// The payload to send: the code and as much of the reason as fits in a control frame
/// (125 bytes), cut at a character boundary so it stays UTF-8. A code that may not go
/// on the wire (1005, 1006, an application's typo) becomes an empty payload for 1005
/// and 1006 — "no code" is what they mean — and 1011 otherwise.
pub fn encode(code: u16, reason: &str) -> Vec<u8> {
    if code == NO_STATUS || code == ABNORMAL {
        return Vec::new();
    }
    let code = if is_valid_on_wire(code) { code } else { INTERNAL_ERROR };
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_codes_may_travel() {
        for ok in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999] {
            assert!(is_valid_on_wire(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_on_wire(bad), "{bad}");
        }
    }

    #[test]
    fn parses_payloads() {
        assert_eq!(parse(b""), Ok(ClosePayload { code: 1005, reason: String::new() }));
        assert_eq!(parse(b"\x03\xe8bye"), Ok(ClosePayload { code: 1000, reason: "bye".into() }));
        assert_eq!(parse(b"\x03").map_err(CloseError::code), Err(1002));
        assert_eq!(parse(b"\x03\xed").map_err(CloseError::code), Err(1002), "1005 on the wire");
        assert_eq!(parse(b"\x03\xe8\xff").map_err(CloseError::code), Err(1007));
        assert_eq!(parse(b"\x03\xe8\xce").map_err(CloseError::code), Err(1007), "cut character");
    }

    #[test]
    fn encodes_payloads() {
        assert_eq!(encode(1000, "bye"), b"\x03\xe8bye");
        assert_eq!(encode(1006, "gone"), b"");
        assert_eq!(encode(42, ""), b"\x03\xf3", "an invalid code becomes 1011");
        let long = "é".repeat(100);
        let payload = encode(4000, &long);
        assert_eq!(payload.len(), 2 + 122, "cut before the character that would not fit");
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }
}
