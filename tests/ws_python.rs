//! The demo's WebSocket routes against a real client: the Python `websockets` library,
//! the one uvicorn itself uses. Echo (text stays text, bytes stay bytes), fragmented
//! messages, pings answered by the server, close codes both ways, messages of 16 MiB
//! (the default limit) and one byte more (1009), and a chat room with two members.
//! `websockets` offers permessage-deflate by default, so all of these run compressed;
//! one test also checks the negotiated parameters (down to the 8-bit window) and that
//! `compression=None` still works, and another that the limit counts the inflated size.
//!
//! `.ci/test-all` installs `websockets` (`python3 -m pip install websockets`) when it is
//! not importable.

mod server_support;

use std::process::Command;

use rasgi::app::App;
use server_support::{config, TestServer};

fn start() -> TestServer {
    TestServer::start(config(), || rasgi::chat::mount(App::new()))
}

/// Runs `script` with `URL` set to the server's `ws://` address; returns its stdout.
fn python(server: &TestServer, script: &str) -> String {
    let prelude = format!(
        "import sys\nfrom websockets.sync.client import connect\nfrom websockets.exceptions import ConnectionClosed\n\
         URL = 'ws://{}'\n",
        server.addr
    );
    let output = Command::new("python3")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .output()
        .expect("python3 runs (see .ci/test-all)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Python client failed:\n{stderr}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn echo_keeps_text_and_bytes_apart() {
    let server = start();
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo') as ws:
    ws.send('κόσμε')
    print(repr(ws.recv()))
    ws.send(b'\x00\xff')
    print(repr(ws.recv()))
"#,
    );
    assert_eq!(out, "'κόσμε'\nb'\\x00\\xff'\n");
}

#[test]
fn fragmented_messages_are_reassembled() {
    let server = start();
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo') as ws:
    ws.send(['frag', 'men', 'ted'])
    print(ws.recv())
    ws.send([b'ab', b'cd'])
    print(ws.recv())
"#,
    );
    assert_eq!(out, "fragmented\nb'abcd'\n");
}

#[test]
fn the_server_answers_pings() {
    let server = start();
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo') as ws:
    pong = ws.ping(b'are you there')
    print(pong.wait(10))
    ws.send('still echoing')
    print(ws.recv())
"#,
    );
    assert_eq!(out, "True\nstill echoing\n");
}

#[test]
fn close_codes_both_ways() {
    let server = start();
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo') as ws:
    ws.close(4001, 'done here')
    print(ws.protocol.close_rcvd.code, repr(ws.protocol.close_rcvd.reason))
with connect(URL + '/ws/chat/lobby') as ws:
    ws.recv()
    ws.send(b'binary is refused')
    try:
        while True:
            ws.recv()
    except ConnectionClosed as e:
        print(e.rcvd.code, e.rcvd.reason)
"#,
    );
    assert_eq!(out, "4001 ''\n1003 this room speaks text\n");
}

#[test]
fn sixteen_mib_pass_and_one_byte_more_is_1009() {
    let server = start();
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo', max_size=None) as ws:
    big = bytes(range(256)) * (16 * 1024 * 4)
    ws.send(big)
    print(len(big), ws.recv() == big)
    text = 'é' * (8 * 1024 * 1024)
    ws.send(text)
    print(len(text.encode()), ws.recv() == text)
    ws.send(big + b'!')
    try:
        ws.recv()
    except ConnectionClosed as e:
        print(e.rcvd.code, e.rcvd.reason)
"#,
    );
    assert_eq!(out, "16777216 True\n16777216 True\n1009 a message larger than the size limit\n");
}

#[test]
fn a_raised_limit_carries_larger_messages() {
    let config = rasgi_http::server::Config { ws_max_size: 48 * 1024 * 1024, ..config() };
    let server = TestServer::start(config, || rasgi::chat::mount(App::new()));
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo', max_size=None) as ws:
    huge = bytes(range(256)) * (40 * 1024 * 4)
    ws.send(huge)
    print(len(huge), ws.recv() == huge)
"#,
    );
    assert_eq!(out, "41943040 True\n");
}

#[test]
fn a_chat_room_fans_out() {
    let server = start();
    let out = python(
        &server,
        r#"
import json
a = connect(URL + '/ws/chat/r1')
print(json.loads(a.recv()))
b = connect(URL + '/ws/chat/r1')
print(json.loads(b.recv()))
print(json.loads(a.recv()))
other = connect(URL + '/ws/chat/r2')
other.recv()
a.send('hello room')
print(json.loads(a.recv()))
print(json.loads(b.recv()))
b.close()
print(json.loads(a.recv()))
other.send('elsewhere')
print(json.loads(other.recv()))
a.close()
other.close()
"#,
    );
    assert_eq!(
        out,
        "{'event': 'joined', 'member': 1}\n\
         {'event': 'joined', 'member': 2}\n\
         {'event': 'joined', 'member': 2}\n\
         {'member': 1, 'text': 'hello room'}\n\
         {'member': 1, 'text': 'hello room'}\n\
         {'event': 'left', 'member': 2}\n\
         {'member': 3, 'text': 'elsewhere'}\n"
    );
}

#[test]
fn permessage_deflate_is_negotiated_and_large_messages_echo() {
    let server = start();
    let out = python(
        &server,
        r#"
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
line = 'a line of text that compresses well, number '
text = ''.join(line + str(i) + '\n' for i in range(100000))
data = bytes(range(256)) * 16384
with connect(URL + '/ws/echo', max_size=None) as ws:
    print(ws.response.headers['Sec-WebSocket-Extensions'])
    print([e.name for e in ws.protocol.extensions])
    for _ in range(2):
        ws.send(text)
        print(len(text), ws.recv() == text)
    ws.send(data)
    print(len(data), ws.recv() == data)
    ws.send('short')
    print(ws.recv())
# The narrowest windows websockets allows, and no context takeover either way.
narrow = ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True,
                                        server_max_window_bits=8, client_max_window_bits=9)
with connect(URL + '/ws/echo', extensions=[narrow], compression=None, max_size=None) as ws:
    print(ws.response.headers['Sec-WebSocket-Extensions'])
    for _ in range(2):
        ws.send(text)
        print(ws.recv() == text)
with connect(URL + '/ws/echo', compression=None, max_size=None) as ws:
    print(ws.response.headers.get('Sec-WebSocket-Extensions'), ws.protocol.extensions)
    ws.send(text)
    print(ws.recv() == text)
"#,
    );
    assert_eq!(
        out,
        "permessage-deflate\n['permessage-deflate']\n\
         4988890 True\n4988890 True\n4194304 True\nshort\n\
         permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8\n\
         True\nTrue\n\
         None []\nTrue\n"
    );
}

#[test]
fn an_inflated_message_over_the_limit_is_1009() {
    let config = rasgi_http::server::Config { ws_max_size: 1 << 20, ..config() };
    let server = TestServer::start(config, || rasgi::chat::mount(App::new()));
    let out = python(
        &server,
        r#"
with connect(URL + '/ws/echo', max_size=None) as ws:
    ws.send(b'\0' * (1 << 20))
    print(len(ws.recv()))
    ws.send(b'\0' * ((1 << 20) + 1))
    try:
        ws.recv()
    except ConnectionClosed as e:
        print(e.rcvd.code, e.rcvd.reason)
"#,
    );
    assert_eq!(out, "1048576\n1009 a message larger than the size limit\n");
}
