//! The integrations a receiver sends through, one module per kind, each answering delivered
//! or a [`SendError`] that says whether trying again can help.
//!
//! - `webhook.rs`: Alertmanager's webhook message, version 4.
//! - `pagerduty.rs`: PagerDuty's Events API v2, as Alertmanager sends it.
//! - `sms.rs`: Tidemark's SMS/phone gateway over HTTP (JSON, form or query string).
//! - `email.rs`: email over SMTP (implicit TLS or STARTTLS, AUTH), as Alertmanager sends it.
//! - `http.rs`: the HTTP clients of the first three, one per distinct `http_config`.
//!
//! Every error names the integration, the receiver and where it was sending
//! (`webhook for receiver "ops" (http://hooks.example.com/alert): unexpected status 503
//! Service Unavailable: ...`), with at most [`ANSWER_EXCERPT_BYTES`] of the answer. What
//! may pass is [`SendError::Retry`] (no connection, a timeout, 5xx, 429; SMTP 4xx), what
//! will not is [`SendError::Permanent`] (other statuses, SMTP 5xx, a configuration or
//! template that cannot work).

mod email;
mod http;
mod pagerduty;
mod sms;
mod webhook;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use tidemark_alerting::notify::alert::{Alert, fingerprint_hex};
use tidemark_alerting::notify::config::Integration;
use tidemark_alerting::notify::state::Notification;
use tidemark_alerting::notify::template_data::{
    AlertData, NotificationData, NotificationReason, Status, Templates,
};

/// How much of a refusing answer an error quotes, in bytes.
pub const ANSWER_EXCERPT_BYTES: usize = 512;

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A failure that may pass (connection refused, timeout, 5xx, 429).
    #[error("{0}")]
    Retry(String),
    /// A refusal that will not change by trying again (4xx, a bad configuration).
    #[error("{0}")]
    Permanent(String),
}

/// What every integration needs to send one notification.
pub struct SendContext<'a> {
    /// The HTTP client (that of an integration whose `http_config` is the default).
    pub http: &'a reqwest::Client,
    /// The notification.
    pub notification: &'a Notification,
    /// The notifier's URL (`externalURL`).
    pub external_url: &'a str,
    /// The timeout of an integration that sets none.
    pub default_timeout: Duration,
    /// The time of sending (alerts' status is computed at it).
    pub now_ms: i64,
    /// The templates texts are rendered with: Alertmanager's defaults and the
    /// configuration's template files.
    pub templates: &'a Templates,
}

/// Sends `ctx.notification` through `integration`.
pub async fn send(integration: &Integration, ctx: &SendContext<'_>) -> Result<(), SendError> {
    match integration {
        Integration::Webhook(w) => webhook::send(w, ctx).await,
        Integration::Email(e) => email::send(e, ctx).await,
        Integration::Pagerduty(p) => pagerduty::send(p, ctx).await,
        Integration::Sms(s) => sms::send(s, ctx).await,
    }
}

/// Who a send is for, as its errors name it: the kind, the receiver and, once known, where
/// it goes (a URL without its credentials and query, or an SMTP `host:port`).
#[derive(Clone, Debug)]
struct Target {
    kind: &'static str,
    receiver: String,
    place: String,
}

impl Target {
    /// The integration `kind` of the receiver of `ctx`'s notification.
    fn new(kind: &'static str, ctx: &SendContext<'_>) -> Target {
        Target {
            kind,
            receiver: ctx.notification.nflog.receiver.clone(),
            place: String::new(),
        }
    }

    /// The same, sending to `place`.
    fn at(mut self, place: impl Into<String>) -> Target {
        self.place = place.into();
        self
    }

    /// The same, sending to `url` (shown without credentials and query).
    fn at_url(self, url: &reqwest::Url) -> Target {
        self.at(url_for_errors(url))
    }

    /// A failure that may pass.
    fn retry(&self, detail: impl fmt::Display) -> SendError {
        SendError::Retry(format!("{self}: {detail}"))
    }

