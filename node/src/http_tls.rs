//! TLS for the HTTP API (`http_tls:`), with rustls: a certificate chain and key from PEM files,
//! read again when either file changes (looked at no more than once a second, at a handshake),
//! so that a rotated certificate (cert-manager, an ACME client) is served without a restart. A
//! file that does not load keeps the previous certificate in service and is logged. The node
//! refuses to start when the files do not load at start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// How often the files are looked at, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Where the HTTP API's certificate and key are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    /// PEM certificate chain, the server's certificate first (`--http-tls-cert-file`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 or SEC1 (`--http-tls-key-file`).
    pub key_file: PathBuf,
}

/// The certificate in service and what it was loaded from.
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// A certificate resolver that follows its files.
pub struct ReloadingCert {
    files: HttpTlsConfig,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Loads the certificate chain and key of `files`.
fn load(files: &HttpTlsConfig) -> Result<Arc<CertifiedKey>, String> {
    let cert = files.cert_file.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| format!("http_tls.cert_file {cert}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("http_tls.cert_file {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("http_tls.cert_file {cert}: no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .map_err(|e| format!("http_tls.key_file {}: {e}", files.key_file.display()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("http_tls.key_file {}: {e}", files.key_file.display()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|e| format!("http_tls: the key does not belong to the certificate: {e}"))?;
    Ok(Arc::new(certified))
}

impl ReloadingCert {
    /// Loads `files` now (an error names the file and what is wrong with it).
    pub fn new(files: HttpTlsConfig) -> Result<Self, String> {
        let key = load(&files)?;
        let modified = (modified(&files.cert_file), modified(&files.key_file));
        Ok(ReloadingCert {
            files,
            loaded: Mutex::new(Loaded {
                key,
                modified,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to serve: reloaded first when its files changed.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.checked.elapsed() >= RELOAD_CHECK {
            loaded.checked = Instant::now();
            let now = (
                modified(&self.files.cert_file),
                modified(&self.files.key_file),
            );
            if now != loaded.modified {
                match load(&self.files) {
                    Ok(key) => {
                        tracing::info!(cert = %self.files.cert_file.display(), "HTTP TLS certificate reloaded");
                        loaded.key = key;
                        loaded.modified = now;
                    }
                    // Kept for the next look: a certificate and key written one after the
                    // other do not match in between.
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTP TLS certificate not reloaded; serving the previous one")
                    }
                }
            }
        }
        loaded.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
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
