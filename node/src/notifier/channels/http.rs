//! The HTTP clients of the integrations that speak HTTP (webhook, PagerDuty, SMS): one
//! `reqwest` client per distinct `http_config`, kept so that connections are reused between
//! notifications, and the per-request parts (authorization, timeout, `User-Agent:
//! Tidemark/<version>`) applied to each request.
//!
//! What `http_config` maps to, as Prometheus' `HTTPClientConfig` does it:
//! - `basic_auth`: `Authorization: Basic ...`; `authorization` (or `bearer_token`):
//!   `Authorization: <type> <credentials>`, which wins over `basic_auth` (the configuration
//!   refuses both at once).
//! - `follow_redirects`: up to 10 redirects (Go's default), or none.
//! - `tls_config.insecure_skip_verify`: no certificate check at all.
//! - `tls_config.server_name`: the certificate is checked against this name instead of the
//!   URL's host. reqwest sends the URL's host in SNI whatever the TLS config says, so unlike
//!   Go only the check changes, not the name the server is told.
//! - `tls_config.ca` (refused by the configuration for HTTP today): trusted in addition to
//!   the Mozilla roots when given.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tidemark_alerting::notify::config::{HttpConfig, TlsConfig};

use super::SendContext;

/// How many distinct `http_config`s keep a client; the oldest is dropped past it (a new
/// configuration rarely leaves more than a few behind).
const CLIENTS_MAX: usize = 64;

/// The most redirects followed (Go's `http.Client` default).
const REDIRECTS_MAX: usize = 10;

/// What the notifier's requests say they come from (Alertmanager sends
/// `Alertmanager/<version>`).
pub const USER_AGENT_VALUE: &str = concat!("Tidemark/", env!("CARGO_PKG_VERSION"));

/// The clients built so far, oldest first.
static CLIENTS: OnceLock<Mutex<Vec<(HttpConfig, reqwest::Client)>>> = OnceLock::new();

/// What sends one integration's requests: the shared client of its `http_config`, its
/// `Authorization` header and its timeout.
pub struct HttpClient {
    client: reqwest::Client,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl HttpClient {
    /// The client for `config`, with the integration's `timeout_ms` (0 or less: the
    /// context's default). An error says what in `config` cannot be used (a bad
    /// configuration: trying again does not help).
    pub fn new(
        config: &HttpConfig,
        timeout_ms: i64,
        ctx: &SendContext<'_>,
    ) -> Result<HttpClient, String> {
        let client = shared_client(config, ctx)?;
        let authorization = authorization(config)?;
        let timeout = if timeout_ms > 0 {
            Duration::from_millis(timeout_ms as u64)
        } else {
            ctx.default_timeout
        };
        Ok(HttpClient {
            client,
            authorization,
            timeout,
        })
    }

    /// A request to `url` with the authorization, the timeout and the user agent applied.
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        let req = self
            .client
            .request(method, url)
            .timeout(self.timeout)
            .header(USER_AGENT, USER_AGENT_VALUE);
        match &self.authorization {
            Some(value) => req.header(AUTHORIZATION, value.clone()),
            None => req,
        }
    }

    /// The timeout each request gets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The `Authorization` header `config` asks for, if any.
fn authorization(config: &HttpConfig) -> Result<Option<HeaderValue>, String> {
    let text = if let Some(a) = &config.authorization {
        let type_ = if a.type_.is_empty() {
            "Bearer"
        } else {
            &a.type_
        };
        format!("{type_} {}", a.credentials)
    } else if let Some(b) = &config.basic_auth {
        let pair = format!("{}:{}", b.username, b.password);
        format!("Basic {}", base64(pair.as_bytes()))
    } else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| "http_config: the authorization is not a valid header value".to_string())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The cached client for `config`, built on first use. The default configuration uses the
/// notifier's own client (`ctx.http`), which is the same thing.
fn shared_client(config: &HttpConfig, ctx: &SendContext<'_>) -> Result<reqwest::Client, String> {
    if *config == HttpConfig::default() {
        return Ok(ctx.http.clone());
    }
    let clients = CLIENTS.get_or_init(|| Mutex::new(Vec::new()));
    let found = lock(clients)
        .iter()
        .find(|(c, _)| c == config)
        .map(|(_, client)| client.clone());
    if let Some(client) = found {
        return Ok(client);
    }
    // Built outside the lock: two senders may build the same client, one is kept.
    let client = build_client(config)?;
    let mut clients = lock(clients);
    if let Some((_, kept)) = clients.iter().find(|(c, _)| c == config) {
        return Ok(kept.clone());
    }
    if clients.len() >= CLIENTS_MAX {
        clients.remove(0);
    }
    clients.push((config.clone(), client.clone()));
    Ok(client)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new client for `config` (authorization and timeout excepted: they go on each request).
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client, String> {
    let redirects = if config.follow_redirects {
        reqwest::redirect::Policy::limited(REDIRECTS_MAX)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut builder = reqwest::Client::builder().redirect(redirects);
    let tls = &config.tls_config;
    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    } else if !tls.server_name.is_empty() {
        builder = builder.use_preconfigured_tls(server_name_tls(tls)?);
    } else if !tls.ca.is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(tls.ca.as_bytes())
            .map_err(|e| format!("http_config.tls_config.ca: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("http_config: no HTTP client: {}", super::error_chain(&e)))
}

/// A rustls configuration that checks the server's certificate against `tls.server_name`
/// (and the Mozilla roots, plus `tls.ca` when given).
fn server_name_tls(tls: &TlsConfig) -> Result<rustls::ClientConfig, String> {
    let what = "http_config.tls_config";
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in CertificateDer::pem_slice_iter(tls.ca.as_bytes()) {
        let cert = cert.map_err(|e| format!("{what}.ca: {e}"))?;
        roots.add(cert).map_err(|e| format!("{what}.ca: {e}"))?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("{what}: {e}"))?;
    let name = ServerName::try_from(tls.server_name.clone())
        .map_err(|e| format!("{what}.server_name {:?}: {e}", tls.server_name))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{what}: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NamedVerifier { inner, name }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks certificates as usual, against a fixed name rather than the URL's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
