//! The compression benchmarks of the comparison harness (`benches/harness`, suite
//! `compress`), measured the same way by the C zlib peer (Python's `zlib`,
//! `benches/peers/python/compress_bench.py`) and the `flate2` + miniz_oxide peer
//! (`benches/peers/flate2`):
//!
//! - `deflate1_C`, `deflate6_C`: MB/s of input compressed into the zlib format at level 1 / 6;
//! - `inflate_C`: MB/s of output decompressed from the corpus's `.z6` file, which C zlib wrote
//!   at level 6, so that every contender decodes the very same stream;
//! - `ratio6_C`: compressed size at level 6 over the original size (lower is better).
//!
//! `C` is each corpus file in `--corpus DIR` (`json`, `text`; the harness writes them). Only
//! the call is timed: the data is in memory before the clock starts. Each operation repeats
//! until it has run for `--seconds` (default 1) and at least three times.
//!
//! `compressbench --corpus DIR [--only m1,m2] [--seconds S]` prints one JSON line per
//! measurement.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rasgi_http::compress::{compress, decompress, Format};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let Some(corpus) = value("--corpus").map(PathBuf::from) else {
        eprintln!("usage: compressbench --corpus DIR [--only m1,m2] [--seconds S]");
        std::process::exit(2);
    };
    let only: Vec<String> = value("--only").map(|o| o.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let seconds: f64 = value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    for name in ["json", "text"] {
        let read = |file: String| {
            std::fs::read(corpus.join(&file)).unwrap_or_else(|e| {
                eprintln!("compressbench: cannot read {}: {e}", corpus.join(&file).display());
                std::process::exit(1)
            })
        };
        let data = read(name.to_owned());
        let z6 = read(format!("{name}.z6"));
        let wanted = |m: &str| only.is_empty() || only.iter().any(|o| o == m);
        for level in [1u8, 6] {
            let measure = format!("deflate{level}_{name}");
            if wanted(&measure) {
                let (ops, elapsed) =
                    repeat(budget, || std::hint::black_box(compress(Format::Zlib, level, &data)).len());
                report(&measure, mb_per_s(data.len(), ops, elapsed), "MB/s", ops, elapsed);
            }
        }
        let measure = format!("inflate_{name}");
        if wanted(&measure) {
            match decompress(Format::Zlib, &z6, u64::MAX) {
                Ok(out) if out == data => {}
                _ => {
                    eprintln!("compressbench: {name}.z6 does not decode to {name}");
                    std::process::exit(1);
                }
            }
            let (ops, elapsed) =
                repeat(budget, || decompress(Format::Zlib, &z6, u64::MAX).map(|v| v.len()).unwrap_or(0));
            report(&measure, mb_per_s(data.len(), ops, elapsed), "MB/s", ops, elapsed);
        }
        let measure = format!("ratio6_{name}");
        if wanted(&measure) {
            let size = compress(Format::Zlib, 6, &data).len();
            report(&measure, size as f64 / data.len() as f64, "ratio", 1, Duration::ZERO);
        }
    }
}

/// Runs `op` until `budget` has passed and at least three times: (runs, time).
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

fn mb_per_s(bytes: usize, runs: u64, elapsed: Duration) -> f64 {
    bytes as f64 * runs as f64 / elapsed.as_secs_f64() / 1e6
}

fn report(measure: &str, value: f64, unit: &str, ops: u64, elapsed: Duration) {
    println!(
        "{{\"bench\":\"compress\",\"impl\":\"rasgi\",\"measure\":\"{measure}\",\"value\":{value:.4},\"unit\":\"{unit}\",\"ops\":{ops},\"seconds\":{:.4}}}",
        elapsed.as_secs_f64()
    );
}
