//! Opening a connection: TCP, the StartupMessage, authentication, and the session's first
//! ReadyForQuery — asyncpg's `connect_utils._connect_addr` and the auth part of
//! `protocol/coreproto.pyx`.
//!
//! ```text
//! client                                   server
//! StartupMessage(user, database, ...) ──▶
//!                                     ◀── AuthenticationRequest (one of:)
//!   trust            R/0  AuthenticationOk, nothing to do
//!   password         R/3  ──▶ PasswordMessage(password in clear text)
//!   md5              R/5  ──▶ PasswordMessage("md5" + md5(md5(password + user) + salt))
//!   scram-sha-256    R/10 ──▶ SASLInitialResponse(client-first)
//!                    R/11 ──▶ SASLResponse(client-final with proof)
//!                    R/12     check the server's signature: it proves the *server* knew
//!                             the password too
//!                                     ◀── AuthenticationOk
//!                                     ◀── ParameterStatus × n, BackendKeyData
//!                                     ◀── ReadyForQuery
//! ```
//!
//! The password hashing and the SCRAM exchange are postgres-protocol's; what is here is the
//! conversation. rasgi does not speak TLS to PostgreSQL yet, so there is no SSLRequest and
//! SCRAM runs without channel binding — use it on loopback or a trusted network.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256, SCRAM_SHA_256_PLUS};
use postgres_protocol::message::frontend;
use rasgi_executor::reactor::net::TcpStream;
use rasgi_executor::{spawn_blocking, timeout};

use crate::pg::config::{Config, SslMode, TargetSessionAttrs};
use crate::pg::conn::{BackendKey, Connection, TransactionStatus};
use crate::pg::error::{DbError, PgError};
use crate::pg::io::Stream;
use crate::pg::message::Message;

/// Connects, authenticates and waits for the first ReadyForQuery, all within
/// `config.connect_timeout`.
pub(crate) async fn connect(config: &Config) -> Result<Connection, PgError> {
    match timeout(config.connect_timeout, connect_to_some_host(config)).await {
        Ok(result) => result,
        Err(_) => Err(PgError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connecting to {config} took longer than {:?} (connect_timeout)", config.connect_timeout),
        ))),
    }
}

/// Tries the hosts in order (twice for `prefer-standby`: standbys first, then any) and keeps
/// the first connection of the kind `target_session_attrs` asks for. With one host and
/// `any`, its own error comes back unchanged.
async fn connect_to_some_host(config: &Config) -> Result<Connection, PgError> {
    let single = config.other_hosts.is_empty() && config.target_session_attrs == TargetSessionAttrs::Any;
    if single {
        return connect_unbounded(config).await;
    }
    let passes: &[TargetSessionAttrs] = match config.target_session_attrs {
        TargetSessionAttrs::PreferStandby => &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any],
        other => &[other],
    };
    let mut reasons = Vec::new();
    for &want in passes {
        for (host, port) in config.hosts() {
            let mut one = config.clone();
            one.host = host.to_string();
            one.port = port;
            one.other_hosts.clear();
            match connect_unbounded(&one).await {
                Ok(mut conn) => match session_fits(&mut conn, want).await {
                    Ok(None) => return Ok(conn),
                    Ok(Some(why)) => {
                        reasons.push(format!("{host}:{port} {why}"));
                        let _ = conn.close().await;
                    }
                    Err(e) => reasons.push(format!("{host}:{port}: {e}")),
                },
                Err(e) => reasons.push(format!("{host}:{port}: {e}")),
            }
        }
    }
    Err(PgError::NoSuitableServer(format!(
        "target_session_attrs={:?}; {}",
        config.target_session_attrs,
        reasons.join("; ")
    )))
}

