//! permessage-deflate (RFC 7692): WebSocket messages compressed with DEFLATE, one
//! compressor per direction that may remember earlier messages. Python's `websockets`
//! implements it in `websockets.extensions.permessage_deflate`, the extension uvicorn
//! enables with `--ws-per-message-deflate`.
//!
//! # The negotiation
//!
//! The client offers the extension in `Sec-WebSocket-Extensions`, possibly several times
//! with different parameters, most preferred first; the server answers with at most one
//! of them, possibly narrowed, or says nothing (the extension is then off):
//!
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10, permessage-deflate
//!                                      ──▶  sec-websocket-extensions: permessage-deflate; server_max_window_bits=10
//! ```
//!
//! | parameter | in the offer | the server's answer |
//! |---|---|---|
//! | `server_no_context_takeover` | "do not let your messages refer to earlier ones" | echoed; the server resets its compressor after each message |
//! | `client_no_context_takeover` | "I will not let mine refer to earlier ones" | echoed; the server then resets its decompressor after each message |
//! | `server_max_window_bits=N` | "reach back at most 2^N bytes" (8–15, a value is required) | echoed with the same N, and honoured |
//! | `client_max_window_bits[=N]` | "I can limit my window" (with N: "and I will use at most 2^N") | not answered; the decompressor allows what the client promised |
//!
//! A parameter that is unknown, repeated, or has a bad value makes that offer
//! unacceptable: the server declines it and tries the next (§7.1). rasgi's encoder
//! honours `server_max_window_bits=8` exactly; C zlib cannot (it turns a raw 8 into 9), which
//! is why some servers must decline that offer and rasgi need not.
//!
//! # The messages
//!
//! RSV1 on a message's first frame marks it compressed; continuation and control frames
//! never carry it (`frame.rs` and `message.rs` enforce that). The payload of a
//! compressed message is raw DEFLATE ending in a sync flush, whose final `00 00 ff ff`
//! is left off on the wire: the sender strips it, the receiver appends it back before
//! inflating (§7.2.1, §7.2.2). RFC 7692 §7.2.3.1's example, "Hello" in one frame:
//!
//! ```text
//! c1 07 f2 48 cd c9 c9 07 00      FIN + RSV1 + text, 7 bytes of DEFLATE (+ 00 00 ff ff)
//! ```
//!
//! With *context takeover* (the default) each direction's compressor keeps its window from
//! one message to the next, so a message that repeats an earlier one costs a few bytes.
//! The price is memory for the life of the connection; `*_no_context_takeover` trades
//! ratio for that memory.
//!
//! Decompression is where the danger is: a few kilobytes can inflate to gigabytes. The
//! `--ws-max-size` limit therefore counts *inflated* bytes, and a message is inflated as its
//! frames arrive, so the limit trips (1009) before the memory is spent.

use std::fmt;

use crate::compress::{CompressError, Deflater, Inflater};

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// The tail of a sync flush, stripped from every compressed message on the wire.
const FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Messages shorter than this go out uncompressed: for a handful of bytes the DEFLATE
/// block costs more than it saves, and RSV1 is decided per message, so nothing is lost.
pub const MIN_COMPRESS_SIZE: usize = 64;

/// The compression level of outgoing messages: zlib's default, the level `websockets`
/// uses too. (Level 9 would spend several times the CPU on chat-sized messages for a few
/// per cent.)
const LEVEL: u8 = 6;

/// The parameters both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (so the server may reset its
    /// decompressor too).
    pub client_no_context_takeover: bool,
    /// The server's matches reach back at most 2^bits bytes (8..=15; 15 unless asked).
    pub server_max_window_bits: u8,
    /// Whether `server_max_window_bits` was asked for, and so is echoed in the answer.
    pub server_window_asked: bool,
    /// The client's matches reach back at most 2^bits bytes (8..=15): what the client
    /// promised in its offer, else 15.
    pub client_max_window_bits: u8,
}

/// Why one offer was declined; the next offer is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfferError {
    /// The element is not `name *(; param[=value])` in the header grammar.
    Syntax,
    /// A parameter RFC 7692 does not define.
    UnknownParameter(String),
    /// A parameter given twice.
    Duplicate(&'static str),
    /// A value where none is allowed, none where one is required, or not a window size.
    BadValue(&'static str),
}

impl fmt::Display for OfferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfferError::Syntax => f.write_str("an extension offer that does not parse"),
            OfferError::UnknownParameter(name) => write!(f, "an unknown permessage-deflate parameter {name:?}"),
            OfferError::Duplicate(name) => write!(f, "the permessage-deflate parameter {name} given twice"),
            OfferError::BadValue(name) => write!(f, "a bad value for the permessage-deflate parameter {name}"),
        }
    }
}

