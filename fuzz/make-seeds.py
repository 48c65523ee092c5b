#!/usr/bin/env python3
"""Regenerates fuzz/seeds/: the raw requests, responses, chunked bodies, URLs and
WebSocket extension offers that the tests send (string literals in tests/ and http/src/),
and the Postgres array texts, one file per input, named by content, plus a few typical
Postgres backend replies and WebSocket frame streams. Run from anywhere:

    python3 fuzz/make-seeds.py

libFuzzer reads fuzz/seeds/TARGET as a second corpus (see fuzz/run.sh), so every target
starts from inputs that already pass the parsers' first checks instead of from nothing.
A `{...}` placeholder of a format! string becomes `5`, which keeps lengths and ports
plausible. The response and chunked targets take a leading flags byte, added here.
"""
import glob
import hashlib
import os
import re
import struct

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
root = 'fuzz/seeds'


def unescape(s):
    out = bytearray(); i = 0
    while i < len(s):
        c = s[i]
        if c == '\\' and i + 1 < len(s):
            n = s[i+1]
            m = {'r': 13, 'n': 10, 't': 9, '0': 0, '\\': 92, '"': 34, "'": 39}
            if n in m: out.append(m[n]); i += 2; continue
            if n == 'x' and re.fullmatch(r'[0-9a-fA-F]{2}', s[i+2:i+4]):
                out.append(int(s[i+2:i+4], 16)); i += 4; continue
            if n == '\n':
                i += 2
                while i < len(s) and s[i] in ' \t\n': i += 1
                continue
        out += c.encode(); i += 1
    return bytes(out)
lit = re.compile(r'b?"((?:[^"\\]|\\.)*)"', re.S)
def save(target, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), 'wb').write(data)
reqs = set(); resps = set(); chunks = set(); urls = set()
files = glob.glob('tests/*.rs') + glob.glob('tests/*/*.rs') + glob.glob('http/src/**/*.rs', recursive=True)
for f in files:
    text = open(f).read()
    for m in lit.finditer(text):
        s = m.group(1)
        if '{' in s and '}' in s: s = re.sub(r'\{[^}]*\}', '5', s)
        b = unescape(s)
        if re.match(rb'^(\r\n)*[A-Z]+ \S+ HTTP/1\.\d\r\n', b): reqs.add(b)
        elif b.startswith(b'HTTP/1.'): resps.add(b)
        elif re.match(rb'^[0-9a-fA-F]+(;[^\r]*)?\r\n', b): chunks.add(b)
        elif re.match(rb'^https?://', b, re.I): urls.add(b)
for b in reqs:
    save('request_head', b); save('head_differential', b)
for b in resps:
    save('response_head', b'\x00' + b)
for b in chunks:
    save('chunked', b'\x03' + b)
for b in urls:
    save('url', b); save('url', b + b'\n../x?y=1#f')
# Postgres replies: tag, big-endian i32 length (itself included), body.
def msg(tag, body): return tag + struct.pack('>i', len(body) + 4) + body
pg = [
    msg(b'R', struct.pack('>i', 0)) + msg(b'S', b'server_version\x0015.4\x00') + msg(b'K', struct.pack('>ii', 42, 7)) + msg(b'Z', b'I'),
    msg(b'1', b'') + msg(b'2', b'') + msg(b'T', struct.pack('>h', 1) + b'id\x00' + struct.pack('>ihihih', 0, 0, 23, 4, -1, 1)) + msg(b'D', struct.pack('>hi', 1, 4) + struct.pack('>i', 1)) + msg(b'C', b'SELECT 1\x00') + msg(b'Z', b'I'),
    msg(b'E', b'SERROR\x00C42P01\x00Mrelation "x" does not exist\x00\x00') + msg(b'Z', b'E'),
    msg(b'A', struct.pack('>i', 9) + b'chan\x00payload\x00') + msg(b'N', b'SNOTICE\x00Mhi\x00\x00'),
    msg(b'R', struct.pack('>i', 10) + b'SCRAM-SHA-256\x00\x00') + msg(b'R', struct.pack('>i', 5) + b'salt'),
]
for b in pg: save('pg_message', b)
# WebSocket frames as a client sends them (masked), behind ws_messages' options byte:
# 0x00 server role, 0x02 with permessage-deflate, 0x80 a round-trip script.
def frame(first, payload, key=b'\xa1\xb2\xc3\xd4'):
    n = len(payload)
    head = bytes([first]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
hello = bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])  # RFC 7692 7.2.3.1
ws = [
    b'\x00' + frame(0x81, b'Hello') + frame(0x89, b'') + frame(0x88, struct.pack('>H', 1000) + b'bye'),
    b'\x00' + frame(0x01, b'Hel') + frame(0x8a, b'p') + frame(0x80, b'lo') + frame(0x82, bytes(range(200))),
    b'\x02' + frame(0xc1, hello) + frame(0x41, hello[:3]) + frame(0x89, b'') + frame(0x80, hello[3:]),
    b'\x80' + b'\x00\x02text' + b'\x1d\x01bin!' + b'\x0e\x03compressed, twelve',
    b'\x82' + b'\x02\x04' + b'a' * 16 + b'\x13\x02' + bytes(range(8)),
]
for b in ws: save('ws_messages', b)
offers = set()
for f in files:
    for m in lit.finditer(open(f).read()):
        if 'permessage-deflate' in m.group(1): offers.add(unescape(m.group(1)))
for b in offers: save('ws_handshake', b)
# Array texts as PostgreSQL writes them, behind pg_values' mode byte (0: ',' delimits).
arrays = set()
for f in glob.glob('src/pg/*.rs') + glob.glob('tests/pg*.rs'):
    for m in lit.finditer(open(f).read()):
        b = unescape(m.group(1))
        if b.startswith(b'{') and b.endswith(b'}'): arrays.add(b)
for b in arrays: save('pg_values', b'\x00' + b)
for b in [b'dGhlIHNhbXBsZSBub25jZQ==', struct.pack('>H', 1000) + b'bye', struct.pack('>H', 4000) + 'café'.encode()]:
    save('ws_handshake', b)
print(f'{len(reqs)} requests, {len(resps)} responses, {len(chunks)} chunked bodies, {len(urls)} URLs, '
      f'{len(ws)} WebSocket streams, {len(offers)} extension offers, {len(arrays)} array texts')
