//! TLS on rustls: which certificates to trust, the handshake, and the encrypted stream.
//!
//! httpx's counterpart is the `ssl.SSLContext` it builds for every client
//! (`httpx.create_ssl_context()`): certifi's CA bundle, or the file named by `SSL_CERT_FILE`,
//! with certificate and host name verification switched on. Here the context is a
//! [`rustls::ClientConfig`] built once per client and shared by all of its connections
//! (which also lets rustls resume sessions across them).
//!
//! Verification is always on. There is deliberately no "insecure" switch: a test server
//! gets a real CA made at test time and the client is told to trust it, exactly as a
//! production deployment with a private CA would do.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the trust store ([`client_config`], [`load_pem_file`]) and the errors |
//! | `handshake.rs` | [`Handshake`]: the TLS handshake as a hand-written future |
//! | `stream.rs` | [`TlsStream`]: reading and writing application data through rustls |

mod handshake;
mod stream;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, RootCertStore};

pub use handshake::Handshake;
pub use stream::TlsStream;

/// A certificate in DER form, as rustls wants it (re-exported so callers need not depend on
/// rustls to hand certificates to [`client_config`]).
pub type Certificate = CertificateDer<'static>;

/// Builds the configuration every TLS connection of one client shares: the Mozilla roots
/// of `webpki-roots`, plus `extra_roots` (a private CA, a test CA).
///
/// The ring provider is chosen explicitly rather than through rustls's process-wide
/// default, so that nothing depends on which crate happened to install a default first.
pub fn client_config(extra_roots: &[Certificate]) -> Result<Arc<rustls::ClientConfig>, CaError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        roots.add(cert.clone()).map_err(|e| CaError::BadCertificate { source: "extra root".into(), error: e })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CaError::BadCertificate { source: "protocol versions".into(), error: e })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads every `CERTIFICATE` block of a PEM file (other blocks, such as keys, are skipped).
/// A file with no certificate at all is an error: it is almost certainly the wrong file.
pub fn load_pem_file(path: &Path) -> Result<Vec<Certificate>, CaError> {
    let pem = std::fs::read(path).map_err(|e| CaError::Read { path: path.to_path_buf(), error: e })?;
    parse_pem(&pem, &path.display().to_string())
}

/// Parses the `CERTIFICATE` blocks of a PEM bundle held in memory; `source` names it in
/// errors.
pub fn parse_pem(pem: &[u8], source: &str) -> Result<Vec<Certificate>, CaError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::Pem { source: source.to_string(), error: e.to_string() })?;
    if certs.is_empty() {
        return Err(CaError::NoCertificates { source: source.to_string() });
    }
    Ok(certs)
}

/// A CA bundle could not be used.
#[derive(Debug)]
pub enum CaError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The PEM text is malformed.
    Pem {
        /// The file or label of the bundle.
        source: String,
        /// What the PEM parser said.
        error: String,
    },
    /// The bundle holds no `-----BEGIN CERTIFICATE-----` block.
    NoCertificates {
        /// The file or label of the bundle.
        source: String,
    },
    /// A certificate could not be added to the trust store.
    BadCertificate {
        /// The file or label of the bundle.
        source: String,
        /// rustls's reason.
        error: rustls::Error,
    },
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Read { path, error } => write!(f, "cannot read CA bundle {}: {error}", path.display()),
            CaError::Pem { source, error } => write!(f, "CA bundle {source} is not valid PEM: {error}"),
            CaError::NoCertificates { source } => write!(f, "CA bundle {source} contains no certificate"),
            CaError::BadCertificate { source, error } => write!(f, "CA bundle {source}: unusable certificate: {error}"),
        }
    }
}

