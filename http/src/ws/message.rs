//! From frames to messages: reassembly of fragments, the size limit (1009), UTF-8 of
//! text as it arrives (1007), and control frames interleaved between fragments.
//!
//! [`MessageReader`] owns a [`FrameDecoder`] and turns the byte stream into
//! [`Incoming`] items. It is the counterpart of the part of `websockets`' `Protocol`
//! that `receive_data` drives; uvicorn's `--ws-max-size` is its `max_size`.
//!
//! With permessage-deflate agreed ([`MessageReader::enable_deflate`]), a message whose
//! first frame has RSV1 is inflated as its payload arrives, and the size limit and UTF-8
//! apply to the inflated bytes.

use super::close::{self, ClosePayload};
use super::deflate::{InflateError, MessageInflater};
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
    /// The decompressor, once permessage-deflate is agreed; `None` means RSV1 is refused.
    inflater: Option<MessageInflater>,
    /// The open data message is compressed (its first frame had RSV1).
    compressed: bool,
    /// Compressed payload just unmasked, not yet inflated; empty between decoder calls,
    /// so it never holds more than one read's worth.
    packed: Vec<u8>,
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
            inflater: None,
            compressed: false,
            packed: Vec::new(),
        }
    }

    /// Turns on permessage-deflate: from now on RSV1 marks a compressed message.
    pub fn enable_deflate(&mut self, inflater: MessageInflater) {
        self.decoder.allow_rsv1(true);
        self.inflater = Some(inflater);
    }

    /// Consumes bytes from `input` until one item is complete or the input runs out.
    /// Returns how many bytes were consumed and the item, if one completed.
    pub fn read(&mut self, input: &[u8]) -> Result<(usize, Option<Incoming>), Failure> {
        let mut used = 0;
        loop {
            let before = self.data.len();
            let sink = match self.frame {
                Some(h) if h.opcode.is_control() => &mut self.control,
                _ if self.compressed => &mut self.packed,
                _ => &mut self.data,
            };
            let (n, decoded) = self
                .decoder
                .decode(&input[used..], sink)
                .map_err(|e| Failure { code: close::PROTOCOL_ERROR, reason: e.0 })?;
            used += n;
            match decoded {
                Decoded::NeedMore => return Ok((used, None)),
                Decoded::Header(header) => self.on_header(header)?,
                Decoded::Payload(_) => {
                    let control = self.frame.is_some_and(|h| h.opcode.is_control());
                    if self.compressed && !control {
                        let packed = std::mem::take(&mut self.packed);
                        let inflated = self.inflate(|inflater, out| inflater.inflate(&packed, out));
                        self.packed = packed;
                        self.packed.clear();
                        inflated?;
                    } else if !control {
                        self.check_text(before)?;
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
        if matches!(header.opcode, Opcode::Text | Opcode::Binary) {
            self.compressed = header.rsv1;
            if let (true, Some(inflater)) = (header.rsv1, self.inflater.as_mut()) {
                inflater.begin(self.max_size);
            }
        }
        // A compressed frame's length says nothing about the message's size: the
        // decompressor's own limit counts the inflated bytes instead.
        if !header.opcode.is_control() && !self.compressed && self.data.len() as u64 + header.len > self.max_size {
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
        if std::mem::replace(&mut self.compressed, false) {
            self.inflate(|inflater, out| inflater.finish(out))?;
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

impl MessageReader {
    /// Checks the open text message's bytes from `from` on as UTF-8 (nothing for a binary
    /// message).
    fn check_text(&mut self, from: usize) -> Result<(), Failure> {
        if matches!(self.partial, Partial::Text) {
            self.utf8
                .feed(&self.data[from..])
                .map_err(|_| Failure { code: close::INVALID_PAYLOAD, reason: "a text message that is not UTF-8" })?;
        }
        Ok(())
    }

    /// Runs one decompression step into `data` and checks what it appended; an error
    /// becomes the failure the connection ends with.
    ///
    /// The inflater hands out what it decoded before a fault (up to the size limit), so
    /// the UTF-8 of that output is checked before the inflater's own error is reported:
    /// of two faults, the one earlier in the message wins, however TCP cut the frames.
    fn inflate(
        &mut self,
        step: impl FnOnce(&mut MessageInflater, &mut Vec<u8>) -> Result<(), InflateError>,
    ) -> Result<(), Failure> {
        let inflater = self.inflater.as_mut().ok_or(Failure {
            code: close::PROTOCOL_ERROR,
            reason: "a compressed message without permessage-deflate",
        })?;
        let before = self.data.len();
        let stepped = step(inflater, &mut self.data);
        self.check_text(before)?;
        stepped.map_err(|e| match e {
            InflateError::TooBig => {
                Failure { code: close::MESSAGE_TOO_BIG, reason: "a message larger than the size limit" }
            }
            // 1007, not 1002: the frames were well formed, it is the message's content that
            // is not what its RSV1 said it was, the same class of fault as a text message
            // that is not UTF-8 (RFC 6455 §7.4.1). RFC 7692 names no code of its own.
            InflateError::Corrupt(_) => {
                Failure { code: close::INVALID_PAYLOAD, reason: "compressed data that does not inflate" }
            }
        })
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
        read_all_with(MessageReader::new(Role::Server, max), bytes)
    }

    fn read_all_with(mut reader: MessageReader, bytes: &[u8]) -> Result<Vec<Incoming>, Failure> {
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

    /// The whole stream in one buffer, the way a large read delivers it.
    fn read_whole(mut reader: MessageReader, bytes: &[u8]) -> Result<Vec<Incoming>, Failure> {
        let mut items = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (n, item) = reader.read(&bytes[at..])?;
            at += n;
            items.extend(item);
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

    fn deflating(max: u64) -> MessageReader {
        let mut reader = MessageReader::new(Role::Server, max);
        let agreed = crate::ws::deflate::negotiate([b"permessage-deflate".as_slice()]);
        reader.enable_deflate(agreed.map(|a| a.inflater()).unwrap());
        reader
    }

    /// RFC 7692 §7.2.3.1: "Hello" compressed, whole and in two fragments with a ping
    /// between them, then an uncompressed message on the same connection.
    #[test]
    fn compressed_messages_inflate_fragment_by_fragment() {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut stream = frame(true, Opcode::Text, &hello);
        stream[0] |= 0x40;
        let mut first = frame(false, Opcode::Text, &hello[..3]);
        first[0] |= 0x40;
        stream.extend(first);
        stream.extend(frame(true, Opcode::Ping, b""));
        stream.extend(frame(true, Opcode::Continuation, &hello[3..]));
        stream.extend(frame(true, Opcode::Binary, b"plain"));
        assert_eq!(
            read_all_with(deflating(5), &stream),
            Ok(vec![
                Incoming::Message(Message::Text("Hello".into())),
                Incoming::Ping(Vec::new()),
                Incoming::Message(Message::Text("Hello".into())),
                Incoming::Message(Message::Binary(b"plain".to_vec())),
            ])
        );
        let too_big = read_all_with(deflating(4), &stream).unwrap_err();
        assert_eq!(too_big, Failure { code: 1009, reason: "a message larger than the size limit" });
        let mut corrupt = frame(true, Opcode::Binary, &[0xff, 0xff]);
        corrupt[0] |= 0x40;
        let err = read_all_with(deflating(100), &corrupt).unwrap_err();
        assert_eq!(err, Failure { code: 1007, reason: "compressed data that does not inflate" });
        // A text message whose inflated bytes are not UTF-8 ("\xff" as a stored block).
        let mut latin1 = frame(true, Opcode::Text, &[0x00, 0x01, 0x00, 0xfe, 0xff, 0xff]);
        latin1[0] |= 0x40;
        let err = read_all_with(deflating(100), &latin1).unwrap_err();
        assert_eq!(err, Failure { code: 1007, reason: "a text message that is not UTF-8" });
    }

    /// A compressed text frame of a deflate stream: a stored block holding `content`,
    /// then a block header of the reserved type 3, which no decoder accepts.
    fn stored_then_corrupt(content: &[u8]) -> Vec<u8> {
        let len = content.len() as u16;
        let mut deflate = vec![0x00];
        deflate.extend_from_slice(&len.to_le_bytes());
        deflate.extend_from_slice(&(!len).to_le_bytes());
        deflate.extend_from_slice(content);
        deflate.push(0x07);
        let mut out = frame(true, Opcode::Text, &deflate);
        out[0] |= 0x40;
        out
    }

    /// Of two faults in one message, the one earlier in the message is reported, whether
    /// the frame arrives in one read or byte by byte (a fuzzer found the whole read
    /// reporting the corruption and the byte-wise one the size limit).
    #[test]
    fn the_earlier_of_two_faults_wins_however_the_frames_are_cut() {
        let too_big = Failure { code: 1009, reason: "a message larger than the size limit" };
        let not_utf8 = Failure { code: 1007, reason: "a text message that is not UTF-8" };
        let corrupt = Failure { code: 1007, reason: "compressed data that does not inflate" };
        let cases: [(&[u8], Failure); 4] = [
            // 20 bytes inflate before the corrupt header; the limit is 10.
            (b"aaaaaaaaaaaaaaaaaaaa", too_big),
            // Not UTF-8 at byte 1, before the limit is reached.
            (b"a\xffaaaaaaaaaaaaaaaaaa", not_utf8),
            // Within the limit and UTF-8: the corruption is the first fault.
            (b"aaaaa", corrupt),
            // Not UTF-8 only at byte 12, past the limit.
            (b"aaaaaaaaaaaa\xff", too_big),
        ];
        for (content, failure) in cases {
            let stream = stored_then_corrupt(content);
            assert_eq!(read_whole(deflating(10), &stream), Err(failure), "whole, {content:?}");
            assert_eq!(read_all_with(deflating(10), &stream), Err(failure), "byte by byte, {content:?}");
        }
    }
}