impl std::error::Error for OfferError {}

/// One element of an extension list: its name and its parameters, values unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The extension's name, as sent.
    pub name: String,
    /// Parameters in order: the name and the value, if there is one.
    pub params: Vec<(String, Option<String>)>,
}

/// Splits `value` at `sep` outside quoted strings (a quoted value may hold `,` or `;`).
fn split_outside_quotes(value: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

/// A token, or a quoted string whose content (unescaped) is returned.
fn token_or_quoted(raw: &[u8]) -> Option<String> {
    let raw = crate::headers::trim(raw);
    let text = if let Some(inner) = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) {
        let mut out = Vec::with_capacity(inner.len());
        let mut bytes = inner.iter();
        while let Some(&b) = bytes.next() {
            out.push(if b == b'\\' { *bytes.next()? } else { b });
        }
        out
    } else {
        raw.to_vec()
    };
    // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
    (!text.is_empty() && crate::headers::is_token(&text)).then(|| String::from_utf8_lossy(&text).into_owned())
}

/// Parses one element of `Sec-WebSocket-Extensions` (the text between two commas).
pub fn parse_offer(element: &[u8]) -> Result<Offer, OfferError> {
    let mut parts = split_outside_quotes(element, b';').into_iter();
    let name = crate::headers::trim(parts.next().unwrap_or_default());
    if name.is_empty() || !crate::headers::is_token(name) {
        return Err(OfferError::Syntax);
    }
    let mut params = Vec::new();
    for part in parts {
        let (key, value) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => (&part[..eq], Some(token_or_quoted(&part[eq + 1..]).ok_or(OfferError::Syntax)?)),
            None => (part, None),
        };
        let key = crate::headers::trim(key);
        if key.is_empty() || !crate::headers::is_token(key) {
            return Err(OfferError::Syntax);
        }
        params.push((String::from_utf8_lossy(key).to_ascii_lowercase(), value));
    }
    Ok(Offer { name: String::from_utf8_lossy(name).into_owned(), params })
}

/// A window size: a decimal 8..=15 without leading zeros (§7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [b'8'] => Some(8),
        [b'9'] => Some(9),
        [b'1', d @ b'0'..=b'5'] => Some(10 + (d - b'0')),
        _ => None,
    }
}

impl Agreement {
    /// What the server agrees to for one permessage-deflate offer, or why it cannot.
    pub fn from_offer(offer: &Offer) -> Result<Agreement, OfferError> {
        let mut agreement = Agreement {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            server_window_asked: false,
            client_max_window_bits: 15,
        };
        let mut seen = [false; 4];
        for (key, value) in &offer.params {
            let (index, name) = match key.as_str() {
                "server_no_context_takeover" => (0, "server_no_context_takeover"),
                "client_no_context_takeover" => (1, "client_no_context_takeover"),
                "server_max_window_bits" => (2, "server_max_window_bits"),
                "client_max_window_bits" => (3, "client_max_window_bits"),
                other => return Err(OfferError::UnknownParameter(other.to_owned())),
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(OfferError::Duplicate(name));
            }
            match (index, value) {
                (0, None) => agreement.server_no_context_takeover = true,
                (1, None) => agreement.client_no_context_takeover = true,
                (2, Some(v)) => {
                    agreement.server_max_window_bits = window_bits(v).ok_or(OfferError::BadValue(name))?;
                    agreement.server_window_asked = true;
                }
                // Without a value the client only says it could limit its window; it will
                // use 15 bits unless told otherwise, and rasgi does not tell it.
                (3, None) => {}
                (3, Some(v)) => agreement.client_max_window_bits = window_bits(v).ok_or(OfferError::BadValue(name))?,
                _ => return Err(OfferError::BadValue(name)),
            }
        }
        Ok(agreement)
    }

    /// The `Sec-WebSocket-Extensions` value of the answer.
    pub fn response(&self) -> String {
        let mut out = String::from(NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if self.server_window_asked {
            out.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        out
    }

    /// The decompressor for the client's messages.
    pub fn inflater(&self) -> MessageInflater {
        MessageInflater {
            inflater: Inflater::new().with_window_bits(self.client_max_window_bits),
            reset_each_message: self.client_no_context_takeover,
        }
    }

    /// The compressor for the server's messages.
    pub fn deflater(&self) -> MessageDeflater {
        MessageDeflater {
            deflater: None,
            window_bits: self.server_max_window_bits,
            reset_each_message: self.server_no_context_takeover,
        }
    }
}

/// Picks the first acceptable permessage-deflate offer among the
/// `Sec-WebSocket-Extensions` header values (in the order received). Offers of other
/// extensions are passed over, as are unacceptable ones.
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Agreement> {
    values
        .into_iter()
        .flat_map(|value| split_outside_quotes(value, b','))
        .filter(|element| !crate::headers::trim(element).is_empty())
        .filter_map(|element| parse_offer(element).ok())
        .filter(|offer| offer.name.eq_ignore_ascii_case(NAME))
        .find_map(|offer| Agreement::from_offer(&offer).ok())
}

/// Why a compressed message could not be inflated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than the size limit.
    TooBig,
    /// The payload is not valid DEFLATE (or continues after a final block).
    Corrupt(CompressError),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooBig => f.write_str("a message larger than the size limit"),
            InflateError::Corrupt(e) => write!(f, "compressed data that does not inflate: {e}"),
        }
    }
}

