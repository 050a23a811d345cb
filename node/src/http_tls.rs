//! TLS for the HTTP API (`http_tls:`), with rustls: a certificate chain and key from PEM files,
//! read again when either file changes ([`Reloading`]), so that a rotated certificate
//! (cert-manager, an ACME client) is served without a restart. The node refuses to start when
//! the files do not load at start.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use crate::tls_files::{self, Reloading};

/// Where the HTTP API's certificate and key are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    /// PEM certificate chain, the server's certificate first (`--http-tls-cert-file`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 or SEC1 (`--http-tls-key-file`).
    pub key_file: PathBuf,
}

/// A certificate resolver that follows its files.
#[derive(Debug)]
pub struct ReloadingCert(Reloading<Arc<CertifiedKey>>);

impl ReloadingCert {
    /// Loads `files` now (an error names the file and what is wrong with it).
    pub fn new(files: HttpTlsConfig) -> Result<Self, String> {
        let paths = vec![files.cert_file.clone(), files.key_file.clone()];
        Reloading::new("HTTP TLS certificate", paths, move || {
            tls_files::certified_key(&files.cert_file, &files.key_file, "http_tls")
        })
        .map(ReloadingCert)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

/// The acceptor of the HTTP API over `files`: HTTP/1.1 by ALPN, TLS 1.2 and 1.3.
pub fn acceptor(files: &HttpTlsConfig) -> Result<tokio_rustls::TlsAcceptor, String> {
    let resolver = ReloadingCert::new(files.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("http_tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
