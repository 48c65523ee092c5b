//! Connection settings: the `postgres://user:password@host:port/database?option=value` URL and
//! the `PG*` environment variables — asyncpg's `connect(dsn, ...)` argument handling
//! (`connect_utils._parse_connect_dsn_and_args`).
//!
//! Precedence, as in libpq and asyncpg: a value in the URL wins; a part the URL leaves out
//! falls back to `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGAPPNAME`,
//! `PGCONNECT_TIMEOUT`; and then to the defaults (`localhost`, 5432, the OS user, a database
//! named like the user).
//!
//! The password is a secret: neither `Debug` nor `Display` shows it, and nothing in `src/pg`
//! logs a `Config` any other way.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::pg::error::PgError;

/// The default busy-poll window: longer than a simple query's reply takes on a quiet server
/// (about 30 µs over loopback), short enough that a loop waiting on a slow query wastes little.
const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(50);

/// How to reach and log in to a PostgreSQL server, and how the connection behaves.
#[derive(Clone)]
pub struct Config {
    /// Host name or IP address. Unix-socket directories are not supported (the reactor has TCP
    /// sockets only).
    pub(crate) host: String,
    /// TCP port.
    pub(crate) port: u16,
    /// Further servers to try, in order, after `host:port` (`postgres://h1:p1,h2:p2/db`).
    pub(crate) other_hosts: Vec<(String, u16)>,
    /// Which kind of server a connection must reach (`target_session_attrs`).
    pub(crate) target_session_attrs: TargetSessionAttrs,
    /// Role to log in as.
    pub(crate) user: String,
    /// Password, when the server asks for one. Never printed.
    pub(crate) password: Option<String>,
    /// Database to connect to.
    pub(crate) database: String,
    /// Shown in `pg_stat_activity.application_name`.
    pub(crate) application_name: Option<String>,
    /// Limit on TCP connect plus startup and authentication.
    pub(crate) connect_timeout: Duration,
    /// Most prepared statements kept per connection; 0 switches the cache off (for
    /// transaction-pooling proxies like PgBouncer, which cannot keep named statements).
    pub(crate) statement_cache_capacity: usize,
    /// Limit on every query of the connection (asyncpg's `command_timeout`); `None` = no limit.
    pub(crate) query_timeout: Option<Duration>,
    /// Limit on delivering a CancelRequest and on draining the cancelled query afterwards.
    pub(crate) cancel_timeout: Duration,
    /// How long a round trip keeps its task ready (polling its socket once per loop turn)
    /// before it lets the loop sleep in the kernel until the reply comes; zero = sleep at
    /// once. See `io.rs`, "Waiting for the reply".
    pub(crate) busy_poll: Duration,
    /// Whether to encrypt, and how much of the server's certificate to check (libpq's
    /// `sslmode`).
    pub(crate) ssl_mode: SslMode,
    /// A PEM file of trusted CAs (`sslrootcert`); without one, verification uses the Mozilla
    /// roots. With one, `require` verifies the chain too, as libpq does.
    pub(crate) ssl_root_cert: Option<PathBuf>,
    /// A PEM client certificate (chain) to present (`sslcert`); only together with `ssl_key`.
    pub(crate) ssl_cert: Option<PathBuf>,
    /// The PEM private key of `ssl_cert` (`sslkey`).
    pub(crate) ssl_key: Option<PathBuf>,
}

/// libpq's `target_session_attrs`: which server of a multi-host URL a connection may settle
/// on. The hosts are tried in order; one that is reachable but of the wrong kind is closed
/// and the next one tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// The first server that accepts the login (the default).
    Any,
    /// One that accepts writes: not a standby, and not `default_transaction_read_only`.
    ReadWrite,
    /// One that does not accept writes.
    ReadOnly,
    /// One that is not a standby (in recovery).
    Primary,
    /// A standby.
    Standby,
    /// A standby if any is reachable, else any server.
    PreferStandby,
}

impl FromStr for TargetSessionAttrs {
    type Err = PgError;

