//! `compressbench` for flate2 + miniz_oxide: the measurements of rasgi's
//! `src/bin/compressbench.rs`, the same corpus, the same rules (only the call is timed,
//! repeated for `--seconds` and at least three times). Prints one JSON line per measurement.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

fn compress(level: u32, data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2), Compression::new(level));
    encoder.write_all(data).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

fn decompress(data: &[u8], size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint);
    ZlibDecoder::new(data).read_to_end(&mut out).expect("a valid zlib stream");
    out
}

fn repeat(budget: Duration, mut op: impl FnMut() -> usize) -> (u64, Duration) {
    std::hint::black_box(op());
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || start.elapsed() < budget {
        std::hint::black_box(op());
        runs += 1;
    }
    (runs, start.elapsed())
}

fn report(measure: &str, value: f64, unit: &str, ops: u64, elapsed: Duration) {
    println!(
        "{{\"bench\":\"compress\",\"impl\":\"flate2\",\"measure\":\"{measure}\",\"value\":{value:.4},\"unit\":\"{unit}\",\"ops\":{ops},\"seconds\":{:.4}}}",
        elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let corpus = PathBuf::from(value("--corpus").expect("--corpus DIR"));
    let only: Vec<String> = value("--only").map(|o| o.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let budget = Duration::from_secs_f64(value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(1.0));
    for name in ["json", "text"] {
        let data = std::fs::read(corpus.join(name)).expect("corpus file");
        let z6 = std::fs::read(corpus.join(format!("{name}.z6"))).expect("corpus .z6 file");
        let wanted = |m: &str| only.is_empty() || only.iter().any(|o| o == m);
        for level in [1u32, 6] {
            let measure = format!("deflate{level}_{name}");
            if wanted(&measure) {
                let (ops, elapsed) = repeat(budget, || compress(level, &data).len());
                report(&measure, data.len() as f64 * ops as f64 / elapsed.as_secs_f64() / 1e6, "MB/s", ops, elapsed);
            }
        }
        let measure = format!("inflate_{name}");
        if wanted(&measure) {
            assert!(decompress(&z6, data.len()) == data, "{name}.z6 does not decode to {name}");
            let (ops, elapsed) = repeat(budget, || decompress(&z6, data.len()).len());
            report(&measure, data.len() as f64 * ops as f64 / elapsed.as_secs_f64() / 1e6, "MB/s", ops, elapsed);
        }
        let measure = format!("ratio6_{name}");
        if wanted(&measure) {
            report(&measure, compress(6, &data).len() as f64 / data.len() as f64, "ratio", 1, Duration::ZERO);
        }
    }
}