impl std::error::Error for InflateError {}

/// The receiving half: inflates the client's compressed messages, piece by piece.
pub struct MessageInflater {
    /// The raw DEFLATE decoder; its window carries over between messages unless
    /// `reset_each_message`.
    inflater: Inflater,
    /// `client_no_context_takeover` was agreed: the client starts every message afresh,
    /// so the window is dropped after each one instead of being held.
    reset_each_message: bool,
}

impl fmt::Debug for MessageInflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageInflater").field("reset_each_message", &self.reset_each_message).finish()
    }
}

impl MessageInflater {
    /// A compressed message begins: it may inflate to at most `max_size` bytes.
    pub fn begin(&mut self, max_size: u64) {
        self.inflater.limit_further(max_size);
    }

    /// Inflates one piece of the message's payload, appending to `out`.
    pub fn inflate(&mut self, compressed: &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
        self.inflater.inflate(compressed, out).map(|_| ()).map_err(classify)
    }

    /// The message's last frame ended: the stripped tail goes back in, which makes the
    /// decoder hand out every byte of the message.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), InflateError> {
        self.inflater.inflate(&FLUSH_TAIL, out).map_err(classify)?;
        if self.inflater.is_done() {
            // The sender ended its stream with a final block (§7.2.3.4 allows it). What
            // may follow is the tail just appended, possibly after the first byte of the
            // empty stored block the sender added (§7.2.1); the next message is a new
            // stream.
            let rest = self.inflater.take_remainder();
            if rest[..] != FLUSH_TAIL && rest[..] != [0, 0, 0, 0xff, 0xff] {
                return Err(InflateError::Corrupt(CompressError::TrailingData(rest.len())));
            }
            self.inflater.reset();
        } else if self.reset_each_message {
            self.inflater.reset();
        }
        Ok(())
    }
}

fn classify(e: CompressError) -> InflateError {
    match e {
        CompressError::OutputLimit(_) => InflateError::TooBig,
        other => InflateError::Corrupt(other),
    }
}

/// The sending half: compresses the server's messages.
pub struct MessageDeflater {
    /// The encoder, made on the first message worth compressing: it holds half a
    /// megabyte of match tables, which a connection that only sends short messages never
    /// needs.
    deflater: Option<Deflater>,
    /// The agreed `server_max_window_bits`.
    window_bits: u8,
    /// `server_no_context_takeover` was agreed: every message is a stream of its own.
    reset_each_message: bool,
}

impl fmt::Debug for MessageDeflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageDeflater")
            .field("window_bits", &self.window_bits)
            .field("reset_each_message", &self.reset_each_message)
            .finish()
    }
}

impl MessageDeflater {
    /// True if a message of `len` bytes is worth compressing.
    pub fn wants(&self, len: usize) -> bool {
        len >= MIN_COMPRESS_SIZE
    }

