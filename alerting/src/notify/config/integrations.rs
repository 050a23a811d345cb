//! The normalised integrations: every default filled in, every global value a receiver
//! inherits copied into it, so that a sender reads only its own config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `email_configs[].html` when not given (Alertmanager's `DefaultEmailConfig`).
pub const DEFAULT_EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;

/// The `Subject` header when not given (Alertmanager's `DefaultEmailSubject`).
pub const DEFAULT_EMAIL_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;

/// `pagerduty_configs[].description` when not given (Alertmanager's
/// `DefaultPagerdutyConfig`, spacing included).
pub const DEFAULT_PAGERDUTY_DESCRIPTION: &str =
    r#"{{ template "pagerduty.default.description" .}}"#;

/// `pagerduty_configs[].client` when not given.
pub const DEFAULT_PAGERDUTY_CLIENT: &str = r#"{{ template "pagerduty.default.client" . }}"#;

/// `pagerduty_configs[].client_url` when not given.
pub const DEFAULT_PAGERDUTY_CLIENT_URL: &str = r#"{{ template "pagerduty.default.clientURL" . }}"#;

/// `pagerduty_configs[].severity` when not given (Alertmanager's notifier falls back to it
/// when sending).
pub const DEFAULT_PAGERDUTY_SEVERITY: &str = "error";

/// The `details` every PagerDuty event carries unless the config gives the same key
/// (Alertmanager's `DefaultPagerdutyDetails`).
pub const DEFAULT_PAGERDUTY_DETAILS: [(&str, &str); 4] = [
    ("firing", "{{ .Alerts.Firing | toJson }}"),
    ("resolved", "{{ .Alerts.Resolved | toJson }}"),
    ("num_firing", "{{ .Alerts.Firing | len }}"),
    ("num_resolved", "{{ .Alerts.Resolved | len }}"),
];

/// `global.pagerduty_url` when not given: Events API v2.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `webhook_configs` entry: alerts posted as JSON (Alertmanager's webhook payload, version 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// `send_resolved` (default true).
    pub send_resolved: bool,
    /// `url`; may hold a template (Alertmanager 0.29+), rendered when sending.
    pub url: String,
    /// `max_alerts` (0: all).
    pub max_alerts: usize,
    /// `timeout` in ms (0: none but the sender's own bound).
    pub timeout_ms: i64,
    /// `http_config`, or `global.http_config` when not given.
    pub http_config: HttpConfig,
}

/// `email_configs` entry, with `global.smtp_*` filled in where it gives nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailConfig {
    /// `send_resolved` (default false).
    pub send_resolved: bool,
    /// `to` (required; a template).
    pub to: String,
    /// `from`, else `global.smtp_from` (one is required).
    pub from: String,
    /// `hello`, else `global.smtp_hello` (default `localhost`).
    pub hello: String,
    /// `smarthost`, else `global.smtp_smarthost` (one is required).
    pub smarthost: HostPort,
    /// `auth_username`, else `global.smtp_auth_username` (empty: no authentication).
    pub auth_username: String,
    /// `auth_password`, else `global.smtp_auth_password`.
    pub auth_password: String,
    /// `auth_identity`, else `global.smtp_auth_identity` (PLAIN).
    pub auth_identity: String,
    /// `auth_secret`, else `global.smtp_auth_secret` (CRAM-MD5).
    pub auth_secret: String,
    /// `require_tls`, else `global.smtp_require_tls` (default true): STARTTLS is required.
    pub require_tls: bool,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `headers`, names in canonical MIME form (`message-id` is `Message-Id`), with
    /// `Subject`, `To` and `From` added when not given, as Alertmanager's email notifier adds
    /// them (the default subject template, `to`, `from`). Values are templates.
    pub headers: BTreeMap<String, String>,
    /// `html` (default [`DEFAULT_EMAIL_HTML`]; empty: no HTML part).
    pub html: String,
    /// `text` (default empty: no text part).
    pub text: String,
}

/// An SMTP server's `host:port` (Go's `net.SplitHostPort`; the port may be a service name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPort {
    /// The host (an IPv6 address without its brackets).
    pub host: String,
    /// The port (never empty).
    pub port: String,
}

impl HostPort {
    /// Parses `host:port` (`[::1]:25` for IPv6) as Go's `net.SplitHostPort` does, and refuses
    /// an empty port as Alertmanager does.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let missing_port = || format!("address {text:?}: missing port in address");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("address {text:?}: missing ']' in address"))?;
            let port = after.strip_prefix(':').ok_or_else(missing_port)?;
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(missing_port)?;
            if host.contains(':') {
                return Err(format!("address {text:?}: too many colons in address"));
            }
            (host, port)
        };
        if host.contains(['[', ']']) || port.contains(['[', ']']) {
            return Err(format!("address {text:?}: unexpected bracket in address"));
        }
        if port.is_empty() {
            return Err(format!("address {text:?}: port cannot be empty"));
        }
        Ok(HostPort {
            host: host.to_string(),
            port: port.to_string(),
        })
    }
}

