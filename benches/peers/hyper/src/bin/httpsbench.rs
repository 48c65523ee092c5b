//! `httpsbench`: keep-alive HTTPS GETs per second with hyper + hyper-rustls, for the `https`
//! suite.
//!
//! The client is built the way an application would build it — hyper-util's pooled `Client`
//! behind hyper-rustls's connector — because that is what `httpx.AsyncClient` and rasgi's client
//! are compared with. `--concurrency C` workers share the one client (and so its connection pool);
//! each worker sends a GET, reads the whole body, and sends the next, for `--duration` seconds.
//! TLS uses rustls with the ring provider (rasgi's choice) and trusts only `--cacert`, so the
//! benchmark also proves the certificate chain verifies.
//!
//! Every GET carries the fields rasgi's client and httpx send by default — `user-agent`,
//! `accept: */*`, `accept-encoding: gzip, deflate` — besides the `host` hyper adds, so that the
//! server parses the same request (about 110 bytes) from every contender. A bare hyper request
//! (`host` only, 41 bytes) would measure a lighter load on nginx rather than a better client.
//!
//! Usage: `httpsbench --url https://127.0.0.1:PORT/ --cacert ca.pem [--duration S] [--concurrency C]
//! [--requests N]`
//!
//! `--requests N`: the workers share N GETs and stop when they are done, instead of running for
//! a duration — for counting instructions and system calls per GET, as with rasgi's httpsbench.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT, ACCEPT_ENCODING, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rasgi_peer_hyper::{fail, Flags, Measurement};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

const PROGRAM: &str = "httpsbench";

fn main() {
    let flags = Flags::parse(PROGRAM, &["url", "cacert", "duration", "concurrency", "requests"]);
    let url: Uri = match flags.get("url", "").parse() {
        Ok(u) => u,
        Err(e) => fail(PROGRAM, &format!("--url: {e}")),
    };
    let cacert = flags.get("cacert", "");
    if cacert.is_empty() {
        fail(PROGRAM, "--cacert FILE is required");
    }
    let duration = flags.seconds(PROGRAM, "duration", 5.0);
    let concurrency = flags.count(PROGRAM, "concurrency", 1);
    let requests = match flags.get("requests", "") {
        r if r.is_empty() => None,
        r => Some(r.parse::<u64>().unwrap_or_else(|_| fail(PROGRAM, &format!("bad --requests {r:?}")))),
    };

    let config = match tls_config(&cacert) {
        Ok(c) => c,
        Err(e) => fail(PROGRAM, &e),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    runtime.block_on(async move {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        let client: Client<_, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);

        let start = Instant::now();
        let budget = match requests {
            Some(n) => Budget::Count(Arc::new(AtomicU64::new(n))),
            None => Budget::Until(start + duration),
        };
        let workers: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(get_loop(client.clone(), url.clone(), budget.clone())))
            .collect();
        let mut total = 0;
        for worker in workers {
            match worker.await.expect("a GET loop panicked") {
                Ok(n) => total += n,
                Err(e) => fail(PROGRAM, &e),
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        Measurement {
            bench: "https",
            implementation: "hyper-rustls",
            measure: &format!("gets_c{concurrency}"),
            value: total as f64 / elapsed,
            unit: "req/s",
            ops: total,
            seconds: elapsed,
        }
        .emit();
    });
}

/// A rustls client configuration (ring provider) that trusts exactly the certificates in `path`.
fn tls_config(path: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{path}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// When the workers stop.
#[derive(Clone)]
enum Budget {
    /// At this instant (the timed mode).
    Until(Instant),
    /// When the shared count of GETs still to send reaches zero (`--requests`).
    Count(Arc<AtomicU64>),
}

impl Budget {
    /// Takes the right to send one more GET.
    fn take(&self) -> bool {
        match self {
            Budget::Until(deadline) => Instant::now() < *deadline,
            Budget::Count(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

async fn get_loop<C>(
    client: Client<C, Empty<Bytes>>,
    url: Uri,
    budget: Budget,
) -> Result<u64, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut done = 0;
    while budget.take() {
        let request = Request::get(url.clone())
            .header(USER_AGENT, "hyper-rustls")
            .header(ACCEPT, "*/*")
            .header(ACCEPT_ENCODING, "gzip, deflate")
            .body(Empty::new())
            .map_err(|e| format!("GET {url}: {e}"))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("GET {url}: {e:?}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        // Read the body to the end: the connection only returns to the pool afterwards.
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {url}: body: {e}"))?;
        done += 1;
    }
    Ok(done)
}
