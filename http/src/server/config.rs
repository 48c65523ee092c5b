//! Server settings and the uvicorn-like command-line flags that set them.

use std::time::Duration;

use rasgi_executor::log::Level;

use super::proxy::TrustedProxies;
use crate::error::ServerError;

/// Everything a server loop needs to know. Shared read-only by every worker.
#[derive(Clone, Debug)]
pub struct Config {
    /// Interface to listen on (`--host`, default `127.0.0.1`).
    pub host: String,
    /// Port (`--port`, default 8000; 0 picks a free one).
    pub port: u16,
    /// Serve on this inherited, already-listening socket instead of binding `host`/`port`
    /// (`--fd N`, as uvicorn's). Without it, systemd's `LISTEN_FDS` is honoured.
    pub fd: Option<i32>,
    /// Serve on a Unix-domain socket at this path instead of TCP (`--uds PATH`, as
    /// uvicorn's): for a proxy on the same machine.
    pub uds: Option<std::path::PathBuf>,
    /// Event loops, each on its own thread with its own listener (`--workers`).
    pub workers: usize,
    /// How long an idle kept-alive connection stays open (`--timeout-keep-alive`,
    /// default 5 s). Behind a proxy, set it *above* the proxy's idle timeout, or the
    /// proxy may send a request on a connection we are closing.
    pub timeout_keep_alive: Duration,
    /// How long a client may take to send a request head (`--timeout-header`, 10 s):
    /// the defence against slowloris clients that trickle bytes to hold connections.
    pub timeout_header: Duration,
    /// How long a started request body may go without a byte (`--timeout-body`, 10 s;
    /// nginx's `client_body_timeout`): 408 and close beyond. Idle time between reads, not
    /// a total, so a slow but steady upload is never cut.
    pub timeout_body: Duration,
    /// How long a client may take none of its response (`--timeout-send`, 30 s; nginx's
    /// `send_timeout`): the connection is closed beyond. Also idle time, not a total.
    pub timeout_send: Duration,
    /// How long shutdown waits for in-flight requests (`--timeout-graceful-shutdown`).
    pub timeout_graceful_shutdown: Duration,
    /// Above this many open connections per loop, requests get 503
    /// (`--limit-concurrency`).
    pub limit_concurrency: Option<usize>,
    /// Largest request body in bytes (`--limit-body`, default 16 MiB); 413 beyond.
    pub limit_body: u64,
    /// Log verbosity (`--log-level`).
    pub log_level: Level,
    /// One line per request (`--no-access-log` turns it off).
    pub access_log: bool,
    /// Where the application is mounted behind a proxy (`--root-path`).
    pub root_path: String,
    /// Believe `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` from trusted peers
    /// for the scope's `client` and `scheme` (`--proxy-headers`, on by default as in
    /// uvicorn; `--no-proxy-headers` turns it off).
    pub proxy_headers: bool,
    /// The peers whose proxy headers are believed (`--forwarded-allow-ips`, default
    /// `$FORWARDED_ALLOW_IPS` or `127.0.0.1`, as uvicorn's).
    pub forwarded_allow_ips: TrustedProxies,
    /// Listen backlog (`--backlog`).
    pub backlog: i32,
    /// Slow-poll warning threshold in milliseconds; 0 disables (`--slow-poll-ms`).
    pub slow_poll_ms: Option<u64>,
    /// Catch SIGINT/SIGTERM for graceful shutdown. Off for servers inside tests.
    pub handle_signals: bool,
    /// Serve WebSocket upgrades (`--ws auto`, the default); `--ws none` answers them as
    /// plain HTTP requests, as uvicorn does.
    pub ws: bool,
    /// Largest WebSocket message in bytes (`--ws-max-size`, 16 MiB); 1009 beyond.
    pub ws_max_size: u64,
    /// How often an idle WebSocket is pinged (`--ws-ping-interval`, 20 s); `None` (0)
    /// sends no pings.
    pub ws_ping_interval: Option<Duration>,
    /// How long a ping may wait for its pong before the connection is dropped
    /// (`--ws-ping-timeout`, 20 s).
    pub ws_ping_timeout: Duration,
    /// Agree to permessage-deflate when a client offers it (`--ws-per-message-deflate`,
    /// true by default as in uvicorn); when false every offer is declined.
    pub ws_per_message_deflate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8000,
            fd: None,
            uds: None,
            workers: 1,
            timeout_keep_alive: Duration::from_secs(5),
            timeout_header: Duration::from_secs(10),
            timeout_body: Duration::from_secs(10),
            timeout_send: Duration::from_secs(30),
            timeout_graceful_shutdown: Duration::from_secs(30),
            limit_concurrency: None,
            limit_body: 16 * 1024 * 1024,
            log_level: Level::Info,
            access_log: true,
            root_path: String::new(),
            proxy_headers: true,
            forwarded_allow_ips: std::env::var("FORWARDED_ALLOW_IPS")
                .ok()
                .and_then(|list| TrustedProxies::parse(&list).ok())
                .unwrap_or_default(),
            backlog: 1024,
            slow_poll_ms: None,
            handle_signals: true,
            ws: true,
            ws_max_size: 16 * 1024 * 1024,
            ws_ping_interval: Some(Duration::from_secs(20)),
            ws_ping_timeout: Duration::from_secs(20),
            ws_per_message_deflate: true,
        }
    }
}

