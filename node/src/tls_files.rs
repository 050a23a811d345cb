//! Certificates, keys and CA bundles from PEM files, and [`Reloading`]: a value built from files
//! and built again when any of them changes (looked at no more than once a second, when the
//! value is asked for), so that a rotated certificate (cert-manager, an ACME client, a new CA
//! bundle) is used without a restart. A set of files that does not load keeps the previous
//! value in service and is logged: a certificate and its key written one after the other do
//! not match in between.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files are looked at, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A value built from files, rebuilt when they change.
pub struct Reloading<T> {
    /// What the value is, for the log (`"HTTP TLS certificate"`).
    what: &'static str,
    files: Vec<PathBuf>,
    build: Box<dyn Fn() -> Result<T, String> + Send + Sync>,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: T,
    modified: Vec<Option<SystemTime>>,
    checked: Instant,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("what", &self.what)
            .field("files", &self.files)
            .finish()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl<T: Clone> Reloading<T> {
    /// Builds the value now (an error names the file and what is wrong with it) and follows
    /// `files` from then on.
    pub fn new(
        what: &'static str,
        files: Vec<PathBuf>,
        build: impl Fn() -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let modified_now = files.iter().map(|f| modified(f)).collect();
        let value = build()?;
        Ok(Reloading {
            what,
            files,
            build: Box::new(build),
            state: Mutex::new(State {
                value,
                modified: modified_now,
                checked: Instant::now(),
            }),
        })
    }

    /// The value in service: built again first when a file changed since it was built.
    pub fn current(&self) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let now: Vec<_> = self.files.iter().map(|f| modified(f)).collect();
            if now != state.modified {
                match (self.build)() {
                    Ok(value) => {
                        tracing::info!(files = ?self.files, "{} reloaded", self.what);
                        state.value = value;
                        state.modified = now;
                    }
                    // Looked at again a second later, the files' times unchanged.
                    Err(e) => tracing::warn!(
                        error = %e,
                        "{} not reloaded; the previous one stays in service",
                        self.what
                    ),
                }
            }
        }
        state.value.clone()
    }
}

/// The certificate chain in `path`, the leaf first; `key` names the setting in errors.
pub fn chain(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {shown}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key} {shown}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{key} {shown}: no certificate in it"));
    }
    Ok(chain)
}

/// The private key in `path` (PKCS#8, PKCS#1 or SEC1); `key` names the setting in errors.
pub fn private_key(path: &Path, key: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{key} {}: {e}", path.display()))
}

/// A certificate chain and its key, checked to belong together; `section` names the settings.
pub fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    section: &str,
) -> Result<Arc<CertifiedKey>, String> {
    let chain = chain(cert_file, &format!("{section}.cert_file"))?;
    let key = private_key(key_file, &format!("{section}.key_file"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{section}.key_file {}: {e}", key_file.display()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|e| format!("{section}: the key does not belong to the certificate: {e}"))?;
    Ok(Arc::new(certified))
}

/// The CA certificates in `path`, as trust anchors; `key` names the setting in errors.
pub fn roots(path: &Path, key: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in chain(path, key)? {
        store
            .add(cert)
            .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_changed_file_rebuilds_the_value_and_a_failing_build_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("value");
        std::fs::write(&file, "1").unwrap();
        let builds = Arc::new(AtomicU32::new(0));
        let reloading = {
            let (file, builds) = (file.clone(), builds.clone());
            Reloading::new("test value", vec![file.clone()], move || {
                builds.fetch_add(1, Ordering::Relaxed);
                let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
                text.trim().parse::<u32>().map_err(|e| e.to_string())
            })
            .unwrap()
        };
        assert_eq!(reloading.current(), 1);
        // Unchanged files are not read again.
        std::thread::sleep(RELOAD_CHECK);
        assert_eq!(reloading.current(), 1);
        assert_eq!(builds.load(Ordering::Relaxed), 1);

        let set_mtime = |secs: u64| {
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                .unwrap();
        };
        std::fs::write(&file, "not a number").unwrap();
        set_mtime(1_000);
        std::thread::sleep(RELOAD_CHECK);
        assert_eq!(
            reloading.current(),
            1,
            "a file that does not load changes nothing"
        );
        std::fs::write(&file, "2").unwrap();
        set_mtime(2_000);
        // Not looked at again within the second.
        assert_eq!(reloading.current(), 1);
        std::thread::sleep(RELOAD_CHECK);
        assert_eq!(reloading.current(), 2);
    }
}
