//! The response: its head parsed with httparse, and a body read whole, as JSON, or piece by
//! piece — httpx's `httpx.Response` (`status_code`, `headers`, `aread()`, `json()`,
//! `aiter_bytes()`, `raise_for_status()`).
//!
//! The head is read check-then-parse, as the server reads requests: httparse says whether
//! the buffered bytes hold a complete head (`Partial` means "read more"); only then is it
//! parsed, and the framing rules decide how the body ends. Those rules are where clients
//! and servers get smuggled past each other, so ambiguity is an error: two different
//! Content-Lengths, a malformed length.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use serde::de::DeserializeOwned;

use super::body::{Body, Framing};
use super::decode::{self, ContentDecoder, Plan};
use super::error::Error;
use super::headers::Headers;
use super::pool::Checkout;
use super::timeouts::Clock;
use super::url::{redact, Url};
use crate::asgi::HttpVersion;
use crate::chunked::ChunkedDecoder;
use crate::headers::trim;

/// The most header fields a response may have.
const MAX_HEADERS: usize = 100;

/// A parsed response head and what it says about the body and the connection.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The reason phrase (informational only; HTTP/2 dropped it).
    pub(crate) reason: Cow<'static, str>,
    /// HTTP/1.0 or HTTP/1.1.
    pub(crate) version: HttpVersion,
    /// The fields, names lowercased.
    pub(crate) headers: Headers,
    /// How the body ends.
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub(crate) keep_alive: bool,
}

/// Parses a response head from the start of `buf`: `Ok(None)` means incomplete, read more;
/// `Ok(Some((head, len)))` consumed `len` bytes. `request_was_head`: a response to HEAD
/// has no body whatever its headers say.
pub(crate) fn parse_head(buf: &[u8], request_was_head: bool) -> Result<Option<(ResponseHead, usize)>, String> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(format!("more than {MAX_HEADERS} header fields")),
        Err(e) => return Err(format!("malformed response head ({e})")),
    };
    let (Some(status), Some(minor)) = (response.code, response.version) else {
        return Err("incomplete status line".into());
    };
    // httparse takes any three digits; RFC 9110 §15 codes run from 100 to 599, and a
    // status below 100 would fall through every rule about which responses have a body.
    if !(100..600).contains(&status) {
        return Err(format!("invalid status code {status:03}"));
    }
    let version = if minor == 0 { HttpVersion::Http10 } else { HttpVersion::Http11 };
    if status == 101 {
        return Err("the server switched protocols (101); upgrades are not supported".into());
    }

    let (names, values) = response.headers.iter().fold((0, 0), |(n, v), h| (n + h.name.len(), v + h.value.len()));
    let mut headers = Headers::with_capacity(response.headers.len(), names, values);
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<Vec<u8>> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in response.headers.iter() {
        // The names that decide framing are compared as they came, ignoring case, rather
        // than lowercased into a new string first.
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 §8.6 lets a recipient accept a list of identical values
            // ("5, 5", or the header twice); any disagreement is an error.
            for item in h.value.split(|&b| b == b',') {
                let n = parse_length(trim(item)).ok_or("invalid Content-Length")?;
                if content_length.is_some_and(|previous| previous != n) {
                    return Err("conflicting Content-Length values".into());
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding is what decides the framing; collect them all.
            let codings = transfer_encoding.get_or_insert_with(Vec::new);
            if !codings.is_empty() {
                codings.push(b',');
            }
            codings.extend_from_slice(h.value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                close |= trim(token).eq_ignore_ascii_case(b"close");
                keep_alive_token |= trim(token).eq_ignore_ascii_case(b"keep-alive");
            }
        }
        headers.append_lowercased(name, h.value);
    }

    let mut keep_alive = match version {
        HttpVersion::Http11 => !close,
        HttpVersion::Http10 => keep_alive_token && !close,
    };
    let no_body = request_was_head || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        Framing::Empty
    } else if let Some(codings) = transfer_encoding {
        // Transfer-Encoding overrides Content-Length; a message with both may be an
        // attempt at smuggling, so its connection is not reused (RFC 9112 §6.3).
        keep_alive &= content_length.is_none();
        let last = codings.rsplit(|&b| b == b',').next().map(trim).unwrap_or_default();
        if last.eq_ignore_ascii_case(b"chunked") && version == HttpVersion::Http11 {
            Framing::Chunked(ChunkedDecoder::new())
        } else {
            keep_alive = false;
            Framing::Close
        }
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::Close
    };
    let reason = reason_phrase(response.reason.unwrap_or_default());
    Ok(Some((ResponseHead { status, reason, version, headers, framing, keep_alive }, len)))
}