impl std::error::Error for CaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaError::Read { error, .. } => Some(error),
            CaError::BadCertificate { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Which check of the server's certificate failed. rustls reports many fine-grained
/// variants; these are the ones a person can act on, named the way an operator would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateCheck {
    /// The chain does not lead to a trusted root: a self-signed or private-CA certificate
    /// whose CA the client was not told to trust (rustls: `UnknownIssuer`).
    UnknownIssuer,
    /// The certificate is valid, but not for the host name the client asked for
    /// (rustls: `NotValidForName`).
    NameMismatch,
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not started (often a wrong clock).
    NotYetValid,
    /// The certificate was revoked.
    Revoked,
    /// A signature in the chain does not verify.
    BadSignature,
    /// The certificate is not meant for TLS server authentication.
    WrongPurpose,
    /// Any other problem with the certificate (bad encoding, unknown critical extension...).
    Other,
}

impl CertificateCheck {
    /// Classifies a rustls certificate error.
    pub fn of(error: &CertificateError) -> CertificateCheck {
        match error {
            CertificateError::UnknownIssuer => CertificateCheck::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertificateCheck::NameMismatch
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertificateCheck::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertificateCheck::NotYetValid
            }
            CertificateError::Revoked => CertificateCheck::Revoked,
            CertificateError::BadSignature => CertificateCheck::BadSignature,
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                CertificateCheck::WrongPurpose
            }
            _ => CertificateCheck::Other,
        }
    }

    /// A short name for messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateCheck::UnknownIssuer => "unknown issuer",
            CertificateCheck::NameMismatch => "host name mismatch",
            CertificateCheck::Expired => "certificate expired",
            CertificateCheck::NotYetValid => "certificate not yet valid",
            CertificateCheck::Revoked => "certificate revoked",
            CertificateCheck::BadSignature => "bad signature",
            CertificateCheck::WrongPurpose => "certificate not for server authentication",
            CertificateCheck::Other => "invalid certificate",
        }
    }
}

/// Why a TLS handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// The server's certificate failed verification.
    Certificate {
        /// Which check failed.
        check: CertificateCheck,
        /// rustls's own description, kept for the details (the names a certificate does
        /// cover, the expiry date).
        error: CertificateError,
    },
    /// Any other TLS failure: an alert from the server, no protocol version or cipher suite
    /// in common, a malformed message, a host name rustls cannot send as SNI.
    Tls(rustls::Error),
    /// The socket failed.
    Io(io::Error),
    /// The server closed the connection in the middle of the handshake (often: it does not
    /// speak TLS on this port, or it rejected our hello without an alert).
    Closed,
    /// The server answered the ClientHello in plain HTTP: the port serves `http://`, not
    /// `https://`.
    NotTls,
}

impl HandshakeError {
    pub(crate) fn from_rustls(error: rustls::Error) -> HandshakeError {
        match error {
            rustls::Error::InvalidCertificate(error) => {
                HandshakeError::Certificate { check: CertificateCheck::of(&error), error }
            }
            other => HandshakeError::Tls(other),
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Certificate { check: CertificateCheck::UnknownIssuer, .. } => f.write_str(
                "certificate verification failed: unknown issuer (the server's certificate chain does not lead \
                 to a trusted root; add its CA with ClientBuilder::add_root_certificates or SSL_CERT_FILE)",
            ),
            HandshakeError::Certificate { check: CertificateCheck::NameMismatch, error } => {
                write!(f, "certificate verification failed: host name mismatch ({error})")
            }
            HandshakeError::Certificate { check, error } => {
                write!(f, "certificate verification failed: {} ({error})", check.as_str())
            }
            HandshakeError::Tls(rustls::Error::AlertReceived(alert)) => {
                write!(f, "the server refused the handshake with the alert {alert:?}")
            }
            HandshakeError::Tls(e) => write!(f, "{e}"),
            HandshakeError::Io(e) => write!(f, "socket error during the handshake: {e}"),
            HandshakeError::Closed => f.write_str("the server closed the connection during the handshake"),
            HandshakeError::NotTls => f.write_str(
                "the server did not speak TLS: it answered in plain HTTP, so this port serves http://, \
                 not https:// (use an http:// URL, or the server's TLS port)",
            ),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // rustls's `CertificateError` is not an `Error` itself; its text is in ours.
            HandshakeError::Certificate { .. } | HandshakeError::Closed | HandshakeError::NotTls => None,
            HandshakeError::Tls(e) => Some(e),
            HandshakeError::Io(e) => Some(e),
        }
    }
}