    /// A failure that will not pass.
    fn permanent(&self, detail: impl fmt::Display) -> SendError {
        SendError::Permanent(format!("{self}: {detail}"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for receiver {:?}", self.kind, self.receiver)?;
        if !self.place.is_empty() {
            write!(f, " ({})", self.place)?;
        }
        Ok(())
    }
}

/// `url` as errors show it: scheme, host and port only. User, password, path, query and
/// fragment are left out: webhook services put their tokens in any of them (Alertmanager
/// treats a webhook URL as a secret), and errors reach logs and the status endpoint.
fn url_for_errors(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

/// Parses a rendered URL: only `http` and `https` are sent to.
fn parse_url(target: &Target, field: &str, text: &str) -> Result<reqwest::Url, SendError> {
    if text.is_empty() {
        return Err(target.permanent(format!("{field} is empty after templating")));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| target.permanent(format!("{field} is not a valid URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(target.permanent(format!("{field}: unsupported scheme {other:?}"))),
    }
}

/// The outcome of an HTTP request whose client times out after `timeout`: 2xx delivered;
/// 429 and 5xx worth retrying, as are failures to connect or get an answer; other statuses
/// permanent (Alertmanager's `notify.Retrier` classifies them the same way).
async fn classify(
    target: &Target,
    timeout: Duration,
    res: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), SendError> {
    let res = match res {
        Ok(res) => res,
        Err(e) if e.is_timeout() => {
            return Err(target.retry(format!("no answer within {} ms", timeout.as_millis())));
        }
        Err(e) if e.is_builder() => {
            return Err(target.permanent(error_chain(&e.without_url())));
        }
        Err(e) => return Err(target.retry(error_chain(&e.without_url()))),
    };
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    let answer = answer_excerpt(res).await;
    let msg = if answer.is_empty() {
        format!("unexpected status {status}")
    } else {
        format!("unexpected status {status}: {answer}")
    };
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(target.retry(msg))
    } else {
        Err(target.permanent(msg))
    }
}

/// The first [`ANSWER_EXCERPT_BYTES`] of an answer's body (invalid UTF-8 replaced, a
/// character cut in two dropped, surrounding white space trimmed); reads no more than that.
async fn answer_excerpt(mut res: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_EXCERPT_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt(&bytes)
}

/// At most [`ANSWER_EXCERPT_BYTES`] of `bytes` as text.
fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(ANSWER_EXCERPT_BYTES)];
    let text = match std::str::from_utf8(cut) {
        Ok(text) => text.to_string(),
        // A character cut at the end is dropped; anything else invalid is replaced.
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    text.trim().to_string()
}

/// An error with its causes, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // reqwest and hyper repeat their cause in their own message at times.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Whether the notification's group is resolved at the time of sending: every alert is.
fn group_resolved(ctx: &SendContext<'_>) -> bool {
    ctx.notification
        .alerts
        .iter()
        .all(|a| a.resolved_at(ctx.now_ms))
}

/// The texts of one notification: an integration's templates rendered with Alertmanager's
/// template data for the alerts sent (`template.Data`: receiver, status, alerts, group and
/// common labels, external URL) and the configuration's templates.
struct Texts<'a> {
    templates: &'a Templates,
    data: NotificationData,
}

impl<'a> Texts<'a> {
    /// The texts of `ctx`'s notification carrying `alerts` (those of the notification, or
    /// the first ones of them when an integration sends fewer).
    fn new(ctx: &SendContext<'a>, alerts: &[Alert]) -> Texts<'a> {
        let alerts = alerts
            .iter()
            .map(|a| AlertData {
                status: if a.resolved_at(ctx.now_ms) {
                    Status::Resolved
                } else {
                    Status::Firing
                },
                labels: a
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                annotations: a.annotations.clone(),
                starts_at_ms: a.starts_at_ms,
                ends_at_ms: a.ends_at_ms,
                generator_url: a.generator_url.clone(),
                fingerprint: fingerprint_hex(a.fingerprint()),
            })
            .collect();
        let n = ctx.notification;
        let data = NotificationData::new(
            &n.nflog.receiver,
            n.group_labels.clone(),
            // The outbox does not record why a notification was flushed.
            NotificationReason::Unknown,
            alerts,
            ctx.external_url,
            ctx.now_ms,
        );
        Texts {
            templates: ctx.templates,
            data,
        }
    }

    /// `text` rendered as a text template (Alertmanager's `ExecuteTextString`); the error
    /// names `field`.
    fn render(&self, field: &str, text: &str) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        self.templates
            .render(text, &self.data)
            .map_err(|e| format!("{field}: {e}"))
    }

    /// `text` rendered as an HTML template (Alertmanager's `ExecuteHTMLString`: values
    /// escaped for where they land); the error names `field`.
    fn render_html(&self, field: &str, text: &str) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        self.templates
            .render_html(text, &self.data)
            .map_err(|e| format!("{field}: {e}"))
    }
}
