//! `httpsbench`: rasgi's side of the HTTPS client benchmark (`benches/harness`, suite
//! `https`): keep-alive GETs per second with `rasgi_http::client`, measured exactly like
//! its peers `benches/peers/hyper/src/bin/httpsbench.rs` (hyper + hyper-rustls) and
//! `benches/peers/python/https_bench.py` (httpx).
//!
//! `--concurrency C` tasks share one [`Client`] (and so its connection pool) on one event
//! loop; each sends a GET, reads the whole body, and sends the next, until the time is up.
//! The client trusts `--cacert` (and verifies the server's certificate and name as always),
//! so a run also proves the chain verifies.
//!
//! Prints one JSON line, in the format the harness shares with the peers:
//! `{"bench":"https","impl":"rasgi","measure":"gets_c1","value":...,"unit":"req/s","ops":N,"seconds":S,"concurrency":1}`.
//!
//! Usage: `httpsbench --url https://127.0.0.1:PORT/ --cacert ca.pem [--duration S | --seconds S]
//! [--concurrency C] [--requests N]` (the URL may also be given without `--url`).
//!
//! `--requests N` replaces the clock with a count: the loops share N GETs between them and
//! stop when all are done. That is the mode for counting work per GET (callgrind's
//! instructions, strace's system calls), which must not depend on how fast the machine is:
//! (count(N₂) − count(N₁)) / (N₂ − N₁) leaves out start-up and the TLS handshakes.

use std::cell::Cell;
use std::process::exit;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi_executor::{block_on, join_all, spawn};
use rasgi_http::client::{Client, Error};

fn fail(message: &str) -> ! {
    eprintln!("httpsbench: {message}");
    exit(2)
}

/// The command line.
struct Flags {
    url: String,
    cacert: String,
    duration: Duration,
    concurrency: usize,
    /// A fixed number of GETs instead of a duration, when set.
    requests: Option<u64>,
}

fn parse_flags() -> Flags {
    let mut flags = Flags {
        url: String::new(),
        cacert: String::new(),
        duration: Duration::from_secs(5),
        concurrency: 1,
        requests: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            flags.url = arg;
            continue;
        }
        let value = args.next().unwrap_or_else(|| fail(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--url" => flags.url = value,
            "--cacert" => flags.cacert = value,
            "--duration" | "--seconds" => {
                let seconds: f64 = value.parse().unwrap_or_else(|_| fail(&format!("bad duration {value:?}")));
                flags.duration = Duration::from_secs_f64(seconds.max(0.0));
            }
            "--concurrency" => {
                flags.concurrency = value.parse().ok().filter(|&c| c > 0).unwrap_or_else(|| fail("bad --concurrency"))
            }
            "--requests" => {
                flags.requests = Some(value.parse().unwrap_or_else(|_| fail(&format!("bad --requests {value:?}"))))
            }
            other => fail(&format!("unknown flag {other}; see the doc comment of src/bin/httpsbench.rs")),
        }
    }
    if flags.url.is_empty() {
        fail("a URL is required (--url https://127.0.0.1:PORT/)");
    }
    if flags.cacert.is_empty() {
        fail("--cacert FILE is required");
    }
    flags
}

fn main() {
    let flags = parse_flags();
    block_on(async {
        let client =
            Client::builder().trust_env(false).ca_file(&flags.cacert).build().unwrap_or_else(|e| fail(&e.to_string()));
        let url: Rc<str> = Rc::from(flags.url.as_str());
        let start = Instant::now();
        let budget = match flags.requests {
            Some(n) => Budget::Count(Rc::new(Cell::new(n))),
            None => Budget::Until(start + flags.duration),
        };
        let loops: Vec<_> =
            (0..flags.concurrency).map(|_| spawn(get_loop(client.clone(), url.clone(), budget.clone()))).collect();
        let mut total = 0u64;
        for result in join_all(loops).await {
            match result {
                Ok(Ok(done)) => total += done,
                Ok(Err(e)) => fail(&format!("GET {url}: {e}")),
                Err(e) => fail(&format!("a GET loop failed: {e}")),
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let line = serde_json::json!({
            "bench": "https", "impl": "rasgi", "measure": format!("gets_c{}", flags.concurrency),
            "value": (total as f64 / seconds * 100.0).round() / 100.0, "unit": "req/s",
            "ops": total, "seconds": (seconds * 1000.0).round() / 1000.0, "concurrency": flags.concurrency,
        });
        println!("{line}");
    });
}

/// When the GET loops stop.
#[derive(Clone)]
enum Budget {
    /// At this instant (the timed mode).
    Until(Instant),
    /// When the shared count of GETs still to send reaches zero (`--requests`).
    Count(Rc<Cell<u64>>),
}

impl Budget {
    /// Takes the right to send one more GET.
    fn take(&self) -> bool {
        match self {
            Budget::Until(deadline) => Instant::now() < *deadline,
            Budget::Count(left) => {
                let n = left.get();
                left.set(n.saturating_sub(1));
                n > 0
            }
        }
    }
}

/// GETs while the budget lasts, reading every body to the end (which returns the
/// connection to the pool); returns how many completed.
async fn get_loop(client: Client, url: Rc<str>, budget: Budget) -> Result<u64, Error> {
    let mut done = 0;
    while budget.take() {
        let response = client.get(&*url).send().await?.error_for_status()?;
        response.bytes().await?;
        done += 1;
    }
    Ok(done)
}
