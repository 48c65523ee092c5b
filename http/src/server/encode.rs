//! Encoding a response head: the choice of body framing, and the bytes of the head.
//!
//! Both are pure functions of what the application sent and what the request allows,
//! so they are tested here byte for byte, and the socket tests only need to cover the
//! wiring. The framing rules:
//!
//! | the response | framing on the wire |
//! |---|---|
//! | `HEAD`, 1xx, 204, 304 | no body, whatever the application sends (`HEAD` still announces the length a `GET` would have had, when it is known) |
//! | the application set `content-length` (and no trailers) | that length; the server checks the body against it |
//! | the whole body in the first piece | `content-length` of that piece: head and body leave in one write |
//! | a stream, HTTP/1.1 | `transfer-encoding: chunked` |
//! | a stream, HTTP/1.0 (no chunking there) | delimited by closing the connection |
//!
//! uvicorn's `h11` makes the same decisions in `h11._writers`; hyper's in
//! `proto/h1/role.rs` and `encode.rs`.

use crate::asgi::{Header, HttpVersion};
use crate::headers::{write_decimal, write_field};

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `content-length`, with this many bytes (still) to send.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the connection closes (HTTP/1.0 streaming).
    Close,
    /// No body may be sent (HEAD, 1xx, 204, 304); pieces are discarded.
    None,
}

/// What the framing depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramingInput {
    /// The request's version.
    pub(crate) version: HttpVersion,
    /// The response status.
    pub(crate) status: u16,
    /// The request was `HEAD`.
    pub(crate) is_head: bool,
    /// A valid `content-length` the application set, if any.
    pub(crate) declared: Option<u64>,
    /// The application announced trailers (which need chunking).
    pub(crate) trailers: bool,
    /// The size of the first body piece.
    pub(crate) first_piece: u64,
    /// The first piece is the whole body.
    pub(crate) first_piece_is_last: bool,
}

/// The decision: how the body goes out, and what the head announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramingChoice {
    /// How body pieces are written.
    pub(crate) body: Framing,
    /// The framing header the head carries; differs from `body` only for `HEAD`.
    pub(crate) announced: Framing,
}

/// Chooses the framing (see the table in the module doc).
pub(crate) fn choose_framing(input: FramingInput) -> FramingChoice {
    let whole = input.first_piece_is_last.then_some(input.first_piece);
    if input.is_head {
        // HEAD keeps the length the GET would have had, when it is known.
        let announced = input.declared.or(whole).map_or(Framing::None, Framing::Length);
        return FramingChoice { body: Framing::None, announced };
    }
    let body = if matches!(input.status, 100..=199 | 204 | 304) {
        Framing::None
    } else if let Some(n) = input.declared.filter(|_| !input.trailers) {
        Framing::Length(n)
    } else if let Some(n) = whole.filter(|_| !input.trailers) {
        Framing::Length(n)
    } else if input.version == HttpVersion::Http11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    FramingChoice { body, announced: body }
}

/// Writes a response head: the status line, the application's headers (without the
/// framing ones, which are the server's to decide), `server` and `date` unless the
/// application set its own, the framing header, and `connection` when the default for
/// the version does not hold.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    version: HttpVersion,
    status: u16,
    headers: &[Header],
    framing: Framing,
    keep_alive: bool,
) {
    write_status_line(out, version, status);
    let mut has_server = false;
    let mut has_date = false;
    for (name, value) in headers {
        let name = name.as_ref();
        // The application's transfer-encoding is ignored and its content-length is
        // re-emitted from `framing`; `connection` is decided by the server too.
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("connection")
        {
            continue;
        }
        has_server |= name.eq_ignore_ascii_case("server");
        has_date |= name.eq_ignore_ascii_case("date");
        write_field(out, name.as_bytes(), value);
    }
    write_server_fields(out, !has_server, !has_date);
    write_framing(out, version, framing, keep_alive);
}

/// The head of one of the server's own plain-text error responses, which always close
/// the connection.
pub(crate) fn write_error_head(out: &mut Vec<u8>, version: HttpVersion, status: u16, length: u64) {
    write_status_line(out, version, status);
    write_field(out, b"content-type", b"text/plain; charset=utf-8");
    write_server_fields(out, true, true);
    write_framing(out, version, Framing::Length(length), false);
}