/// `None` when the server suits `want`, else why not. PostgreSQL 14 and later report
/// `in_hot_standby` and `default_transaction_read_only` at startup (ParameterStatus), so no
/// query is needed; older servers are asked.
async fn session_fits(conn: &mut Connection, want: TargetSessionAttrs) -> Result<Option<&'static str>, PgError> {
    if want == TargetSessionAttrs::Any {
        return Ok(None);
    }
    let standby = match conn.parameter("in_hot_standby") {
        Some(value) => value == "on",
        None => conn.fetch_value::<bool>("SELECT pg_is_in_recovery()", &[]).await?,
    };
    let read_only = standby
        || match conn.parameter("default_transaction_read_only") {
            Some(value) => value == "on",
            None => conn.fetch_value::<String>("SHOW transaction_read_only", &[]).await? == "on",
        };
    Ok(match want {
        TargetSessionAttrs::ReadWrite if read_only => Some("is read-only"),
        TargetSessionAttrs::ReadOnly if !read_only => Some("accepts writes"),
        TargetSessionAttrs::Primary if standby => Some("is a standby"),
        TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby if !standby => Some("is not a standby"),
        _ => None,
    })
}

/// Whether one connection attempt encrypts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encrypt {
    /// No SSLRequest.
    Never,
    /// SSLRequest; a server without TLS (`N`) is fine.
    IfOffered,
    /// SSLRequest; `N` is an error.
    Required,
}

