//! Tests of the channels against real peers: the recording HTTP receiver of
//! `tidemark_testkit` for webhook, PagerDuty and SMS (bodies checked field by field, failures
//! on purpose), a real SMTP server (aiosmtpd) for email; and their pure parts.

mod email;
mod http;
mod pagerduty;
mod sms;
mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tidemark_alerting::notify::alert::Alert;
use tidemark_alerting::notify::config::{Integration, parse};
use tidemark_alerting::notify::state::{Delivery, NflogKey, Notification};
use tidemark_storage::Labels;

use super::{SendContext, SendError};

/// The time of sending in every test: 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

/// The group key of the notifications built here.
const GROUP_KEY: &str = "{}:{alertname=\"HighLatency\"}";

/// The timeout of integrations that set none, in the tests.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An alert of `HighLatency` on `instance`, firing or resolved at [`NOW_MS`].
fn alert(instance: &str, firing: bool) -> Alert {
    Alert {
        labels: Labels::from_pairs(&[
            ("alertname", "HighLatency"),
            ("instance", instance),
            ("severity", "page"),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), format!("{instance} is slow"))]),
        starts_at_ms: NOW_MS - 600_000,
        ends_at_ms: if firing {
            NOW_MS + 300_000
        } else {
            NOW_MS - 60_000
        },
        generator_url: "http://prometheus.example/graph?g0.expr=up".to_string(),
        updated_at_ms: NOW_MS - 1_000,
        timeout: false,
    }
}

/// A notification of `alerts` to receiver `team-a`, grouped by `alertname`.
fn notification(alerts: Vec<Alert>) -> Notification {
    let fingerprints: BTreeSet<u64> = alerts.iter().map(Alert::fingerprint).collect();
    Notification {
        id: 7,
        nflog: NflogKey {
            group_key: GROUP_KEY.to_string(),
            receiver: "team-a".to_string(),
            kind: "webhook".to_string(),
            integration: 0,
        },
        route_id: "0".to_string(),
        group_labels: BTreeMap::from([("alertname".to_string(), "HighLatency".to_string())]),
        alerts,
        firing: fingerprints,
        resolved: BTreeSet::new(),
        flushed_at_ms: NOW_MS - 1_000,
        attempts: 0,
        last_error: String::new(),
        retry_at_ms: 0,
        delivery: Delivery::Pending,
    }
}

/// A context sending `n` with the notifier's default client.
fn context<'a>(http: &'a reqwest::Client, n: &'a Notification) -> SendContext<'a> {
    SendContext {
        http,
        notification: n,
        external_url: "http://tidemark.example:9090",
        default_timeout: DEFAULT_TIMEOUT,
        now_ms: NOW_MS,
        templates: default_templates(),
    }
}

/// The text of a retryable error; panics (saying what came) otherwise.
fn retry(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Retry(e)) => e,
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

/// The text of a permanent error; panics (saying what came) otherwise.
fn permanent(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Permanent(e)) => e,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

/// The one integration of receiver `team-a` in an `alertmanager.yml` whose receiver holds
/// `integrations` (YAML, flow style: `webhook_configs: [{url: ...}]`), normalised by the
/// configuration's parser as the notifier gets it.
fn integration(integrations: &str) -> Integration {
    let yaml =
        format!("route: {{receiver: team-a}}\nreceivers:\n  - name: team-a\n    {integrations}\n");
    let config = parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    config.receivers["team-a"].integrations[0].clone()
}

/// Alertmanager's default templates, parsed once for every test.
fn default_templates() -> &'static tidemark_alerting::notify::template_data::Templates {
    static TEMPLATES: std::sync::OnceLock<tidemark_alerting::notify::template_data::Templates> =
        std::sync::OnceLock::new();
    TEMPLATES.get_or_init(tidemark_alerting::notify::template_data::Templates::new)
}