/// The reason phrase, borrowed from a table when it is one of the usual ones — as it is in
/// nearly every response — so that reading it costs no allocation.
fn reason_phrase(reason: &str) -> Cow<'static, str> {
    const USUAL: [&str; 8] =
        ["OK", "Created", "No Content", "Moved Permanently", "Found", "Not Modified", "Bad Request", "Not Found"];
    match USUAL.iter().find(|usual| **usual == reason) {
        Some(usual) => Cow::Borrowed(usual),
        None => Cow::Owned(reason.to_string()),
    }
}

/// `1*DIGIT`, without overflow.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// A response whose head has arrived; the body is read on demand.
///
/// Read the body to the end ([`Response::bytes`], [`Response::text`], [`Response::json`],
/// or [`Response::chunk`] until `None`) to give the connection back to the pool; a
/// response dropped earlier closes its connection.
pub struct Response {
    /// The status code.
    status: u16,
    /// The reason phrase.
    reason: Cow<'static, str>,
    /// The server's HTTP version.
    version: HttpVersion,
    /// The header fields, names lowercased.
    headers: Headers,
    /// The URL that answered (after redirects).
    url: Url,
    /// The body still to be read and its connection.
    body: Body,
    /// Decodes the body's `Content-Encoding`; `None` passes it through as it arrives.
    decoder: Option<Box<ContentDecoder>>,
}

impl Response {
    pub(crate) fn new(head: ResponseHead, checkout: Checkout, url: Url, clock: Clock) -> Response {
        let ResponseHead { status, reason, version, headers, framing, keep_alive } = head;
        let body = Body::new(framing, checkout, keep_alive, clock);
        Response { status, reason, version, headers, url, body, decoder: None }
    }

    /// The response with its body decoded per `Content-Encoding` (when `decompress`); an
    /// error names a coding the client cannot decode.
    pub(crate) fn decoded(mut self, decompress: bool) -> Result<Response, Error> {
        if !decompress {
            return Ok(self);
        }
        match decode::plan(self.headers.get_all("content-encoding")) {
            Plan::Identity => {}
            Plan::Decode(decoder) => self.decoder = Some(decoder),
            Plan::Unsupported(coding) => {
                return Err(Error::Protocol {
                    origin: self.url.origin().to_string(),
                    reason: format!(
                        "the body has Content-Encoding {coding:?}, which this client cannot decode \
                         (it decodes gzip and deflate)"
                    ),
                })
            }
        }
        Ok(self)
    }

