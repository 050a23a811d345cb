//! `alertmanager.yml` for the features Tidemark's notifier supports, parsed and validated
//! into a normalised, serialisable form: the form stored (bincode) in the ruler group, so
//! every replica's notifier reads the same thing. Normalised means defaults filled in
//! (Alertmanager 0.33's), the routing tree's inherited options resolved (`dispatch/route.go`
//! `NewRoute`), the `global` values a receiver inherits copied into it, and the deprecated
//! `match`/`match_re` and `mute_time_intervals` folded into `matchers` and `time_intervals`.
//!
//! What Alertmanager accepts and Tidemark does not is refused by name, never ignored:
//! `receivers[2].slack_configs: not supported by Tidemark's notifier`. That covers the
//! integrations other than webhook, email and PagerDuty (Events API v2), every `*_file` field
//! (files are node-local, the notifier runs on whichever node leads), proxies and OAuth2 in
//! `http_config` and `tracing`. `templates` are file globs whose contents travel with the
//! configuration (the notifier reads no file). Errors say where: serde's path and line for what does not decode, the field's path
//! (`route.routes[1].group_interval: cannot be zero`) for what does not validate; all of them
//! are told, one a line. Tidemark adds one integration of its own, `sms_configs`
//! ([`SmsConfig`]).
//!
//! - `yaml.rs`, `yaml/integrations.rs`: the file as written (serde, unknown fields refused).
//! - `fields.rs`: what the YAML layer is built from (refused fields, scalars, Go durations).
//! - `build.rs`: decoding, `global`, `inhibit_rules`, `time_intervals`, the checks' errors.
//! - `receivers.rs`: `receivers` and their integrations, with `global`'s defaults.
//! - `routes.rs`: the routing tree: inheritance, Alertmanager's checks and warnings.
//! - `integrations.rs`: the normalised integrations and their defaults.

mod build;
mod fields;
mod files;
mod integrations;
mod mask;
mod receivers;
mod routes;
mod yaml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::matcher::Matcher;
use super::time_interval::NamedTimeInterval;

pub use files::read_template_globs;
pub use integrations::{
    Authorization, BasicAuth, DEFAULT_EMAIL_HTML, DEFAULT_EMAIL_SUBJECT, DEFAULT_PAGERDUTY_CLIENT,
    DEFAULT_PAGERDUTY_CLIENT_URL, DEFAULT_PAGERDUTY_DESCRIPTION, DEFAULT_PAGERDUTY_DETAILS,
    DEFAULT_PAGERDUTY_SEVERITY, DEFAULT_PAGERDUTY_URL, DetailValue, EmailConfig, HostPort,
    HttpConfig, PagerdutyConfig, PagerdutyImage, PagerdutyLink, SmsBodyFormat, SmsConfig,
    SmsMethod, TlsConfig, WebhookConfig,
};
pub use mask::masked;

/// `global.resolve_timeout` when not given: 5m.
pub const DEFAULT_RESOLVE_TIMEOUT_MS: i64 = 5 * 60_000;
/// `route.group_wait` when not given: 30s.
pub const DEFAULT_GROUP_WAIT_MS: i64 = 30_000;
/// `route.group_interval` when not given: 5m.
pub const DEFAULT_GROUP_INTERVAL_MS: i64 = 5 * 60_000;
/// `route.repeat_interval` when not given: 4h.
pub const DEFAULT_REPEAT_INTERVAL_MS: i64 = 4 * 3_600_000;

/// A parsed and validated notifier configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifierConfig {
    /// `global:` with Alertmanager's defaults filled in.
    pub global: GlobalConfig,
    /// The routing tree's root.
    pub route: Route,
    /// `inhibit_rules:`.
    pub inhibit_rules: Vec<InhibitRule>,
    /// `receivers:` by name.
    pub receivers: BTreeMap<String, Receiver>,
    /// `time_intervals:` and the older `mute_time_intervals:`, by name.
    pub time_intervals: BTreeMap<String, NamedTimeInterval>,
    /// `templates:` (file globs, relative to the configuration file). The notifier reads no
    /// file: their contents travel with the configuration (`StoredConfig::template_files`,
    /// read by whoever imports it: a node's `--notifier-config`, `tidemarkctl notifier set`).
    pub templates: Vec<String>,
}

impl NotifierConfig {
    /// Alertmanager's warnings about this configuration (logged when it loads one), each
    /// naming the route: `repeat_interval` less than `group_interval`, and `repeat_interval`
    /// longer than `retention_ms`, how long the notification log keeps an entry
    /// (Alertmanager's `--data.retention`, 120h by default).
    pub fn warnings(&self, retention_ms: i64) -> Vec<String> {
        routes::warnings(&self.route, retention_ms)
    }
}