/// libpq's sslmode fallbacks (see `tls.rs`): `allow` tries plain first and encrypts only
/// when the plain login fails; `prefer` goes on unencrypted when the handshake
/// itself fails. Each retry is a new TCP connection, as in libpq.
async fn connect_unbounded(config: &Config) -> Result<Connection, PgError> {
    match config.ssl_mode {
        SslMode::Disable => connect_once(config, Encrypt::Never).await,
        SslMode::Allow => match connect_once(config, Encrypt::Never).await {
            // The server refused the plain login (a `hostssl` line, or another method for
            // plain connections): try again encrypted, as libpq does.
            Err(PgError::Server(_) | PgError::Auth(_)) => connect_once(config, Encrypt::Required).await,
            other => other,
        },
        SslMode::Prefer => match connect_once(config, Encrypt::IfOffered).await {
            Err(PgError::Tls(_)) => connect_once(config, Encrypt::Never).await,
            other => other,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => connect_once(config, Encrypt::Required).await,
    }
}

/// SSLRequest and the handshake, when asked for: the stream to speak the protocol on, and
/// the channel binding data of the server's certificate when encrypted.
async fn negotiate(tcp: TcpStream, config: &Config, encrypt: Encrypt) -> Result<(Stream, Option<Vec<u8>>), PgError> {
    if encrypt == Encrypt::Never {
        return Ok((Stream::Plain(tcp), None));
    }
    let mut request = bytes::BytesMut::new();
    frontend::ssl_request(&mut request);
    tcp.write_all(&request).await?;
    // The answer is one unencrypted byte, and the server sends nothing more before our
    // ClientHello: a one-byte read cannot swallow TLS records.
    let mut answer = [0u8; 1];
    if tcp.read(&mut answer).await? == 0 {
        return Err(PgError::Closed("the server closed the connection after SSLRequest".to_string()));
    }
    match answer[0] {
        b'S' => {}
        b'N' if encrypt == Encrypt::IfOffered => return Ok((Stream::Plain(tcp), None)),
        b'N' => {
            return Err(PgError::Tls(format!(
                "the server at {}:{} does not accept TLS (it answered N to SSLRequest), and sslmode={} \
                 requires it: turn ssl on in postgresql.conf, or use sslmode=prefer",
                config.host,
                config.port,
                mode_name(config.ssl_mode)
            )))
        }
        other => return Err(PgError::protocol(format!("the server answered SSLRequest with {:?}", other as char))),
    }
    let (tls_config, name) = crate::pg::tls::client_config(config)?;
    let stream =
        rasgi_http::tls::Handshake::new(tcp, tls_config, name).await.map_err(|e| handshake_error(e, config))?;
    let end_point = stream.peer_certificate().and_then(|cert| crate::pg::tls::server_end_point(cert));
    Ok((Stream::Tls(Box::new(stream)), end_point))
}

/// A handshake failure, named for a Postgres user (the HTTP client's hints speak of its own
/// options).
fn handshake_error(error: rasgi_http::tls::HandshakeError, config: &Config) -> PgError {
    use rasgi_http::tls::{CertificateCheck, HandshakeError};
    PgError::Tls(match error {
        HandshakeError::Certificate { check: CertificateCheck::UnknownIssuer, .. } => format!(
            "the server's certificate is not signed by a trusted CA (unknown issuer); give its CA with \
             sslrootcert=PATH, or use sslmode=require to encrypt without checking (sslmode={})",
            mode_name(config.ssl_mode)
        ),
        HandshakeError::Certificate { check: CertificateCheck::NameMismatch, error } => format!(
            "the server's certificate is not valid for the host {:?} ({error:?}); connect by a name it lists, or \
             use sslmode=verify-ca to check only the CA",
            config.host
        ),
        other => format!("the TLS handshake failed: {other}"),
    })
}

fn mode_name(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Allow => "allow",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

/// One connection attempt: TCP, TLS as asked, startup, authentication.
async fn connect_once(config: &Config, encrypt: Encrypt) -> Result<Connection, PgError> {
    let (tcp, addr) = open_socket(config).await?;
    // Requests are written whole by the client; Nagle's delay would only hold them back.
    tcp.set_nodelay(true)?;
    let (stream, end_point) = negotiate(tcp, config, encrypt).await?;
    let mut conn = Connection::new(stream, addr, config);

    let mut params = vec![
        ("user", config.user.as_str()),
        ("database", config.database.as_str()),
        // The binary format makes these moot for results, but text values (the simple
        // protocol, unknown types) and error messages should be UTF-8 and ISO-dated.
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
    ];
    if let Some(app) = &config.application_name {
        params.push(("application_name", app.as_str()));
    }
    conn.encode(|buf| frontend::startup_message(params, buf).map_err(|e| PgError::Config(e.to_string())))?;
    conn.flush().await?;

    authenticate(&mut conn, config, end_point).await?;

    // After AuthenticationOk the server reports its settings and our cancel key, then is
    // ready. A FATAL error is still possible here (e.g. "database does not exist").
    loop {
        match conn.next_message().await? {
            Message::BackendKeyData { process_id, secret_key } => {
                conn.backend_key = Some(BackendKey { process_id, secret_key });
            }
            Message::ReadyForQuery { status } => {
                conn.tx_status = TransactionStatus::from_byte(status)?;
                return Ok(conn);
            }
            Message::ErrorResponse { body } => return Err(PgError::Server(Box::new(DbError::parse(&body)?))),
            other => {
                if let Some(other) = conn.handle_asynchronous(other) {
                    return Err(conn.fail(crate::pg::reply::unexpected(&other, "starting up")));
                }
            }
        }
    }
}

/// Resolves the host and connects to the first address that answers.
async fn open_socket(config: &Config) -> Result<(TcpStream, SocketAddr), PgError> {
    let addrs: Vec<SocketAddr> = match config.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, config.port)],
        Err(_) => {
            // getaddrinfo blocks (it may ask a DNS server): run it on the blocking pool, the
            // seed's `run_in_executor`, so the loop keeps serving other tasks meanwhile.
            let target = (config.host.clone(), config.port);
            spawn_blocking(move || target.to_socket_addrs().map(Iterator::collect::<Vec<_>>))
                .await
                .map_err(|e| PgError::Config(format!("resolving {}: {e}", config.host)))?
                .map_err(|e| PgError::Config(format!("cannot resolve host {:?}: {e}", config.host)))?
        }
    };
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => PgError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot connect to {}:{}: {e} (is PostgreSQL running there?)", config.host, config.port),
        )),
        None => PgError::Config(format!("host {:?} resolved to no address", config.host)),
    })
}

