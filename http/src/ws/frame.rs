//! WebSocket frames (RFC 6455 §5): the incremental decoder, a hand-written state machine,
//! and the encoder.
//!
//! ```text
//!   0               1               2               3
//!  |F|R|R|R| opcode|M| len (7 bits)| extended length (0, 2 or 8 bytes) ...
//!  |I|S|S|S|  (4)  |A|             | masking key (0 or 4 bytes) | payload ...
//!  |N|V|V|V|       |S|             |
//!  | |1|2|3|       |K|             |
//! ```
//!
//! The decoder never needs a whole frame in memory: it takes whatever bytes the socket
//! gave, advances as far as they allow, and says how many it consumed. Payload bytes are
//! unmasked straight into the caller's buffer as they arrive, so a 16 MiB message passes
//! through the server's 80 KiB read buffer without the buffer ever growing. (Waiting for
//! the whole frame, as a check-then-parse codec does for HTTP heads, would make the read
//! buffer as large as the largest frame.) `websockets`' `Frame.parse` is the Python
//! counterpart, written as a generator that yields until enough bytes are in.
//!
//! Every rule that concerns one frame alone is checked here, as early as the bytes allow:
//! reserved bits, unknown opcodes, the mask, control frames over 125 bytes or fragmented,
//! and 64-bit lengths with the top bit set. Rules across frames (fragment order, size
//! limit, UTF-8) belong to `message.rs`.

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: the next fragment of a message.
    Continuation,
    /// 0x1: the first fragment of a text message.
    Text,
    /// 0x2: the first fragment of a binary message.
    Binary,
    /// 0x8: the close handshake.
    Close,
    /// 0x9: a ping, to be answered by a pong with the same payload.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented, allowed between the
    /// fragments of a message.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// This is the last fragment of its message.
    pub fin: bool,
    /// RSV1 (set by permessage-deflate on a compressed message's first frame); always
    /// false while no extension is negotiated, since the decoder refuses it otherwise.
    pub rsv1: bool,
    /// The frame's opcode.
    pub opcode: Opcode,
    /// Payload length in bytes; at most 125 for control frames.
    pub len: u64,
}

/// Which side of the connection decodes: a server requires masked frames (RFC 6455
/// §5.1: a client masks every frame), a client requires unmasked ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Decoding what a client sent.
    Server,
    /// Decoding what a server sent.
    Client,
}

/// A frame that breaks the protocol; the connection fails with 1002.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

/// What one call to [`FrameDecoder::decode`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A header is complete; payload bytes follow (unless its length is 0, in which case
    /// the next call reports [`Decoded::FrameEnd`] at once).
    Header(FrameHeader),
    /// This many payload bytes were unmasked and appended to the sink.
    Payload(usize),
    /// The current frame's payload is complete.
    FrameEnd,
    /// Every input byte was consumed; call again with more.
    NeedMore,
}

/// Where the decoder stands inside the current frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a frame: the two fixed bytes (FIN, RSV, opcode; MASK, 7-bit length) are
    /// next. `have` of them are already stored in `fixed` (a read may split them).
    Fixed { have: usize },
    /// The 7-bit length said 126 (2 bytes follow) or 127 (8 bytes follow); `have` of
    /// `need` are accumulated into `len`, big-endian.
    ExtendedLength { need: usize, have: usize },
    /// The 4-byte masking key; `have` bytes of it are in `mask`.
    MaskKey { have: usize },
    /// Payload bytes, `remaining` still to come; `offset` is the position in the frame
    /// modulo 4, which picks the mask byte for the next payload byte.
    Payload { remaining: u64, offset: usize },
    /// The payload is complete (or was empty): the frame's end is reported next.
    Empty,
}