    fn from_str(s: &str) -> Result<TargetSessionAttrs, PgError> {
        Ok(match s {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            other => {
                return Err(PgError::Config(format!(
                    "target_session_attrs={other:?} is not one of any, read-write, read-only, primary, standby, \
                     prefer-standby"
                )))
            }
        })
    }
}

/// libpq's `sslmode`: whether the connection is encrypted, and what is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Plain first; encrypt only if the server refuses a plain connection.
    Allow,
    /// Encrypt when the server can, else plain (libpq's default, and rasgi's).
    Prefer,
    /// Always encrypt; check the certificate chain only when `sslrootcert` is given.
    Require,
    /// Encrypt, and the certificate must lead to a trusted CA.
    VerifyCa,
    /// Encrypt, the chain must be trusted, and the certificate must name the host.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = PgError;

    fn from_str(s: &str) -> Result<SslMode, PgError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(PgError::Config(format!(
                    "sslmode={other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }
}

impl Default for Config {
    fn default() -> Config {
        let user = std::env::var("USER").unwrap_or_else(|_| "postgres".to_string());
        Config {
            host: "localhost".to_string(),
            port: 5432,
            other_hosts: Vec::new(),
            target_session_attrs: TargetSessionAttrs::Any,
            database: user.clone(),
            user,
            password: None,
            application_name: None,
            connect_timeout: Duration::from_secs(10),
            statement_cache_capacity: 100,
            query_timeout: None,
            cancel_timeout: Duration::from_secs(2),
            busy_poll: DEFAULT_BUSY_POLL,
            ssl_mode: SslMode::Prefer,
            ssl_root_cert: None,
            ssl_cert: None,
            ssl_key: None,
        }
    }
}

impl Config {
    /// Settings from the `PG*` environment variables alone, with defaults for the rest.
    pub fn from_env() -> Result<Config, PgError> {
        Config::from_url_and_env("postgres://", &|name| std::env::var(name).ok())
    }

    /// Parses a `postgres://` (or `postgresql://`) URL; parts it leaves out come from the
    /// `PG*` environment variables, then defaults.
    ///
    /// Query options: `application_name`, `connect_timeout` (seconds), `statement_cache_size`
    /// (0 = off), `command_timeout` (seconds, fractional allowed), `busy_poll_us`
    /// (microseconds a round trip polls before the loop sleeps, 0 = off; see
    /// [`Config::busy_poll`]), `sslmode` (see [`SslMode`];
    /// `prefer` by default, as in libpq), `sslrootcert`, `sslcert`, `sslkey` (PEM files).
    pub fn from_url(url: &str) -> Result<Config, PgError> {
        Config::from_url_and_env(url, &|name| std::env::var(name).ok())
    }

    /// The parser behind [`Config::from_url`], with the environment passed in so tests can
    /// supply their own.
    pub(crate) fn from_url_and_env(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, PgError> {
        let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")).ok_or_else(|| {
            PgError::Config(format!("the URL must start with postgres:// (got {:?})", scheme_of(url)))
        })?;
        let mut config = Config::default();
        if let Some(user) = env("PGUSER") {
            config.database = user.clone();
            config.user = user;
        }
        config.password = env("PGPASSWORD");
        if let Some(host) = env("PGHOST") {
            config.host = host;
        }
        if let Some(port) = env("PGPORT") {
            config.port = parse_port(&port)?;
        }
        if let Some(app) = env("PGAPPNAME") {
            config.application_name = Some(app);
        }
        if let Some(mode) = env("PGSSLMODE") {
            config.ssl_mode = mode.parse()?;
        }
        config.ssl_root_cert = env("PGSSLROOTCERT").map(PathBuf::from);
        config.ssl_cert = env("PGSSLCERT").map(PathBuf::from);
        config.ssl_key = env("PGSSLKEY").map(PathBuf::from);
        if let Some(secs) = env("PGCONNECT_TIMEOUT") {
            config.connect_timeout = parse_seconds("PGCONNECT_TIMEOUT", &secs)?;
        }
        let mut database_from_env = env("PGDATABASE");

        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (before_query, None),
        };
        // userinfo@hostport; the password may itself contain '@' only percent-encoded, so the
        // last '@' separates them.
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                config.user = percent_decode(user)?;
                if database_from_env.is_none() {
                    config.database = config.user.clone();
                }
            }
            if let Some(password) = password {
                config.password = Some(percent_decode(password)?);
            }
        }
        if !hostport.is_empty() {
            // `h1:p1,h2:p2`: a host without a port gets the default (or PGPORT) one.
            let default_port = config.port;
            let mut hosts = Vec::new();
            for one in hostport.split(',') {
                let (host, port) = split_host_port(one)?;
                let host = if host.is_empty() { config.host.clone() } else { percent_decode(host)? };
                let port = match port {
                    Some(port) => parse_port(port)?,
                    None => default_port,
                };
                hosts.push((host, port));
            }
            let mut hosts = hosts.into_iter();
            if let Some((host, port)) = hosts.next() {
                config.host = host;
                config.port = port;
            }
            config.other_hosts = hosts.collect();
        }
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            database_from_env = Some(percent_decode(path)?);
        }
        if let Some(database) = database_from_env {
            config.database = database;
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)?;
            match key {
                "application_name" => config.application_name = Some(value),
                "connect_timeout" => config.connect_timeout = parse_seconds(key, &value)?,
                "command_timeout" => config.query_timeout = Some(parse_seconds(key, &value)?),
                "statement_cache_size" => {
                    config.statement_cache_capacity = value
                        .parse()
                        .map_err(|_| PgError::Config(format!("statement_cache_size must be a number, got {value:?}")))?
                }
                "busy_poll_us" => {
                    let micros: u64 = value.parse().map_err(|_| {
                        PgError::Config(format!("busy_poll_us must be a whole number of microseconds, got {value:?}"))
                    })?;
                    config.busy_poll = Duration::from_micros(micros);
                }
                "sslmode" => config.ssl_mode = value.parse()?,
                "target_session_attrs" => config.target_session_attrs = value.parse()?,
                "sslrootcert" => config.ssl_root_cert = Some(PathBuf::from(value)),
                "sslcert" => config.ssl_cert = Some(PathBuf::from(value)),
                "sslkey" => config.ssl_key = Some(PathBuf::from(value)),
                "host" => config.host = value,
                "port" => config.port = parse_port(&value)?,
                "user" => config.user = value,
                "password" => config.password = Some(value),
                "dbname" => config.database = value,
                other => return Err(PgError::Config(format!("unknown URL option {other:?}"))),
            }
        }
        if config.host.starts_with('/') {
            return Err(PgError::Config(format!(
                "host {:?} is a Unix-socket directory; rasgi connects over TCP only, use host=127.0.0.1",
                config.host
            )));
        }
        Ok(config)
    }

    /// Sets the host name or IP address.
    pub fn host(mut self, host: impl Into<String>) -> Config {
        self.host = host.into();
        self
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Config {
        self.port = port;
        self
    }

    /// Sets the role name.
    pub fn user(mut self, user: impl Into<String>) -> Config {
        self.user = user.into();
        self
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Config {
        self.password = Some(password.into());
        self
    }

    /// Sets the database name.
    pub fn database(mut self, database: impl Into<String>) -> Config {
        self.database = database.into();
        self
    }

    /// Sets `target_session_attrs` (see [`TargetSessionAttrs`]).
    pub fn target_session_attrs(mut self, attrs: TargetSessionAttrs) -> Config {
        self.target_session_attrs = attrs;
        self
    }

    /// Every server to try, in order: `host:port`, then the others of a multi-host URL.
    pub(crate) fn hosts(&self) -> impl Iterator<Item = (&str, u16)> {
        std::iter::once((self.host.as_str(), self.port)).chain(self.other_hosts.iter().map(|(h, p)| (h.as_str(), *p)))
    }

    /// Sets `sslmode` (see [`SslMode`]).
    pub fn ssl_mode(mut self, mode: SslMode) -> Config {
        self.ssl_mode = mode;
        self
    }

    /// Trusts the CAs in this PEM file (`sslrootcert`).
    pub fn ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Config {
        self.ssl_root_cert = Some(path.into());
        self
    }

    /// Presents this client certificate and key, both PEM (`sslcert`, `sslkey`).
    pub fn ssl_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Config {
        self.ssl_cert = Some(cert.into());
        self.ssl_key = Some(key.into());
        self
    }

    /// Sets `application_name`.
    pub fn application_name(mut self, name: impl Into<String>) -> Config {
        self.application_name = Some(name.into());
        self
    }

    /// Limits connect + authentication.
    pub fn connect_timeout(mut self, timeout: Duration) -> Config {
        self.connect_timeout = timeout;
        self
    }

    /// Most prepared statements cached per connection; 0 turns the cache off.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Config {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Limits every query; on expiry the query is cancelled on the server.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.query_timeout = timeout;
        self
    }

    /// Limits how long a cancel (and the drain after it) may take.
    pub fn cancel_timeout(mut self, timeout: Duration) -> Config {
        self.cancel_timeout = timeout;
        self
    }

    /// How long a round trip polls its socket, keeping the event loop awake, before the loop
    /// may sleep until the reply arrives (default 50 µs; `Duration::ZERO` turns it off). A
    /// sleeping client costs the *server* a wake-up per reply; polling trades a little client
    /// CPU while a reply is due for less server CPU per query. Other tasks keep running
    /// meanwhile: the poll is one check per loop turn, never a spin that holds the thread.
    /// A [`SharedConnection`](crate::pg::SharedConnection)'s driver polls the same way while
    /// any of its queries is in flight, the window reopening with every query it sends and
    /// every reply message it reads. Turn it off when PostgreSQL, or other busy loops, run on
    /// this loop's core: the poll then holds the very core the reply needs.
    pub fn busy_poll(mut self, window: Duration) -> Config {
        self.busy_poll = window;
        self
    }

    /// The host.
    pub fn get_host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// The role name.
    pub fn get_user(&self) -> &str {
        &self.user
    }

    /// The database name.
    pub fn get_database(&self) -> &str {
        &self.database
    }

    /// The statement cache capacity.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// The busy-poll window (see [`Config::busy_poll`]).
    pub fn get_busy_poll(&self) -> Duration {
        self.busy_poll
    }
}

