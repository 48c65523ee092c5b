//! A raw WebSocket client for the `ws_*` tests: the handshake written by hand, masked
//! client frames with a fixed key (so the bytes on the wire are predictable), and exact
//! reads of what the server answers. Blocking std sockets with a read timeout, so a server
//! that hangs fails the test instead of hanging the suite.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::server_support::IO_TIMEOUT;

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPTED: &str = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                        sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

pub fn upgrade(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A masked client frame (the mask is fixed, so the bytes on the wire are predictable).
pub fn frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first_byte];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A raw socket that has finished the handshake.
pub struct Ws {
    /// The connection.
    pub stream: TcpStream,
}

impl Ws {
    pub fn open(addr: SocketAddr, path: &str) -> Ws {
        let (ws, head) = Ws::handshake(addr, &upgrade(path, ""));
        assert_eq!(head, ACCEPTED);
        ws
    }

    /// Sends `request` and reads the response head (up to the blank line).
    pub fn handshake(addr: SocketAddr, request: &str) -> (Ws, String) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut ws = Ws { stream };
        ws.send(request.as_bytes());
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(ws.byte().expect("the response head"));
        }
        (ws, String::from_utf8(head).expect("an ASCII head"))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn byte(&mut self) -> Option<u8> {
        let mut b = [0u8];
        match self.stream.read(&mut b) {
            Ok(1) => Some(b[0]),
            _ => None,
        }
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0u8; expected.len()];
        self.stream.read_exact(&mut got).expect("the expected bytes");
        assert_eq!(got, expected, "got {:?}", String::from_utf8_lossy(&got));
    }

    /// Asserts the server closes the TCP connection with nothing more to say.
    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "expected end of stream, got {rest:?}");
    }

    /// Sends `bytes` and expects the server to fail the connection with `code` and
    /// `reason`, then close TCP.
    pub fn expect_failure(&mut self, bytes: &[u8], code: u16, reason: &str) {
        self.send(bytes);
        let mut close = vec![0x88, 2 + reason.len() as u8];
        close.extend_from_slice(&code.to_be_bytes());
        close.extend_from_slice(reason.as_bytes());
        self.expect(&close);
        self.expect_eof();
    }

    /// Reads one unmasked server frame: its first byte (FIN and opcode) and its payload.
    pub fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).expect("a frame header");
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7F {
            126 => {
                let mut n = [0u8; 2];
                self.stream.read_exact(&mut n).expect("a 16-bit length");
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                self.stream.read_exact(&mut n).expect("a 64-bit length");
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload).expect("the payload");
        (head[0], payload)
    }

    /// Reads one text frame and returns its text.
    pub fn read_text(&mut self) -> String {
        let (first, payload) = self.read_frame();
        assert_eq!(first, 0x81, "expected a whole text frame, got {first:#x} {payload:?}");
        String::from_utf8(payload).expect("UTF-8")
    }

    /// Everything until the server closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
        rest
    }
}