/// The `--help` text.
pub const USAGE: &str = "\
Options:
  --host HOST                      bind to this address (default 127.0.0.1)
  --port PORT                      bind to this port (default 8000)
  --fd N                           serve on the inherited listening socket N (systemd's LISTEN_FDS works too)
  --uds PATH                       serve on a Unix-domain socket at PATH instead of TCP
  --workers N                      event loops, one thread each (default 1)
  --timeout-keep-alive SECS        close idle keep-alive connections after SECS (default 5)
  --timeout-header SECS            a request head must arrive within SECS (default 10)
  --timeout-body SECS              408 when a request body sends nothing for SECS (default 10)
  --timeout-send SECS              close when a client reads nothing for SECS (default 30)
  --timeout-graceful-shutdown SECS wait this long for in-flight requests on shutdown (default 30)
  --limit-concurrency N            answer 503 above N open connections per loop
  --limit-body BYTES               largest request body (default 16777216)
  --log-level LEVEL                critical|error|warning|info|debug (default info)
  --no-access-log                  do not log each request
  --root-path PATH                 the mount point behind a proxy
  --proxy-headers / --no-proxy-headers
                                   believe X-Forwarded-For/-Proto and Forwarded from trusted peers (default on)
  --forwarded-allow-ips LIST       trusted proxies: IPs and networks, unix: for --uds peers, or * (default 127.0.0.1)
  --backlog N                      listen backlog (default 1024)
  --slow-poll-ms MS                warn when one poll blocks the loop longer (default 100, 0 = off)
  --ws auto|none                   serve WebSocket upgrades (default auto)
  --ws-max-size BYTES              largest WebSocket message (default 16777216)
  --ws-ping-interval SECS          ping idle WebSockets every SECS (default 20, 0 = never)
  --ws-ping-timeout SECS           drop a WebSocket whose pong is this late (default 20)
  --ws-per-message-deflate BOOL    compress WebSocket messages when the client offers it (default true)
  -h, --help                       show this help
";

impl Config {
    /// Parses uvicorn-style flags (without the program name). Unknown flags are errors,
    /// so a typo is not silently ignored.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Config, ServerError> {
        let mut config = Config::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (flag, None),
            };
            let mut value = |name: &str| -> Result<String, ServerError> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ServerError::Config(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--host" => config.host = value("--host")?,
                "--port" => config.port = number(&flag, &value(&flag)?)?,
                "--fd" => config.fd = Some(number(&flag, &value(&flag)?)?),
                "--uds" => config.uds = Some(value(&flag)?.into()),
                "--workers" => config.workers = number::<usize>(&flag, &value(&flag)?)?.max(1),
                "--timeout-keep-alive" => config.timeout_keep_alive = seconds(&flag, &value(&flag)?)?,
                "--timeout-header" => config.timeout_header = seconds(&flag, &value(&flag)?)?,
                "--timeout-body" => config.timeout_body = seconds(&flag, &value(&flag)?)?,
                "--timeout-send" => config.timeout_send = seconds(&flag, &value(&flag)?)?,
                "--timeout-graceful-shutdown" => config.timeout_graceful_shutdown = seconds(&flag, &value(&flag)?)?,
                "--limit-concurrency" => config.limit_concurrency = Some(number(&flag, &value(&flag)?)?),
                "--limit-body" => config.limit_body = number(&flag, &value(&flag)?)?,
                "--log-level" => {
                    let v = value(&flag)?;
                    config.log_level =
                        Level::parse(&v).ok_or_else(|| ServerError::Config(format!("unknown log level {v:?}")))?;
                }
                "--no-access-log" => config.access_log = false,
                "--access-log" => config.access_log = true,
                "--root-path" => config.root_path = value(&flag)?,
                "--proxy-headers" => config.proxy_headers = true,
                "--no-proxy-headers" => config.proxy_headers = false,
                "--forwarded-allow-ips" => {
                    config.forwarded_allow_ips = TrustedProxies::parse(&value(&flag)?)
                        .map_err(|e| ServerError::Config(format!("--forwarded-allow-ips: {e}")))?
                }
                "--backlog" => config.backlog = number(&flag, &value(&flag)?)?,
                "--slow-poll-ms" => config.slow_poll_ms = Some(number(&flag, &value(&flag)?)?),
                "--ws" => {
                    config.ws = match value(&flag)?.as_str() {
                        "auto" | "websockets" => true,
                        "none" => false,
                        v => return Err(ServerError::Config(format!("--ws expects auto or none, got {v:?}"))),
                    }
                }
                "--ws-max-size" => config.ws_max_size = number(&flag, &value(&flag)?)?,
                "--ws-ping-interval" => {
                    let every = seconds(&flag, &value(&flag)?)?;
                    config.ws_ping_interval = (!every.is_zero()).then_some(every);
                }
                "--ws-ping-timeout" => config.ws_ping_timeout = seconds(&flag, &value(&flag)?)?,
                "--ws-per-message-deflate" => config.ws_per_message_deflate = boolean(&flag, &value(&flag)?)?,
                other => return Err(ServerError::Config(format!("unknown option {other:?}; see --help"))),
            }
        }
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, ServerError> {
    v.parse().map_err(|_| ServerError::Config(format!("{flag} expects a number, got {v:?}")))
}

