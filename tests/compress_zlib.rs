//! rasgi's codec against the reference implementation: C zlib, through Python's `zlib`.
//!
//! Both directions, every container (raw DEFLATE, zlib, gzip), levels 0, 1, 6 and 9, and the
//! shapes that exercise different paths of the coder: nothing, one byte, prose, JSON, random
//! bytes (stored blocks), a long run (overlapping matches), and 16 MiB of mixed data (many
//! blocks, the window sliding, the output handed out in pieces; gzip only, and encoded by
//! rasgi at levels 1 and 6 only, to keep the test quick in a debug build). Python decodes strictly: the stream must end (`eof`) with no bytes
//! left over.

use std::path::Path;
use std::process::Command;

use rasgi_http::compress::{compress, decompress, Decoder, Format};

const LEVELS: [u8; 4] = [0, 1, 6, 9];

/// Python side: `encode DIR` writes `py-NAME-LEVEL.{raw,zlib,gz}` for every `in-NAME`;
/// `check DIR` decodes every `rs-NAME-LEVEL.EXT` and prints one line per file.
const PEER: &str = r#"
import os, sys, zlib
mode, d = sys.argv[1], sys.argv[2]
wbits = {"raw": -15, "zlib": 15, "gz": 31}
inputs = {f[3:]: open(os.path.join(d, f), "rb").read() for f in os.listdir(d) if f.startswith("in-")}
if mode == "encode":
    for name, data in inputs.items():
        for level in (0, 1, 6, 9):
            for ext, w in wbits.items():
                if name == "16mib" and ext != "gz":
                    continue
                c = zlib.compressobj(level, zlib.DEFLATED, w)
                open(os.path.join(d, f"py-{name}-{level}.{ext}"), "wb").write(c.compress(data) + c.flush())
else:
    for f in sorted(os.listdir(d)):
        if not f.startswith("rs-"):
            continue
        name, level_ext = f[3:].rsplit("-", 1)
        ext = level_ext.split(".")[1]
        o = zlib.decompressobj(wbits[ext])
        try:
            out = o.decompress(open(os.path.join(d, f), "rb").read())
            verdict = "ok" if out == inputs[name] and o.eof and not o.unused_data else "MISMATCH"
        except zlib.error as e:
            verdict = "ERROR " + str(e)
        print(f, verdict)
"#;

fn python(mode: &str, dir: &Path) -> String {
    let output = Command::new("python3")
        .args(["-c", PEER, mode, &dir.display().to_string()])
        .output()
        .expect("python3 is needed (installed by .ci/test-all)");
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A deterministic xorshift stream.
fn random_bytes(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn text() -> Vec<u8> {
    let words = ["event", "loop", "waker", "socket", "ready", "the", "a", "of", "task", "poll", "future", "and"];
    let mut out = Vec::new();
    let r = random_bytes(20_000, 7);
    for (i, b) in r.iter().enumerate() {
        out.extend_from_slice(words[*b as usize % words.len()].as_bytes());
        out.push(if i % 17 == 16 { b'\n' } else { b' ' });
    }
    out
}

fn json() -> Vec<u8> {
    let rows: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                r#"{{"id":{i},"randomNumber":{},"message":"Hello, World!","ok":{}}}"#,
                (i * 7919) % 10000,
                i % 3 == 0
            )
        })
        .collect();
    format!("[{}]", rows.join(",")).into_bytes()
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = Vec::with_capacity(16 << 20);
    let (t, j, r) = (text(), json(), random_bytes(1 << 20, 99));
    while big.len() < 16 << 20 {
        big.extend_from_slice(&t);
        big.extend_from_slice(&j);
        big.extend_from_slice(&r[..(big.len() / 7) % r.len()]);
    }
    big.truncate(16 << 20);
    vec![
        ("empty", Vec::new()),
        ("one", b"x".to_vec()),
        ("text", text()),
        ("json", json()),
        ("random", random_bytes(300_000, 1)),
        ("repetitive", b"ab".repeat(200_000)),
        ("16mib", big),
    ]
}

/// The containers tried for an input: all three, or gzip alone for the big one.
fn exts(name: &str) -> &'static [&'static str] {
    if name == "16mib" {
        &["gz"]
    } else {
        &["raw", "zlib", "gz"]
    }
}

fn format_of(ext: &str) -> Format {
    match ext {
        "raw" => Format::Raw,
        "zlib" => Format::Zlib,
        _ => Format::Gzip,
    }
}

#[test]
fn zlib_and_rasgi_decode_each_other() {
    let dir = std::env::temp_dir().join(format!("rasgi-compress-zlib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inputs = inputs();
    for (name, data) in &inputs {
        std::fs::write(dir.join(format!("in-{name}")), data).unwrap();
    }

    // C zlib encodes; rasgi decodes, whole and in 1000-byte pieces.
    python("encode", &dir);
    for (name, data) in &inputs {
        for level in LEVELS {
            for &ext in exts(name) {
                let packed = std::fs::read(dir.join(format!("py-{name}-{level}.{ext}"))).unwrap();
                let format = format_of(ext);
                let out = decompress(format, &packed, u64::MAX)
                    .unwrap_or_else(|e| panic!("rasgi failed on zlib's {name} level {level} {ext}: {e}"));
                assert!(out == *data, "rasgi decoded zlib's {name} level {level} {ext} wrongly");
                if data.len() > 1 << 20 {
                    continue;
                }
                let mut decoder = Decoder::new(format, u64::MAX);
                let mut pieces = Vec::new();
                for piece in packed.chunks(1000) {
                    decoder.decode(piece, &mut pieces).unwrap();
                }
                decoder.finish().unwrap();
                assert!(pieces == *data, "{name} level {level} {ext} in pieces");
            }
        }
    }

    // rasgi encodes; C zlib decodes.
    let mut expected = Vec::new();
    for (name, data) in &inputs {
        // 16 MiB at level 9 takes most of a minute in a debug build; 0 is a plain copy.
        let levels: &[u8] = if name == &"16mib" { &[1, 6] } else { &LEVELS };
        for &level in levels {
            for &ext in exts(name) {
                let file = format!("rs-{name}-{level}.{ext}");
                std::fs::write(dir.join(&file), compress(format_of(ext), level, data)).unwrap();
                expected.push(format!("{file} ok"));
            }
        }
    }
    expected.sort();
    let report = python("check", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report.lines().collect::<Vec<_>>(), expected);
}