/// The incremental frame decoder.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    /// Whether frames must be masked (server) or unmasked (client).
    role: Role,
    /// Whether RSV1 is allowed: only once an extension that defines it (permessage-
    /// deflate) is negotiated. The one place that decision lives.
    allow_rsv1: bool,
    /// Position within the current frame.
    state: State,
    /// The two fixed header bytes of the current frame, valid once `Fixed` is done.
    fixed: [u8; 2],
    /// The current frame's payload length, valid from `ExtendedLength` on.
    len: u64,
    /// The current frame's masking key, valid from `Payload` on (zeros when unmasked,
    /// which makes unmasking a no-op).
    mask: [u8; 4],
}

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub fn new(role: Role) -> FrameDecoder {
        FrameDecoder { role, allow_rsv1: false, state: State::Fixed { have: 0 }, fixed: [0; 2], len: 0, mask: [0; 4] }
    }

    /// Allows RSV1, for a connection that negotiated permessage-deflate.
    pub fn allow_rsv1(&mut self, allow: bool) {
        self.allow_rsv1 = allow;
    }

    /// True between frames (no partial frame is buffered in the state).
    pub fn is_between_frames(&self) -> bool {
        self.state == State::Fixed { have: 0 }
    }

    /// Advances over `input`, appending unmasked payload bytes to `sink`. Returns how
    /// many input bytes were consumed and what happened; call again with the rest.
    pub fn decode(&mut self, input: &[u8], sink: &mut Vec<u8>) -> Result<(usize, Decoded), FrameError> {
        let mut used = 0;
        loop {
            match self.state {
                State::Fixed { have } => {
                    let Some(&byte) = input.get(used) else { return Ok((used, Decoded::NeedMore)) };
                    used += 1;
                    self.fixed[have] = byte;
                    if have == 0 {
                        // The first byte alone already tells reserved bits, the opcode,
                        // and FIN on a control frame: fail before reading further.
                        self.check_first_byte(byte)?;
                        self.state = State::Fixed { have: 1 };
                        continue;
                    }
                    let masked = byte & 0x80 != 0;
                    match (self.role, masked) {
                        (Role::Server, false) => return Err(FrameError("a client frame that is not masked")),
                        (Role::Client, true) => return Err(FrameError("a server frame that is masked")),
                        _ => {}
                    }
                    let len7 = byte & 0x7F;
                    if self.opcode().is_control() && len7 > 125 {
                        return Err(FrameError("a control frame longer than 125 bytes"));
                    }
                    self.len = u64::from(len7);
                    match len7 {
                        126 => self.state = State::ExtendedLength { need: 2, have: 0 },
                        127 => self.state = State::ExtendedLength { need: 8, have: 0 },
                        _ => {
                            if let Some(header) = self.after_length() {
                                return Ok((used, header));
                            }
                        }
                    }
                }
                State::ExtendedLength { need, have } => {
                    let Some(&byte) = input.get(used) else { return Ok((used, Decoded::NeedMore)) };
                    used += 1;
                    // The top bit of a 64-bit length is its first byte's top bit.
                    if need == 8 && have == 0 && byte & 0x80 != 0 {
                        return Err(FrameError("a 64-bit frame length with its top bit set"));
                    }
                    self.len = if have == 0 { u64::from(byte) } else { self.len << 8 | u64::from(byte) };
                    if have + 1 < need {
                        self.state = State::ExtendedLength { need, have: have + 1 };
                        continue;
                    }
                    if let Some(header) = self.after_length() {
                        return Ok((used, header));
                    }
                }
                State::MaskKey { have } => {
                    let Some(&byte) = input.get(used) else { return Ok((used, Decoded::NeedMore)) };
                    used += 1;
                    self.mask[have] = byte;
                    if have < 3 {
                        self.state = State::MaskKey { have: have + 1 };
                        continue;
                    }
                    return Ok((used, self.header_done()));
                }
                State::Payload { remaining, offset } => {
                    let available = &input[used..];
                    if available.is_empty() {
                        return Ok((used, Decoded::NeedMore));
                    }
                    let n = remaining.min(available.len() as u64) as usize;
                    let start = sink.len();
                    sink.extend_from_slice(&available[..n]);
                    unmask(&mut sink[start..], self.mask, offset);
                    used += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Empty
                    } else {
                        State::Payload { remaining, offset: (offset + n) % 4 }
                    };
                    return Ok((used, Decoded::Payload(n)));
                }
                State::Empty => {
                    self.state = State::Fixed { have: 0 };
                    return Ok((used, Decoded::FrameEnd));
                }
            }
        }
    }

    fn opcode(&self) -> Opcode {
        // `check_first_byte` accepted these bits, so the fallback is never taken.
        Opcode::from_bits(self.fixed[0] & 0x0F).unwrap_or(Opcode::Close)
    }

    /// The checks the first byte allows.
    fn check_first_byte(&self, byte: u8) -> Result<(), FrameError> {
        let rsv = byte & 0x70;
        if rsv & 0x30 != 0 || (rsv & 0x40 != 0 && !self.allow_rsv1) {
            return Err(FrameError("reserved bits set without an extension that defines them"));
        }
        let opcode = Opcode::from_bits(byte & 0x0F).ok_or(FrameError("an unknown opcode"))?;
        if opcode.is_control() && byte & 0x80 == 0 {
            return Err(FrameError("a fragmented control frame"));
        }
        if opcode.is_control() && rsv != 0 {
            return Err(FrameError("reserved bits set on a control frame"));
        }
        // RSV1 marks a whole message as compressed (RFC 7692 §6), so only its first frame
        // carries it.
        if opcode == Opcode::Continuation && rsv != 0 {
            return Err(FrameError("RSV1 set on a continuation frame"));
        }
        Ok(())
    }

    /// After the length: the masking key if the frame has one, else the header is done
    /// (and returned).
    fn after_length(&mut self) -> Option<Decoded> {
        if self.fixed[1] & 0x80 != 0 {
            self.state = State::MaskKey { have: 0 };
            None
        } else {
            self.mask = [0; 4];
            Some(self.header_done())
        }
    }

    /// Reports the finished header and moves to its payload.
    fn header_done(&mut self) -> Decoded {
        self.state = if self.len == 0 { State::Empty } else { State::Payload { remaining: self.len, offset: 0 } };
        Decoded::Header(FrameHeader {
            fin: self.fixed[0] & 0x80 != 0,
            rsv1: self.fixed[0] & 0x40 != 0,
            opcode: self.opcode(),
            len: self.len,
        })
    }
}