/// A boolean the way uvicorn's flags (click) spell one.
fn boolean(flag: &str, v: &str) -> Result<bool, ServerError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(ServerError::Config(format!("{flag} expects true or false, got {v:?}"))),
    }
}

fn seconds(flag: &str, v: &str) -> Result<Duration, ServerError> {
    let secs: f64 = number(flag, v)?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(ServerError::Config(format!("{flag} expects a non-negative number of seconds")));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uvicorn_flags() {
        let args = [
            "--port",
            "9000",
            "--workers=2",
            "--timeout-keep-alive",
            "7.5",
            "--no-access-log",
            "--log-level",
            "warning",
        ];
        let c = Config::from_args(args.iter().map(|s| s.to_string())).unwrap();
        assert_eq!((c.port, c.workers, c.access_log), (9000, 2, false));
        assert_eq!(c.timeout_keep_alive, Duration::from_millis(7500));
        assert_eq!(c.log_level, Level::Warn);
        let ws = ["--ws-max-size", "1024", "--ws-ping-interval=0", "--ws-ping-timeout", "2.5", "--ws", "none"];
        let c = Config::from_args(ws.iter().map(|s| s.to_string())).unwrap();
        assert_eq!((c.ws, c.ws_max_size, c.ws_ping_interval), (false, 1024, None));
        assert_eq!(c.ws_ping_timeout, Duration::from_millis(2500));
        assert!(c.ws_per_message_deflate, "on unless switched off");
        let off = Config::from_args(["--ws-per-message-deflate=False".to_string()]).unwrap();
        assert!(!off.ws_per_message_deflate);
        let err = Config::from_args(["--ws-per-message-deflate".into(), "maybe".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: --ws-per-message-deflate expects true or false, got \"maybe\""
        );
        let err = Config::from_args(["--prot".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), "invalid configuration: unknown option \"--prot\"; see --help");
    }
}
