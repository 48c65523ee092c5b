//! Decoding `Content-Encoding` as the body streams — what httpx does with the `gzip` and
//! `deflate` bodies it asked for with `Accept-Encoding: gzip, deflate`.
//!
//! The codec is [`crate::compress`]; this file only maps the header to a decoder. Two
//! wrinkles of the real web:
//! - HTTP's `deflate` is meant to be the zlib format (RFC 9110 §8.4.1.2), but some servers
//!   send bare DEFLATE. The first two bytes tell them apart: a zlib header is method 8 with a
//!   check value divisible by 31, which raw DEFLATE data matches only by accident — and a
//!   raw stream starting that way would then fail its Adler-32 check loudly, not silently.
//! - An empty body stays empty whatever the header says (HEAD, 204, 304, and servers that
//!   label an empty answer `gzip`), as in httpx.
//!
//! Bodies are decoded piece by piece, so nothing is buffered beyond one read and the 32 KiB
//! window. A coding the client cannot decode (`br`, `zstd`, or two codings stacked) is an
//! error that names it, never bytes passed off as the body.

use crate::compress::{CompressError, Decoder, Format, Status};

/// The decoder for one response body.
pub(crate) struct ContentDecoder {
    /// The coding's name as the server wrote it, for error messages.
    pub(crate) name: String,
    /// The decoder, once the format is known (`deflate` waits for two bytes to decide).
    decoder: Option<Decoder>,
    /// The first bytes of a `deflate` body, until there are two of them.
    sniffed: Vec<u8>,
    /// Any body byte arrived.
    seen_input: bool,
    /// Whether the coding is `deflate` (zlib or raw) rather than `gzip`.
    deflate: bool,
}

/// What the response's `Content-Encoding` asks for.
pub(crate) enum Plan {
    /// No coding, or only `identity`: the body is read as it is.
    Identity,
    /// One coding this client decodes.
    Decode(Box<ContentDecoder>),
    /// A coding this client does not decode, named.
    Unsupported(String),
}

/// Reads the `Content-Encoding` values of a response.
pub(crate) fn plan<'a>(values: impl Iterator<Item = &'a [u8]>) -> Plan {
    let mut codings = Vec::new();
    for value in values {
        for item in value.split(|&b| b == b',') {
            let coding = String::from_utf8_lossy(item).trim().to_ascii_lowercase();
            if !coding.is_empty() && coding != "identity" {
                codings.push(coding);
            }
        }
    }
    match codings.as_slice() {
        [] => Plan::Identity,
        [one] if one == "gzip" || one == "x-gzip" || one == "deflate" => Plan::Decode(Box::new(ContentDecoder {
            name: one.clone(),
            decoder: (one != "deflate").then(|| Decoder::new(Format::Gzip, u64::MAX)),
            sniffed: Vec::new(),
            seen_input: false,
            deflate: one == "deflate",
        })),
        [one] => Plan::Unsupported(one.clone()),
        many => Plan::Unsupported(many.join(", ")),
    }
}

impl ContentDecoder {
    /// Decodes a piece of the body into `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        if input.is_empty() {
            return Ok(());
        }
        self.seen_input = true;
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => {
                self.sniffed.extend_from_slice(input);
                if self.sniffed.len() < 2 {
                    return Ok(());
                }
                let (cmf, flg) = (self.sniffed[0], self.sniffed[1]);
                let zlib = self.deflate
                    && cmf & 0x0F == 8
                    && cmf >> 4 <= 7
                    && (cmf as u16 * 256 + flg as u16).is_multiple_of(31);
                let format = if zlib { Format::Zlib } else { Format::Raw };
                let sniffed = std::mem::take(&mut self.sniffed);
                let decoder = self.decoder.insert(Decoder::new(format, u64::MAX));
                decoder.decode(&sniffed, out)?;
                return Ok(());
            }
        };
        let _: Status = decoder.decode(input, out)?;
        Ok(())
    }

    /// At the end of the body: an error unless the coded stream ended too.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CompressError> {
        if !self.seen_input {
            return Ok(());
        }
        if self.decoder.is_none() {
            // A one-byte deflate body: raw, since no zlib stream is that short.
            let sniffed = std::mem::take(&mut self.sniffed);
            self.decoder.insert(Decoder::new(Format::Raw, u64::MAX)).decode(&sniffed, out)?;
        }
        match &self.decoder {
            Some(decoder) => decoder.finish(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::compress;

    fn decode_all(header: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let Plan::Decode(mut d) = plan(std::iter::once(header.as_bytes())) else { return Err("no plan".into()) };
        let mut out = Vec::new();
        for piece in body.chunks(3) {
            d.decode(piece, &mut out).map_err(|e| e.to_string())?;
        }
        d.finish(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn each_coding_decodes() {
        let body = b"{\"message\":\"Hello, World!\"}";
        assert_eq!(decode_all("gzip", &compress(Format::Gzip, 6, body)).unwrap(), body);
        assert_eq!(decode_all("deflate", &compress(Format::Zlib, 6, body)).unwrap(), body);
        assert_eq!(decode_all("Deflate", &compress(Format::Raw, 6, body)).unwrap(), body);
        assert_eq!(decode_all("identity, gzip", &compress(Format::Gzip, 1, body)).unwrap(), body);
        assert_eq!(decode_all("gzip", b"").unwrap(), b"");
        assert_eq!(
            decode_all("gzip", &compress(Format::Gzip, 6, body)[..20]).unwrap_err(),
            "compressed stream truncated: it ends inside the deflate data"
        );
    }

    #[test]
    fn plans() {
        assert!(matches!(plan(std::iter::empty()), Plan::Identity));
        assert!(matches!(plan(std::iter::once(&b"identity"[..])), Plan::Identity));
        assert!(matches!(plan(std::iter::once(&b"br"[..])), Plan::Unsupported(n) if n == "br"));
        assert!(matches!(plan([&b"gzip"[..], b"gzip"].into_iter()), Plan::Unsupported(n) if n == "gzip, gzip"));
    }
}