impl FromStr for Config {
    type Err = PgError;

    fn from_str(url: &str) -> Result<Config, PgError> {
        Config::from_url(url)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Spelled out by hand, not derived, so the password can never leak into a log line
        // or a panic message: only whether one is set is shown.
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("query_timeout", &self.query_timeout)
            .field("cancel_timeout", &self.cancel_timeout)
            .field("busy_poll", &self.busy_poll)
            .field("ssl_mode", &self.ssl_mode)
            .field("other_hosts", &self.other_hosts)
            .field("target_session_attrs", &self.target_session_attrs)
            .finish()
    }
}

impl fmt::Display for Config {
    /// The URL without its password: safe for logs ("connecting to postgres://app@db:5432/app").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "postgres://{}@{}:{}/{}", self.user, host, self.port, self.database)
    }
}

/// The scheme part of a URL, for the error message (never the whole URL: it may hold a password).
fn scheme_of(url: &str) -> &str {
    url.split_once("://").map_or("no scheme", |(s, _)| s)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), PgError> {
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) =
            v6.split_once(']').ok_or_else(|| PgError::Config("unclosed '[' in an IPv6 host".to_string()))?;
        let port = after.strip_prefix(':').filter(|p| !p.is_empty());
        return Ok((host, port));
    }
    if hostport.contains(',') {
        return Err(PgError::Config("several hosts in one URL are not supported".to_string()));
    }
    Ok(match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

fn parse_port(port: &str) -> Result<u16, PgError> {
    port.parse().map_err(|_| PgError::Config(format!("the port must be a number from 1 to 65535, got {port:?}")))
}

fn parse_seconds(what: &str, value: &str) -> Result<Duration, PgError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| PgError::Config(format!("{what} must be a number of seconds, got {value:?}")))
}