    /// Appends the next decoded piece of the body to `out`; `Ok(false)` at the end.
    async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool, Error> {
        let Some(decoder) = self.decoder.as_mut() else { return self.body.next(out).await };
        let start = out.len();
        let mut coded = Vec::new();
        loop {
            coded.clear();
            let more = self.body.next(&mut coded).await?;
            let result = if more { decoder.decode(&coded, out) } else { decoder.finish(out) };
            if let Err(e) = result {
                let reason = format!("the {} body could not be decoded: {e}", decoder.name);
                return Err(Error::Protocol { origin: self.url.origin().to_string(), reason });
            }
            if !more || out.len() > start {
                return Ok(out.len() > start || more);
            }
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The reason phrase the server sent ("OK", "Not Found").
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The server's HTTP version.
    pub fn version(&self) -> HttpVersion {
        self.version
    }

    /// The header fields (names lowercase).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The URL that answered: the one requested, or the last redirect's target.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The response if its status is 2xx; otherwise an [`Error::Status`], as httpx's
    /// `raise_for_status()`: a 4xx or 5xx, and also a 3xx, which reaches the caller only
    /// when it was not followed — its error names the `Location`, so that a caller who
    /// expected JSON learns it got a redirect rather than a confusing JSON error.
    pub fn error_for_status(self) -> Result<Response, Error> {
        if !self.is_success() {
            let location = match self.status {
                300..=399 => self.header("location").map(redact),
                _ => None,
            };
            return Err(Error::Status { status: self.status, url: self.url.redacted(), location });
        }
        Ok(self)
    }

    /// The next piece of the body as it arrives; `None` at the end. Pieces are as large as
    /// what one read from the socket delivered.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut piece = Vec::new();
        Ok(if self.next(&mut piece).await? { Some(piece) } else { None })
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Vec<u8>, Error> {
        // Sized from Content-Length up front: one allocation however many pieces the body
        // arrives in, instead of one per doubling (a body in one piece costs one either
        // way). A coded body decodes to some other length, so then it grows.
        let hint = if self.decoder.is_none() { self.body.reserve_hint() } else { 0 };
        let mut all = Vec::with_capacity(hint);
        while self.next(&mut all).await? {}
        Ok(all)
    }

    /// The whole body as text; invalid UTF-8 becomes U+FFFD (httpx decodes by the charset
    /// the server names; UTF-8 is what JSON APIs send).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The whole body parsed as JSON into `T` — `serde_json::Value` for anything.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(Error::Json)
    }

    /// True once the body was read to its end (and the connection released).
    pub fn is_body_complete(&self) -> bool {
        self.body.is_done()
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url.redacted())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<(ResponseHead, usize)>, String> {
        parse_head(raw.as_bytes(), false)
    }

    #[test]
    fn framing_rules() {
        let (h, len) = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap().unwrap();
        assert_eq!((h.status, len, h.keep_alive), (200, 38, true));
        assert!(matches!(h.framing, Framing::Length(5)));

        let (h, _) = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.framing, Framing::Chunked(_)));

        let (h, _) = head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.framing, Framing::Close) && !h.keep_alive);

        let (h, _) = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.framing, Framing::Empty) && h.keep_alive);

        let (h, _) = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").unwrap().unwrap();
        assert!(h.keep_alive);

        let (h, _) =
            head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.framing, Framing::Chunked(_)) && !h.keep_alive);

        let (h, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap().unwrap();
        assert!(matches!(h.framing, Framing::Empty));
    }

    #[test]
    fn reason_phrases_and_field_names() {
        let (h, _) = head("HTTP/1.1 200 OK\r\nCONTENT-length: 0\r\nX-Thing: A b\r\n\r\n").unwrap().unwrap();
        assert!(matches!(h.reason, Cow::Borrowed("OK")));
        assert_eq!(h.headers.iter().collect::<Vec<_>>(), [("content-length", &b"0"[..]), ("x-thing", b"A b")]);
        assert!(matches!(h.framing, Framing::Length(0)));
        let (h, _) = head("HTTP/1.1 404 Nothing Here\r\nContent-Length: 0\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.reason, "Nothing Here");
    }

    #[test]
    fn lengths_must_agree() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").unwrap().is_some());
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").unwrap_err(),
            "conflicting Content-Length values"
        );
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap_err(), "invalid Content-Length");
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n").unwrap_err(),
            "invalid Content-Length"
        );
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        assert!(head("HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 101 Switching Protocols\r\n\r\n").is_err());
    }

    /// Found by the `response_head` fuzz target: httparse accepts any three digits, and a
    /// status such as 002 was taken as a response with a body.
    #[test]
    fn status_codes_outside_100_to_599_are_refused() {
        assert_eq!(head("HTTP/1.1 002 OK\r\ncontent-length: 5\r\n\r\n").unwrap_err(), "invalid status code 002");
        assert_eq!(head("HTTP/1.1 600 Odd\r\n\r\n").unwrap_err(), "invalid status code 600");
        assert_eq!(head("HTTP/1.1 599 Edge\r\ncontent-length: 0\r\n\r\n").unwrap().unwrap().0.status, 599);
    }
}
