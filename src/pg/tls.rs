//! `sslmode`: encrypting a Postgres connection — asyncpg's `_negotiate_ssl_connection` and
//! libpq's `sslmode` semantics, on the same rustls handshake and stream as rasgi's HTTPS
//! client (`rasgi_http::tls`).
//!
//! PostgreSQL speaks TLS on its ordinary port, after an 8-byte SSLRequest (length 8, code
//! 80877103) that the server answers with one unencrypted byte: `S` (go ahead with the
//! handshake) or `N` (no TLS here). What each mode then does:
//!
//! | sslmode | asks for TLS | on `N` | certificate checks |
//! |---|---|---|---|
//! | `disable` | never | — | — |
//! | `allow` | only after a plain login was refused | fail | none |
//! | `prefer` (default) | yes | go on unencrypted | none |
//! | `require` | yes | fail | none, or the chain when `sslrootcert` is given (as libpq) |
//! | `verify-ca` | yes | fail | the chain leads to a trusted CA |
//! | `verify-full` | yes | fail | the chain, and the certificate names the host |
//!
//! Trusted CAs are `sslrootcert` when given, else the Mozilla roots of `webpki-roots`.
//! `sslcert` + `sslkey` present a client certificate (for `clientcert=verify-full` in
//! `pg_hba.conf`).
//!
//! Over TLS, SCRAM-SHA-256-PLUS binds the login to the channel: the client proves it sees the
//! same server certificate as the server it authenticates to, so a man in the middle holding
//! another certificate cannot relay the login. The binding data (`tls-server-end-point`, RFC
//! 5929) is a hash of the server's certificate, with the hash of its signature algorithm
//! (SHA-256 for SHA-1 and MD5).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rasgi_http::tls::{load_pem_file, CertificateCheck};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::pg::config::{Config, SslMode};
use crate::pg::error::PgError;

/// How much of the server's certificate the handshake checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Nothing: encryption against passive eavesdroppers only.
    Nothing,
    /// The chain must lead to a trusted CA; any name.
    Chain,
    /// The chain, and the host name.
    ChainAndName,
}

/// The rustls configuration for `config`'s sslmode and files, and the name to send as SNI.
pub(crate) fn client_config(config: &Config) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), PgError> {
    let check = match (config.ssl_mode, &config.ssl_root_cert) {
        (SslMode::VerifyFull, _) => Check::ChainAndName,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Chain,
        _ => Check::Nothing,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &config.ssl_root_cert {
        Some(path) => {
            for cert in load_pem_file(path).map_err(|e| tls_error(format!("sslrootcert: {e}")))? {
                roots.add(cert).map_err(|e| tls_error(format!("sslrootcert {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_error(format!("cannot build the certificate verifier: {e}")))?;
    let verifier = Arc::new(Verifier { check, webpki, provider: provider.clone() });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let tls = match (&config.ssl_cert, &config.ssl_key) {
        (Some(cert), Some(key)) => {
            let chain = load_pem_file(cert).map_err(|e| tls_error(format!("sslcert: {e}")))?;
            let key = read_key(key)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| tls_error(format!("sslcert/sslkey: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(tls_error("sslcert and sslkey go together: give both, or neither".to_string())),
    };
    let name = ServerName::try_from(config.host.clone())
        .map_err(|e| tls_error(format!("the host {:?} cannot be checked against a certificate: {e}", config.host)))?;
    Ok((Arc::new(tls), name))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PgError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| tls_error(format!("sslkey {}: {e}", path.display())))
}

fn tls_error(message: String) -> PgError {
    PgError::Tls(message)
}

/// rustls's web PKI verifier, with the checks the sslmode leaves out switched off.
struct Verifier {
    /// What the sslmode asks for.
    check: Check,
    /// The full check: chain, validity dates, and name.
    webpki: Arc<WebPkiServerVerifier>,
    /// For the handshake signatures, which are checked in every mode: they prove the server
    /// holds the key of the certificate it sent.
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("check", &self.check).finish_non_exhaustive()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.check == Check::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // verify-ca: a trusted chain issued for another name is accepted.
            Err(rustls::Error::InvalidCertificate(error))
                if self.check == Check::Chain && CertificateCheck::of(&error) == CertificateCheck::NameMismatch =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The `tls-server-end-point` channel binding data of a server certificate (RFC 5929 §4.1):
/// its hash under the hash of its own signature algorithm, SHA-256 standing in for MD5 and
/// SHA-1. `None` for an algorithm rasgi has no hash for (SHA-512), or a certificate it
/// cannot read: SCRAM then runs without the binding, as libpq does.
pub(crate) fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    use rustls::crypto::ring::cipher_suite::{TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384};
    let suite = match signature_oid(cert)? {
        oid if SHA384_OIDS.contains(&oid) => TLS13_AES_256_GCM_SHA384,
        oid if SHA512_OIDS.contains(&oid) => return None,
        _ => TLS13_AES_128_GCM_SHA256,
    };
    // The ring provider's hash, reached through a cipher suite that uses it: rasgi has no
    // other SHA-2 code at hand, and rustls is already here.
    Some(suite.tls13()?.common.hash_provider.hash(cert).as_ref().to_vec())
}

/// sha384WithRSAEncryption, ecdsa-with-SHA384 (DER contents of the OIDs).
const SHA384_OIDS: &[&[u8]] =
    &[&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c], &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]];
/// sha512WithRSAEncryption, ecdsa-with-SHA512.
const SHA512_OIDS: &[&[u8]] =
    &[&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d], &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04]];

/// The OID of a certificate's outer `signatureAlgorithm`:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, .. }, .. }`.
fn signature_oid(cert: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der_item(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _tbs, rest) = der_item(certificate)?;
    let (tag, algorithm, _) = der_item(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_item(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// One DER item: (tag, contents, what follows it).
fn der_item(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |n, &b| (n << 8) | b as usize);
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}