impl std::fmt::Display for HostPort {
    /// `host:port`, an IPv6 host in brackets (Go's `net.JoinHostPort`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `pagerduty_configs` entry: PagerDuty's Events API v2 (v1's `service_key` is refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagerdutyConfig {
    /// `send_resolved` (default true).
    pub send_resolved: bool,
    /// `routing_key` (required): the integration key.
    pub routing_key: String,
    /// `url`, else `global.pagerduty_url` ([`DEFAULT_PAGERDUTY_URL`]).
    pub url: String,
    /// `client` (default [`DEFAULT_PAGERDUTY_CLIENT`]).
    pub client: String,
    /// `client_url` (default [`DEFAULT_PAGERDUTY_CLIENT_URL`]).
    pub client_url: String,
    /// `description` (default [`DEFAULT_PAGERDUTY_DESCRIPTION`]).
    pub description: String,
    /// `details`, with [`DEFAULT_PAGERDUTY_DETAILS`] added for keys not given. Strings in it
    /// are templates.
    pub details: BTreeMap<String, DetailValue>,
    /// `severity` (default [`DEFAULT_PAGERDUTY_SEVERITY`]).
    pub severity: String,
    /// `class`.
    pub class: String,
    /// `component`.
    pub component: String,
    /// `group`.
    pub group: String,
    /// `links`.
    pub links: Vec<PagerdutyLink>,
    /// `images`.
    pub images: Vec<PagerdutyImage>,
    /// `source` (default: `client`, as given or defaulted).
    pub source: String,
    /// `timeout` in ms (0: none but the sender's own bound).
    pub timeout_ms: i64,
    /// `http_config`, or `global.http_config` when not given.
    pub http_config: HttpConfig,
}

/// A `pagerduty_configs[].links` entry (templates).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerdutyLink {
    /// `href`.
    pub href: String,
    /// `text`.
    pub text: String,
}

/// A `pagerduty_configs[].images` entry (templates).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerdutyImage {
    /// `src`.
    pub src: String,
    /// `alt`.
    pub alt: String,
    /// `href`.
    pub href: String,
}

/// A value of `pagerduty_configs[].details` as written in YAML (Alertmanager keeps any YAML
/// value there and renders the strings in it as templates). Its own type rather than a JSON
/// value: the stored form (bincode) cannot read a self-describing value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DetailValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Another number.
    Float(f64),
    /// A string: a template.
    Text(String),
    /// A list.
    List(Vec<DetailValue>),
    /// A map (keys as text).
    Map(BTreeMap<String, DetailValue>),
}

/// `sms_configs` entry (Tidemark's own integration, not Alertmanager's): an SMS or phone
/// gateway reached over HTTP, so that any provider can be plugged in. `body` is sent as JSON
/// or as a form (`application/x-www-form-urlencoded`); with `GET`, it is the URL's query
/// string instead.
///
/// ```yaml
/// sms_configs:
///   - url: https://sms.example.com/send
///     headers: {X-Api-Key: secret}
///     body:
///       to: "+15551234"
///       message: '{{ template "sms.default.message" . }}'
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmsConfig {
    /// `send_resolved` (default false).
    pub send_resolved: bool,
    /// `url` (required; http or https).
    pub url: String,
    /// `method` (default `POST`).
    pub method: SmsMethod,
    /// `headers`: extra request headers (values are templates).
    pub headers: BTreeMap<String, String>,
    /// `body_format` (default `json`).
    pub body_format: SmsBodyFormat,
    /// `body`: field name and template, in the order written (required, not empty).
    pub body: Vec<(String, String)>,
    /// `timeout` in ms (0: none but the sender's own bound).
    pub timeout_ms: i64,
    /// `http_config`, or `global.http_config` when not given.
    pub http_config: HttpConfig,
}

/// `sms_configs[].method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsMethod {
    /// `POST` (the default).
    Post,
    /// `PUT`.
    Put,
    /// `GET`: the body's fields go in the query string.
    Get,
}

/// `sms_configs[].body_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsBodyFormat {
    /// `json` (the default): a JSON object of strings.
    Json,
    /// `form`: `application/x-www-form-urlencoded`.
    Form,
}

/// `http_config`: the subset of Prometheus' `HTTPClientConfig` Tidemark supports.
/// `bearer_token` is held as an [`Authorization`] of type `Bearer`, as Prometheus holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`, or `bearer_token`.
    pub authorization: Option<Authorization>,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `follow_redirects` (default true).
    pub follow_redirects: bool,
}

impl Default for HttpConfig {
    /// Prometheus' `DefaultHTTPClientConfig`: redirects followed, nothing else.
    fn default() -> Self {
        HttpConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
        }
    }
}

/// `http_config.basic_auth`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
}

/// `http_config.authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// `type` (default `Bearer`; `Basic` is refused, as Prometheus refuses it).
    pub type_: String,
    /// `credentials`.
    pub credentials: String,
}

/// `tls_config` (of `http_config`, or of an email config).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// `server_name` (empty: the host connected to).
    pub server_name: String,
    /// `ca`: PEM text of the CA certificates to trust (email only; empty: the system's).
    pub ca: String,
}