fn write_status_line(out: &mut Vec<u8>, version: HttpVersion, status: u16) {
    out.extend_from_slice(match version {
        HttpVersion::Http10 => b"HTTP/1.0 ",
        HttpVersion::Http11 => b"HTTP/1.1 ",
    });
    // Statuses are checked to be three digits when the application sends them, so the
    // digits are written directly.
    let status = status.clamp(100, 999);
    out.extend_from_slice(&[b'0' + (status / 100) as u8, b'0' + (status / 10 % 10) as u8, b'0' + (status % 10) as u8]);
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_server_fields(out: &mut Vec<u8>, server: bool, date: bool) {
    if server {
        out.extend_from_slice(b"server: rasgi\r\n");
    }
    if date {
        out.extend_from_slice(b"date: ");
        crate::date::append_date(out);
        out.extend_from_slice(b"\r\n");
    }
}

fn write_framing(out: &mut Vec<u8>, version: HttpVersion, framing: Framing, keep_alive: bool) {
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            write_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Close | Framing::None => {}
    }
    match (version, keep_alive) {
        (HttpVersion::Http11, false) => out.extend_from_slice(b"connection: close\r\n"),
        (HttpVersion::Http10, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asgi::header;

    fn input(status: u16, first_piece: u64, last: bool) -> FramingInput {
        FramingInput {
            version: HttpVersion::Http11,
            status,
            is_head: false,
            declared: None,
            trailers: false,
            first_piece,
            first_piece_is_last: last,
        }
    }

    fn same(body: Framing) -> FramingChoice {
        FramingChoice { body, announced: body }
    }

    #[test]
    fn the_framing_table() {
        assert_eq!(choose_framing(input(200, 13, true)), same(Framing::Length(13)));
        assert_eq!(choose_framing(input(200, 0, true)), same(Framing::Length(0)));
        assert_eq!(choose_framing(input(200, 5, false)), same(Framing::Chunked));
        let http_1_0 = FramingInput { version: HttpVersion::Http10, ..input(200, 5, false) };
        assert_eq!(choose_framing(http_1_0), same(Framing::Close));
        let declared = FramingInput { declared: Some(100), ..input(200, 5, false) };
        assert_eq!(choose_framing(declared), same(Framing::Length(100)));
        let trailers = FramingInput { declared: Some(100), trailers: true, ..input(200, 5, true) };
        assert_eq!(choose_framing(trailers), same(Framing::Chunked));
        for status in [101, 204, 304] {
            assert_eq!(choose_framing(input(status, 9, true)), same(Framing::None), "{status}");
        }
    }

    #[test]
    fn head_announces_what_get_would_have_sent() {
        let head =
            |first_piece, last, declared| FramingInput { is_head: true, declared, ..input(200, first_piece, last) };
        let none_announcing = |announced| FramingChoice { body: Framing::None, announced };
        assert_eq!(choose_framing(head(13, true, None)), none_announcing(Framing::Length(13)));
        assert_eq!(choose_framing(head(0, false, Some(42))), none_announcing(Framing::Length(42)));
        assert_eq!(choose_framing(head(5, false, None)), none_announcing(Framing::None));
    }

    /// The head with its `date` value replaced, for exact comparison.
    fn head_bytes(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        let text = String::from_utf8(out).expect("ASCII");
        let at = text.find("date: ").expect("a date") + "date: ".len();
        format!("{}<DATE>{}", &text[..at], &text[at + 29..])
    }

    #[test]
    fn heads_byte_for_byte() {
        let plain = vec![header("content-type", "text/plain")];
        assert_eq!(
            head_bytes(|out| write_head(out, HttpVersion::Http11, 200, &plain, Framing::Length(13), true)),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 13\r\n\r\n"
        );
        assert_eq!(
            head_bytes(|out| write_head(out, HttpVersion::Http11, 200, &plain, Framing::Chunked, false)),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            head_bytes(|out| write_head(out, HttpVersion::Http10, 204, &[], Framing::None, true)),
            "HTTP/1.0 204 No Content\r\nserver: rasgi\r\ndate: <DATE>\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            head_bytes(|out| write_head(out, HttpVersion::Http10, 200, &[], Framing::Close, false)),
            "HTTP/1.0 200 OK\r\nserver: rasgi\r\ndate: <DATE>\r\n\r\n"
        );
        assert_eq!(
            head_bytes(|out| write_error_head(out, HttpVersion::Http11, 408, 12)),
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nserver: rasgi\r\n\
             date: <DATE>\r\ncontent-length: 12\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_are_the_servers_and_server_and_date_may_be_the_applications() {
        let own = vec![
            header("transfer-encoding", "gzip"),
            header("content-length", "99"),
            header("connection", "upgrade"),
            header("server", "custom/1.0"),
            header("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ];
        let mut out = Vec::new();
        write_head(&mut out, HttpVersion::Http11, 200, &own, Framing::Length(3), true);
        assert_eq!(
            String::from_utf8(out).expect("ASCII"),
            "HTTP/1.1 200 OK\r\nserver: custom/1.0\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\ncontent-length: 3\r\n\r\n"
        );
    }
}