/// Unmasking is XOR with the key, cycling from `offset`; masking is the same operation.
fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    if mask == [0; 4] {
        return;
    }
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[(offset + i) % 4];
    }
}

/// Appends a frame header: FIN, the opcode, the shortest length form, and the mask flag
/// and key when `mask` is given (clients mask, servers never do).
pub fn encode_header(out: &mut Vec<u8>, fin: bool, opcode: Opcode, len: u64, mask: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole unmasked frame with FIN and RSV1 set: a permessage-deflate message
/// whose `payload` is already compressed.
pub fn encode_compressed_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    let start = out.len();
    encode_frame(out, opcode, payload, None);
    out[start] |= 0x40;
}

/// Appends a whole frame with FIN set: the header, then the payload (masked with `mask`
/// when given).
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    encode_header(out, true, opcode, payload.len() as u64, mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        unmask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the events and the sink.
    fn decode_in_steps(role: Role, input: &[u8], step: usize) -> Result<(Vec<Decoded>, Vec<u8>), FrameError> {
        let mut decoder = FrameDecoder::new(role);
        let mut events = Vec::new();
        let mut sink = Vec::new();
        for piece in input.chunks(step) {
            let mut at = 0;
            loop {
                let (used, event) = decoder.decode(&piece[at..], &mut sink)?;
                at += used;
                match event {
                    Decoded::NeedMore => break,
                    // Payload runs depend on how the input was cut; add them up.
                    Decoded::Payload(n) => match events.last_mut() {
                        Some(Decoded::Payload(total)) => *total += n,
                        _ => events.push(Decoded::Payload(n)),
                    },
                    e => events.push(e),
                }
            }
        }
        Ok((events, sink))
    }

    /// RFC 6455 §5.7's examples, decoded whole and one byte at a time.
    #[test]
    fn rfc6455_examples() {
        let hello = FrameHeader { fin: true, rsv1: false, opcode: Opcode::Text, len: 5 };
        for step in [1, 2, 3, 64] {
            let unmasked = decode_in_steps(Role::Client, b"\x81\x05\x48\x65\x6c\x6c\x6f", step).unwrap();
            assert_eq!(
                unmasked,
                (vec![Decoded::Header(hello), Decoded::Payload(5), Decoded::FrameEnd], b"Hello".to_vec())
            );
            let masked = decode_in_steps(Role::Server, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", step).unwrap();
            assert_eq!(masked.1, b"Hello");
        }
        let first = decode_in_steps(Role::Client, b"\x01\x03Hel\x80\x02lo", 1).unwrap();
        assert_eq!(first.1, b"Hello");
        assert_eq!(first.0[0], Decoded::Header(FrameHeader { fin: false, rsv1: false, opcode: Opcode::Text, len: 3 }));
        assert_eq!(
            first.0[3],
            Decoded::Header(FrameHeader { fin: true, rsv1: false, opcode: Opcode::Continuation, len: 2 })
        );
    }

    #[test]
    fn extended_lengths() {
        let mut frame = vec![0x82, 0x7E, 0x01, 0x00];
        frame.extend(std::iter::repeat_n(7u8, 256));
        let (events, sink) = decode_in_steps(Role::Client, &frame, 5).unwrap();
        assert_eq!(
            events[0],
            Decoded::Header(FrameHeader { fin: true, rsv1: false, opcode: Opcode::Binary, len: 256 })
        );
        assert_eq!(sink.len(), 256);
        let mut big = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
        big.extend(std::iter::repeat_n(1u8, 65536));
        let (events, sink) = decode_in_steps(Role::Client, &big, 4096).unwrap();
        assert_eq!(
            events[0],
            Decoded::Header(FrameHeader { fin: true, rsv1: false, opcode: Opcode::Binary, len: 65536 })
        );
        assert_eq!(sink.len(), 65536);
        let empty_ping = decode_in_steps(Role::Server, b"\x89\x80\x01\x02\x03\x04", 1).unwrap();
        let ping = FrameHeader { fin: true, rsv1: false, opcode: Opcode::Ping, len: 0 };
        assert_eq!(empty_ping.0, vec![Decoded::Header(ping), Decoded::FrameEnd]);
    }

    #[test]
    fn protocol_violations_fail_at_the_first_telling_byte() {
        let fail = |bytes: &[u8]| decode_in_steps(Role::Server, bytes, 1).unwrap_err().0;
        assert_eq!(fail(b"\x81\x05Hello"), "a client frame that is not masked");
        assert_eq!(fail(b"\xC1"), "reserved bits set without an extension that defines them");
        assert_eq!(fail(b"\xA1"), "reserved bits set without an extension that defines them");
        assert_eq!(fail(b"\x83"), "an unknown opcode");
        assert_eq!(fail(b"\x8B"), "an unknown opcode");
        assert_eq!(fail(b"\x09"), "a fragmented control frame");
        assert_eq!(fail(b"\x89\xFE"), "a control frame longer than 125 bytes");
        assert_eq!(fail(b"\x82\xFF\x80"), "a 64-bit frame length with its top bit set");
        let client = decode_in_steps(Role::Client, b"\x81\x80", 1).unwrap_err().0;
        assert_eq!(client, "a server frame that is masked");
        let mut with_rsv1 = FrameDecoder::new(Role::Server);
        with_rsv1.allow_rsv1(true);
        let (_, event) = with_rsv1.decode(b"\xC1\x80\0\0\0\0", &mut Vec::new()).unwrap();
        assert_eq!(event, Decoded::Header(FrameHeader { fin: true, rsv1: true, opcode: Opcode::Text, len: 0 }));
        let deflating = |bytes: &[u8]| {
            let mut decoder = FrameDecoder::new(Role::Server);
            decoder.allow_rsv1(true);
            decoder.decode(bytes, &mut Vec::new()).unwrap_err().0
        };
        assert_eq!(deflating(b"\xC0"), "RSV1 set on a continuation frame");
        assert_eq!(deflating(b"\xC9"), "reserved bits set on a control frame");
        assert_eq!(deflating(b"\xE1"), "reserved bits set without an extension that defines them");
    }

    #[test]
    fn encodes_byte_exact_frames() {
        let mut out = Vec::new();
        encode_frame(&mut out, Opcode::Text, b"Hello", None);
        assert_eq!(out, b"\x81\x05Hello");
        out.clear();
        encode_frame(&mut out, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        out.clear();
        encode_header(&mut out, true, Opcode::Binary, 256, None);
        assert_eq!(out, b"\x82\x7E\x01\x00");
        out.clear();
        encode_header(&mut out, false, Opcode::Binary, 65536, None);
        assert_eq!(out, b"\x02\x7F\0\0\0\0\0\x01\0\0");
        out.clear();
        encode_frame(&mut out, Opcode::Close, b"\x03\xe8", None);
        assert_eq!(out, b"\x88\x02\x03\xe8");
        out.clear();
        encode_compressed_frame(&mut out, Opcode::Text, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(out, b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00");
    }
}