/// The authentication exchange, up to AuthenticationOk.
async fn authenticate(conn: &mut Connection, config: &Config, end_point: Option<Vec<u8>>) -> Result<(), PgError> {
    let password = || {
        config.password.as_deref().ok_or_else(|| {
            PgError::Auth(format!(
                "the server wants a password for user {:?}, but none was given: put it in the URL \
                 (postgres://user:password@host/db) or in PGPASSWORD",
                config.user
            ))
        })
    };
    let mut scram: Option<ScramSha256> = None;
    loop {
        let (code, data) = match conn.next_message().await? {
            Message::Authentication { code, data } => (code, data),
            Message::ErrorResponse { body } => return Err(PgError::Server(Box::new(DbError::parse(&body)?))),
            other => match conn.handle_asynchronous(other) {
                None => continue,
                Some(other) => return Err(conn.fail(crate::pg::reply::unexpected(&other, "authenticating"))),
            },
        };
        let auth_error = |e: std::io::Error| PgError::Auth(format!("SCRAM-SHA-256: {e}"));
        match code {
            0 => return Ok(()),
            3 => {
                let password = password()?;
                conn.encode(|buf| frontend::password_message(password.as_bytes(), buf).map_err(auth_error))?;
            }
            5 => {
                let salt: [u8; 4] =
                    data.as_ref().try_into().map_err(|_| PgError::protocol("MD5 request without a 4-byte salt"))?;
                let hash = md5_hash(config.user.as_bytes(), password()?.as_bytes(), salt);
                conn.encode(|buf| frontend::password_message(hash.as_bytes(), buf).map_err(auth_error))?;
            }
            10 => {
                // The body lists the mechanisms the server accepts, NUL-terminated.
                let offers = |name: &str| data.split(|&b| b == 0).any(|m| m == name.as_bytes());
                // Over TLS with a certificate we can hash, bind the login to the channel when
                // the server offers it; if it does not, say "I could have" ('y'), so a man in
                // the middle who stripped the -PLUS offer is caught by the server.
                let (mechanism, binding) = match end_point.clone() {
                    Some(hash) if offers(SCRAM_SHA_256_PLUS) => {
                        (SCRAM_SHA_256_PLUS, ChannelBinding::tls_server_end_point(hash))
                    }
                    Some(_) => (SCRAM_SHA_256, ChannelBinding::unrequested()),
                    None => (SCRAM_SHA_256, ChannelBinding::unsupported()),
                };
                if !offers(SCRAM_SHA_256) && mechanism == SCRAM_SHA_256 {
                    return Err(PgError::Auth(format!(
                        "the server offers SASL mechanisms {:?}; rasgi speaks SCRAM-SHA-256 and, over TLS, \
                         SCRAM-SHA-256-PLUS",
                        String::from_utf8_lossy(&data)
                    )));
                }
                conn.channel_bound = mechanism == SCRAM_SHA_256_PLUS;
                let client = ScramSha256::new(password()?.as_bytes(), binding);
                conn.encode(|buf| {
                    frontend::sasl_initial_response(mechanism, client.message(), buf).map_err(auth_error)
                })?;
                scram = Some(client);
            }
            11 => {
                let client = scram.as_mut().ok_or_else(|| PgError::protocol("SASL continue before SASL start"))?;
                client.update(&data).map_err(auth_error)?;
                let message = client.message().to_vec();
                conn.encode(|buf| frontend::sasl_response(&message, buf).map_err(auth_error))?;
            }
            12 => {
                let client = scram.as_mut().ok_or_else(|| PgError::protocol("SASL final before SASL start"))?;
                client.finish(&data).map_err(|e| {
                    PgError::Auth(format!(
                        "the server's SCRAM signature does not match ({e}): it may not be the server you meant"
                    ))
                })?;
                continue; // AuthenticationOk follows
            }
            2 | 6 | 7 | 8 | 9 => {
                return Err(PgError::Auth(format!(
                    "the server asks for Kerberos/GSSAPI/SSPI authentication (code {code}), which rasgi does \
                     not speak; configure password, md5 or scram-sha-256 in pg_hba.conf"
                )))
            }
            other => return Err(PgError::protocol(format!("unknown authentication request {other}"))),
        }
        conn.flush().await?;
    }
}
