//! From frames to messages: reassembly of fragments, the size limit (1009), UTF-8 of
//! text as it arrives (1007), and control frames interleaved between fragments.
//!
//! [`MessageReader`] owns a [`FrameDecoder`] and turns the byte stream into
//! [`Incoming`] items. It is the counterpart of the part of `websockets`' `Protocol`
//! that `receive_data` drives; uvicorn's `--ws-max-size` is its `max_size`.

use super::close::{self, ClosePayload};
use super::frame::{Decoded, FrameDecoder, FrameHeader, Opcode, Role};
use super::utf8::Utf8Validator;

/// A complete data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, checked).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// Something the peer sent, ready for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message.
    Message(Message),
    /// A ping; the session answers it with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong (the answer to a keepalive ping, or unsolicited).
    Pong(Vec<u8>),
    /// The peer started (or answered) the close handshake.
    Close(ClosePayload),
}

/// Why the connection must fail: the close code to send and a reason for the log and
/// the close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 1002, 1007 or 1009.
    pub code: u16,
    /// What the peer did wrong.
    pub reason: &'static str,
}

/// The message being reassembled.
#[derive(Debug)]
enum Partial {
    /// Between messages.
    None,
    /// Fragments of a text message so far, validated up to the last byte.
    Text,
    /// Fragments of a binary message so far.
    Binary,
}

/// Reassembles messages from a stream of frames.
#[derive(Debug)]
pub struct MessageReader {
    /// The frame decoder; frame-level rules live there.
    decoder: FrameDecoder,
    /// Largest message accepted, in bytes (after reassembly).
    max_size: u64,
    /// Which data message is open, if any.
    partial: Partial,
    /// The open data message's bytes; empty between messages.
    data: Vec<u8>,
    /// UTF-8 state of the open text message.
    utf8: Utf8Validator,
    /// The current frame's header, from its header until its end.
    frame: Option<FrameHeader>,
    /// The current control frame's payload (at most 125 bytes): kept apart from `data`
    /// because a control frame may arrive in the middle of a fragmented message.
    control: Vec<u8>,
}

impl MessageReader {
    /// A reader for `role`, refusing messages over `max_size` bytes.
    pub fn new(role: Role, max_size: u64) -> MessageReader {
        MessageReader {
            decoder: FrameDecoder::new(role),
            max_size,
            partial: Partial::None,
            data: Vec::new(),
            utf8: Utf8Validator::new(),
            frame: None,
            control: Vec::new(),
        }
    }

    /// Consumes bytes from `input` until one item is complete or the input runs out.
    /// Returns how many bytes were consumed and the item, if one completed.
    pub fn read(&mut self, input: &[u8]) -> Result<(usize, Option<Incoming>), Failure> {
        let mut used = 0;
        loop {
            let sink = match self.frame {
                Some(h) if h.opcode.is_control() => &mut self.control,
                _ => &mut self.data,
            };
            let before = sink.len();
            let (n, decoded) = self
                .decoder
                .decode(&input[used..], sink)
                .map_err(|e| Failure { code: close::PROTOCOL_ERROR, reason: e.0 })?;
            used += n;
            match decoded {
                Decoded::NeedMore => return Ok((used, None)),
                Decoded::Header(header) => self.on_header(header)?,
                Decoded::Payload(_) => {
                    if matches!(self.partial, Partial::Text) && !self.frame.is_some_and(|h| h.opcode.is_control()) {
                        self.utf8.feed(&self.data[before..]).map_err(|_| Failure {
                            code: close::INVALID_PAYLOAD,
                            reason: "a text message that is not UTF-8",
                        })?;
                    }
                }
                Decoded::FrameEnd => {
                    if let Some(item) = self.on_frame_end()? {
                        return Ok((used, Some(item)));
                    }
                }
            }
        }
    }

    /// A header: the rules between frames, and the size limit before any payload is
    /// buffered (so an announced 1 GiB frame is refused on its header alone).
    fn on_header(&mut self, header: FrameHeader) -> Result<(), Failure> {
        let protocol = |reason| Failure { code: close::PROTOCOL_ERROR, reason };
        match (header.opcode, &self.partial) {
            (op, _) if op.is_control() => {
                self.control.clear();
            }
            (Opcode::Continuation, Partial::None) => return Err(protocol("a continuation frame with no message open")),
            (Opcode::Text | Opcode::Binary, Partial::Text | Partial::Binary) => {
                return Err(protocol("a new message before the previous one was finished"))
            }
            (Opcode::Text, Partial::None) => {
                self.partial = Partial::Text;
                self.utf8 = Utf8Validator::new();
            }
            (Opcode::Binary, Partial::None) => self.partial = Partial::Binary,
            _ => {}
        }
        if !header.opcode.is_control() && self.data.len() as u64 + header.len > self.max_size {
            return Err(Failure { code: close::MESSAGE_TOO_BIG, reason: "a message larger than the size limit" });
        }
        self.frame = Some(header);
        Ok(())
    }