/// `global:`. What receivers inherit from it is already copied into them; it is kept for
/// what reads the configuration back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalConfig {
    /// `resolve_timeout` (default 5m): the `endsAt` given to an alert posted without one.
    pub resolve_timeout_ms: i64,
    /// `http_config` (default: redirects followed, nothing else): the `http_config` of a
    /// webhook, PagerDuty or SMS config that gives none.
    pub http_config: HttpConfig,
    /// `smtp_from` (empty: none).
    pub smtp_from: String,
    /// `smtp_hello` (default `localhost`).
    pub smtp_hello: String,
    /// `smtp_smarthost`.
    pub smtp_smarthost: Option<HostPort>,
    /// `smtp_auth_username`.
    pub smtp_auth_username: String,
    /// `smtp_auth_password`.
    pub smtp_auth_password: String,
    /// `smtp_auth_identity`.
    pub smtp_auth_identity: String,
    /// `smtp_auth_secret`.
    pub smtp_auth_secret: String,
    /// `smtp_require_tls` (default true).
    pub smtp_require_tls: bool,
    /// `pagerduty_url` (default [`DEFAULT_PAGERDUTY_URL`]).
    pub pagerduty_url: String,
}

impl Default for GlobalConfig {
    /// Alertmanager's `DefaultGlobalConfig`, for what Tidemark supports.
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout_ms: DEFAULT_RESOLVE_TIMEOUT_MS,
            http_config: HttpConfig::default(),
            smtp_from: String::new(),
            smtp_hello: "localhost".to_string(),
            smtp_smarthost: None,
            smtp_auth_username: String::new(),
            smtp_auth_password: String::new(),
            smtp_auth_identity: String::new(),
            smtp_auth_secret: String::new(),
            smtp_require_tls: true,
            pagerduty_url: DEFAULT_PAGERDUTY_URL.to_string(),
        }
    }
}

/// How a route groups alerts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label; one group per alert.
    All,
    /// These labels (possibly none: one group for the route).
    Labels(Vec<String>),
}

/// A node of the routing tree, with inherited options resolved (Alertmanager inherits
/// `receiver`, `group_by` and the three timings from the parent; the time intervals are not
/// inherited).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The receiver's name.
    pub receiver: String,
    /// `group_by`.
    pub group_by: GroupBy,
    /// `matchers` (with `match`/`match_re` converted), sorted as Alertmanager sorts them
    /// (by name, then value, then kind).
    pub matchers: Vec<Matcher>,
    /// `continue`.
    pub continue_matching: bool,
    /// `group_wait` (default 30s).
    pub group_wait_ms: i64,
    /// `group_interval` (default 5m).
    pub group_interval_ms: i64,
    /// `repeat_interval` (default 4h).
    pub repeat_interval_ms: i64,
    /// `mute_time_intervals` by name.
    pub mute_time_intervals: Vec<String>,
    /// `active_time_intervals` by name.
    pub active_time_intervals: Vec<String>,
    /// Child routes in order.
    pub routes: Vec<Route>,
}

/// `inhibit_rules:` entry (`source_match*`/`target_match*` converted to matchers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InhibitRule {
    /// `name` (optional, empty when not given; Alertmanager uses it in logs and metrics).
    pub name: String,
    /// Alerts that inhibit, sorted as a route's matchers are.
    pub source_matchers: Vec<Matcher>,
    /// Alerts that are inhibited, sorted as a route's matchers are.
    pub target_matchers: Vec<Matcher>,
    /// Labels whose values must be equal in source and target.
    pub equal: Vec<String>,
}

/// A receiver and its integrations, in Alertmanager's order (per kind, in the order listed).
/// A receiver without integrations is valid: it drops what reaches it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    /// Its name.
    pub name: String,
    /// Its integrations: every webhook config, then every email config, every PagerDuty
    /// config (Alertmanager's `BuildReceiverIntegrations` order), then every SMS config.
    pub integrations: Vec<Integration>,
}

impl Receiver {
    /// Each integration with its index among those of its kind (Alertmanager's
    /// `Integration.Index`, which the notification log's key holds).
    pub fn indexed(&self) -> impl Iterator<Item = (usize, &Integration)> {
        self.integrations
            .iter()
            .enumerate()
            .map(|(i, integration)| {
                let before = self.integrations[..i]
                    .iter()
                    .filter(|other| other.kind() == integration.kind())
                    .count();
                (before, integration)
            })
    }

    /// The `index`th integration of kind `kind` (how the notification log and the outbox
    /// name an integration, so that removing one of another kind renames none).
    pub fn integration(&self, kind: &str, index: usize) -> Option<&Integration> {
        self.indexed()
            .find(|(i, integration)| *i == index && integration.kind() == kind)
            .map(|(_, integration)| integration)
    }
}

/// One integration of a receiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Integration {
    /// `webhook_configs` entry.
    Webhook(WebhookConfig),
    /// `email_configs` entry.
    Email(EmailConfig),
    /// `pagerduty_configs` entry.
    Pagerduty(PagerdutyConfig),
    /// `sms_configs` entry (Tidemark's own).
    Sms(SmsConfig),
}

impl Integration {
    /// Whether resolved notifications are sent (`send_resolved`).
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.send_resolved,
            Integration::Email(e) => e.send_resolved,
            Integration::Pagerduty(p) => p.send_resolved,
            Integration::Sms(s) => s.send_resolved,
        }
    }

    /// The kind's name as Alertmanager's metrics and nflog spell it (`webhook`, `email`,
    /// `pagerduty`; `sms` for Tidemark's own).
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Sms(_) => "sms",
        }
    }
}

/// Parses and validates `yaml` (an `alertmanager.yml`). The error lists every problem found,
/// one a line, each starting with where it is.
pub fn parse(yaml: &str) -> Result<NotifierConfig, String> {
    build::parse(yaml)
}

#[cfg(test)]
mod tests;