/// Decodes `%XX` escapes (RFC 3986), so a password may contain `@`, `:` or `/`.
fn percent_decode(s: &str) -> Result<String, PgError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PgError::Config("a '%' in the URL must be followed by two hex digits".to_string()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PgError::Config("the URL decodes to invalid UTF-8".to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn busy_poll_defaults_on_and_is_set_in_microseconds() {
        assert_eq!(Config::default().busy_poll, Duration::from_micros(50));
        let c = Config::from_url_and_env("postgres://h/db?busy_poll_us=0", &|_| None).unwrap();
        assert_eq!(c.get_busy_poll(), Duration::ZERO);
        let c = Config::from_url_and_env("postgres://h/db?busy_poll_us=250", &|_| None).unwrap();
        assert_eq!(c.get_busy_poll(), Duration::from_micros(250));
        let err = Config::from_url_and_env("postgres://h/db?busy_poll_us=1.5", &|_| None).unwrap_err();
        assert!(
            matches!(&err, PgError::Config(m) if m == "busy_poll_us must be a whole number of microseconds, got \"1.5\""),
            "{err:?}"
        );
    }

    fn parse(url: &str, env: &[(&str, &str)]) -> Result<Config, PgError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_url_and_env(url, &move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn full_url() {
        let c =
            parse("postgres://al%40ice:p%3Ass@db.example:6543/shop?application_name=web&statement_cache_size=0", &[])
                .unwrap();
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("al@ice", Some("p:ss")));
        assert_eq!((c.host.as_str(), c.port, c.database.as_str()), ("db.example", 6543, "shop"));
        assert_eq!(c.application_name.as_deref(), Some("web"));
        assert_eq!(c.statement_cache_capacity, 0);
    }

    #[test]
    fn env_fills_gaps_and_url_wins() {
        let env = [("PGHOST", "10.0.0.1"), ("PGPORT", "6000"), ("PGUSER", "envuser"), ("PGPASSWORD", "envpw")];
        let c = parse("postgres:///app", &env).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str(), c.database.as_str()),
            ("10.0.0.1", 6000, "envuser", "app")
        );
        assert_eq!(c.password.as_deref(), Some("envpw"));
        let c = parse("postgresql://me@[::1]:7000", &env).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str(), c.database.as_str()), ("::1", 7000, "me", "me"));
    }

    #[test]
    fn password_is_never_shown() {
        let c = parse("postgres://u:hunter2@h/d", &[]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c}").contains("hunter2"));
        assert_eq!(c.to_string(), "postgres://u@h:5432/d");
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(matches!(parse("mysql://x", &[]), Err(PgError::Config(_))));
        assert!(matches!(parse("postgres://h:99999/d", &[]), Err(PgError::Config(_))));
        assert!(matches!(parse("postgres://h/d?sslmode=required", &[]), Err(PgError::Config(_))));
        let tls = parse("postgres://h/d?sslmode=verify-full&sslrootcert=/ca.pem", &[]).unwrap();
        assert_eq!((tls.ssl_mode, tls.ssl_root_cert.as_deref()), (SslMode::VerifyFull, Some(Path::new("/ca.pem"))));
        assert_eq!(parse("postgres://h/d", &[("PGSSLMODE", "disable")]).unwrap().ssl_mode, SslMode::Disable);
        let multi = parse("postgres://u@h1:5433,h2,[::1]:7/d?target_session_attrs=read-write", &[]).unwrap();
        assert_eq!(multi.hosts().collect::<Vec<_>>(), [("h1", 5433), ("h2", 5432), ("::1", 7)]);
        assert_eq!(multi.target_session_attrs, TargetSessionAttrs::ReadWrite);
        assert!(parse("postgres://h/d?target_session_attrs=writable", &[]).is_err());
        assert!(matches!(parse("postgres://h/d?bogus=1", &[]), Err(PgError::Config(_))));
    }
}