    fn on_frame_end(&mut self) -> Result<Option<Incoming>, Failure> {
        let Some(header) = self.frame.take() else { return Ok(None) };
        if header.opcode.is_control() {
            let payload = std::mem::take(&mut self.control);
            return match header.opcode {
                Opcode::Ping => Ok(Some(Incoming::Ping(payload))),
                Opcode::Pong => Ok(Some(Incoming::Pong(payload))),
                _ => close::parse(&payload)
                    .map(|c| Some(Incoming::Close(c)))
                    .map_err(|e| Failure { code: e.code(), reason: close_reason(e) }),
            };
        }
        if !header.fin {
            return Ok(None);
        }
        let data = std::mem::take(&mut self.data);
        let message = match std::mem::replace(&mut self.partial, Partial::None) {
            Partial::Text => {
                if !self.utf8.is_complete() {
                    return Err(Failure { code: close::INVALID_PAYLOAD, reason: "a text message that is not UTF-8" });
                }
                // Validated piece by piece already; the conversion re-checks only as a
                // guard and cannot fail.
                match String::from_utf8(data) {
                    Ok(text) => Message::Text(text),
                    Err(_) => {
                        return Err(Failure {
                            code: close::INVALID_PAYLOAD,
                            reason: "a text message that is not UTF-8",
                        })
                    }
                }
            }
            Partial::Binary | Partial::None => Message::Binary(data),
        };
        Ok(Some(Incoming::Message(message)))
    }
}

fn close_reason(e: close::CloseError) -> &'static str {
    match e {
        close::CloseError::Protocol(reason) => reason,
        close::CloseError::Utf8 => "a close reason that is not UTF-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::encode_header;

    /// A masked client frame.
    fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let key = [0xA1, 0xB2, 0xC3, 0xD4];
        encode_header(&mut out, fin, opcode, payload.len() as u64, Some(key));
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    fn read_all(bytes: &[u8], max: u64) -> Result<Vec<Incoming>, Failure> {
        let mut reader = MessageReader::new(Role::Server, max);
        let mut items = Vec::new();
        let mut at = 0;
        // One byte at a time: the hardest way to cut the stream.
        while at < bytes.len() {
            let end = at + 1;
            let mut piece_at = at;
            while piece_at < end {
                let (n, item) = reader.read(&bytes[piece_at..end])?;
                piece_at += n;
                items.extend(item);
                if n == 0 {
                    break;
                }
            }
            at = end;
        }
        Ok(items)
    }

    #[test]
    fn reassembles_fragments_with_a_ping_between_them() {
        let mut stream = frame(false, Opcode::Text, "κό".as_bytes());
        stream.extend(frame(true, Opcode::Ping, b"p"));
        stream.extend(frame(false, Opcode::Continuation, "σ".as_bytes()));
        stream.extend(frame(true, Opcode::Continuation, "με".as_bytes()));
        stream.extend(frame(true, Opcode::Binary, b"\x00\xff"));
        stream.extend(frame(true, Opcode::Close, b"\x03\xe8"));
        assert_eq!(
            read_all(&stream, 1 << 20),
            Ok(vec![
                Incoming::Ping(b"p".to_vec()),
                Incoming::Message(Message::Text("κόσμε".into())),
                Incoming::Message(Message::Binary(vec![0, 255])),
                Incoming::Close(ClosePayload { code: 1000, reason: String::new() }),
            ])
        );
    }

    #[test]
    fn fragment_order_rules() {
        let err = |bytes: Vec<u8>| read_all(&bytes, 1 << 20).unwrap_err();
        let lone = err(frame(true, Opcode::Continuation, b"x"));
        assert_eq!(lone, Failure { code: 1002, reason: "a continuation frame with no message open" });
        let mut two = frame(false, Opcode::Text, b"a");
        two.extend(frame(true, Opcode::Text, b"b"));
        assert_eq!(err(two).reason, "a new message before the previous one was finished");
    }

    #[test]
    fn utf8_fails_in_the_fragment_that_breaks_it() {
        let mut reader = MessageReader::new(Role::Server, 1 << 20);
        let first = frame(false, Opcode::Text, b"ok\xce");
        assert_eq!(reader.read(&first), Ok((first.len(), None)), "an open character is fine for now");
        let second = frame(false, Opcode::Continuation, b"\xba\xff");
        assert_eq!(reader.read(&second).unwrap_err().code, 1007, "no final fragment needed");
        let cut = frame(true, Opcode::Text, b"\xce");
        assert_eq!(read_all(&cut, 100).unwrap_err().code, 1007, "a message may not end inside a character");
    }

    #[test]
    fn size_limit_counts_the_whole_message() {
        assert!(read_all(&frame(true, Opcode::Binary, &[0; 10]), 10).is_ok());
        assert_eq!(read_all(&frame(true, Opcode::Binary, &[0; 11]), 10).unwrap_err().code, 1009);
        let mut stream = frame(false, Opcode::Binary, &[0; 6]);
        stream.extend(frame(true, Opcode::Continuation, &[0; 5]));
        assert_eq!(read_all(&stream, 10).unwrap_err().code, 1009);
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(read_all(&frame(true, Opcode::Close, b"\x03"), 10).unwrap_err().code, 1002);
        assert_eq!(read_all(&frame(true, Opcode::Close, b"\x03\xe8\xff"), 10).unwrap_err().code, 1007);
        assert_eq!(
            read_all(&frame(true, Opcode::Close, b"\x0b\xb8"), 10),
            Ok(vec![Incoming::Close(ClosePayload { code: 3000, reason: String::new() })])
        );
    }
}