    /// Appends `message` compressed, without the sync-flush tail: the payload of a frame
    /// with RSV1 set.
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        let window_bits = self.window_bits;
        let deflater = self.deflater.get_or_insert_with(|| Deflater::new(LEVEL).with_window_bits(window_bits));
        let start = out.len();
        deflater.compress(message, out);
        deflater.flush(out);
        if out[start..].ends_with(&FLUSH_TAIL) {
            out.truncate(out.len() - FLUSH_TAIL.len());
        }
        if self.reset_each_message {
            deflater.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(header: &str) -> Option<String> {
        negotiate([header.as_bytes()]).map(|a| a.response())
    }

    #[test]
    fn negotiation_picks_the_first_acceptable_offer() {
        assert_eq!(agree("permessage-deflate").as_deref(), Some("permessage-deflate"));
        assert_eq!(agree("permessage-deflate; client_max_window_bits").as_deref(), Some("permessage-deflate"));
        assert_eq!(
            agree(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"
            )
            .as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"
            )
        );
        assert_eq!(
            agree(
                "x-webkit-deflate-frame, permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=\"10\""
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        assert_eq!(
            agree("permessage-deflate; server_max_window_bits, permessage-deflate; client_no_context_takeover")
                .as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        assert_eq!(agree("permessage-deflate; server_no_context_takeover; server_no_context_takeover"), None);
        assert_eq!(agree("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(agree("permessage-deflate; server_max_window_bits=08"), None);
        assert_eq!(agree("permessage-deflate; client_max_window_bits=7"), None);
        assert_eq!(agree("permessage-deflate; client_no_context_takeover=1"), None);
        assert_eq!(agree("permessage-deflate; a=\"b,c\", x"), None);
        assert_eq!(agree("x-other"), None);
        let several = negotiate([b"x-other".as_slice(), b"permessage-deflate; client_max_window_bits=9".as_slice()]);
        assert_eq!(several.map(|a| a.client_max_window_bits), Some(9));
    }

    #[test]
    fn offer_errors_say_what_is_wrong() {
        let err = |s: &str| Agreement::from_offer(&parse_offer(s.as_bytes()).unwrap()).unwrap_err().to_string();
        assert_eq!(err("permessage-deflate; mystery"), "an unknown permessage-deflate parameter \"mystery\"");
        assert_eq!(
            err("permessage-deflate; client_max_window_bits; client_max_window_bits=9"),
            "the permessage-deflate parameter client_max_window_bits given twice"
        );
        assert_eq!(
            err("permessage-deflate; server_max_window_bits"),
            "a bad value for the permessage-deflate parameter server_max_window_bits"
        );
        assert_eq!(parse_offer(b"permessage-deflate; =3"), Err(OfferError::Syntax));
    }

    #[test]
    fn rfc7692_hello_inflates() {
        let agreement = negotiate([b"permessage-deflate".as_slice()]).unwrap();
        let mut inflater = agreement.inflater();
        let mut out = Vec::new();
        inflater.begin(100);
        inflater.inflate(&[0xf2, 0x48, 0xcd, 0xc9], &mut out).unwrap();
        inflater.inflate(&[0xc9, 0x07, 0x00], &mut out).unwrap();
        inflater.finish(&mut out).unwrap();
        assert_eq!(out, b"Hello");
        // §7.2.3.2: the same message again, through the shared window.
        out.clear();
        inflater.begin(100);
        inflater.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out).unwrap();
        inflater.finish(&mut out).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn the_limit_counts_inflated_bytes() {
        let agreement = negotiate([b"permessage-deflate".as_slice()]).unwrap();
        let mut deflater = agreement.deflater();
        let mut packed = Vec::new();
        deflater.compress(&[b'a'; 10_000], &mut packed);
        assert!(packed.len() < 100, "{} bytes", packed.len());
        let mut inflater = agreement.inflater();
        inflater.begin(9_999);
        let mut out = Vec::new();
        let result = inflater.inflate(&packed, &mut out).and_then(|()| inflater.finish(&mut out));
        assert_eq!(result, Err(InflateError::TooBig));
        assert!(out.len() <= 9_999);
    }

    #[test]
    fn context_takeover_shortens_a_repeated_message() {
        let message = b"a message that says the same thing twice, then says it again".repeat(2);
        for (offer, takeover) in
            [("permessage-deflate", true), ("permessage-deflate; server_no_context_takeover", false)]
        {
            let agreement = negotiate([offer.as_bytes()]).unwrap();
            let mut deflater = agreement.deflater();
            let mut inflater = agreement.inflater();
            let (mut first, mut second) = (Vec::new(), Vec::new());
            deflater.compress(&message, &mut first);
            deflater.compress(&message, &mut second);
            assert_eq!(second.len() < first.len(), takeover, "{offer}: {} then {}", first.len(), second.len());
            for packed in [first, second] {
                let mut out = Vec::new();
                inflater.begin(1 << 20);
                inflater.inflate(&packed, &mut out).unwrap();
                inflater.finish(&mut out).unwrap();
                assert_eq!(out, message);
            }
        }
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut inflater = negotiate([b"permessage-deflate".as_slice()]).unwrap().inflater();
        inflater.begin(100);
        let err = inflater.inflate(&[0xff, 0xff, 0xff], &mut Vec::new()).unwrap_err();
        assert!(matches!(err, InflateError::Corrupt(_)), "{err:?}");
        // Data after a final block.
        let mut inflater = negotiate([b"permessage-deflate".as_slice()]).unwrap().inflater();
        inflater.begin(100);
        let mut out = Vec::new();
        inflater.inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x2a], &mut out).unwrap();
        let err = inflater.finish(&mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "compressed data that does not inflate: 6 unexpected bytes after the end of the compressed stream"
        );
    }
}
