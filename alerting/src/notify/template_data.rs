//! The data notification templates see and the templates Tidemark ships, so that a
//! notification reads exactly as Alertmanager 0.33 writes it.
//!
//! - [`NotificationData`] is Alertmanager's `template.Data` (`template/template.go`):
//!   `.Receiver`, `.Status`, `.Alerts` (with `.Firing` and `.Resolved`), `.NotificationReason`,
//!   `.GroupLabels`, `.CommonLabels`, `.CommonAnnotations` (label sets with `.SortedPairs`,
//!   `.Names`, `.Values`, `.Remove`), `.ExternalURL`; each alert has `.Status`, `.Labels`,
//!   `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`, `.Fingerprint`. Alertmanager 0.33
//!   has no group key in it (the webhook payload carries that beside the data).
//!   [`NotificationData::new`] builds it as Alertmanager's `Template.Data` does.
//! - [`Templates`] holds Alertmanager's default templates (`default.tmpl` and `email.tmpl`,
//!   Apache-2.0, unchanged), Tidemark's `sms.default.message`, and the operator's template
//!   files, and renders a text on the data, as text or as HTML escaped by context
//!   ([`crate::template`] implements Go's `text/template`, `html/template` and Alertmanager's
//!   functions).
//!
//! Differences from Alertmanager: times are shown in UTC (Alertmanager shows them in the
//! zone the sender wrote them in; Prometheus writes UTC), `now` and `since` read
//! [`NotificationData::now_ms`] rather than the wall clock, `tz "Local"` is UTC; see
//! `crate::template` for the HTML contexts that are not escaped.

mod value;

use std::collections::BTreeMap;

use crate::template::TemplateSet;

/// Alertmanager's default templates (`template/default.tmpl`, 0.33).
pub const DEFAULT_TMPL: &str = include_str!("template_data/default.tmpl");
/// Alertmanager's default e-mail templates (`template/email.tmpl`, 0.33).
pub const EMAIL_TMPL: &str = include_str!("template_data/email.tmpl");
/// Tidemark's templates for its own integrations (`sms.default.message`).
pub const TIDEMARK_TMPL: &str = include_str!("template_data/sms.tmpl");

/// Whether an alert (or a group: firing if any of its alerts fires) fires or is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `firing`.
    Firing,
    /// `resolved`.
    Resolved,
}

impl Status {
    /// The text templates see: `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// Why a notification is sent (Alertmanager's `NotifyReason`, `.NotificationReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationReason {
    /// The group's first notification.
    FirstNotification,
    /// Alerts were added to the group.
    NewAlertsInGroup,
    /// Some of the group's alerts were resolved.
    NewResolvedAlerts,
    /// All of the group's alerts were resolved.
    AllAlertsResolved,
    /// The repeat interval has passed.
    RepeatIntervalElapsed,
    /// Not known.
    Unknown,
}

impl NotificationReason {
    /// The text templates see (`first notification`, `new alerts added`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationReason::FirstNotification => "first notification",
            NotificationReason::NewAlertsInGroup => "new alerts added",
            NotificationReason::NewResolvedAlerts => "some alerts resolved",
            NotificationReason::AllAlertsResolved => "all alerts resolved",
            NotificationReason::RepeatIntervalElapsed => "repeat interval elapsed",
            NotificationReason::Unknown => "unknown",
        }
    }
}

/// One alert as templates see it (Alertmanager's `template.Alert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertData {
    /// `.Status`.
    pub status: Status,
    /// `.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `.Annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `.StartsAt`, in Unix milliseconds; 0 is Go's zero time.
    pub starts_at_ms: i64,
    /// `.EndsAt`, in Unix milliseconds; 0 is Go's zero time (what a firing alert shows).
    pub ends_at_ms: i64,
    /// `.GeneratorURL`.
    pub generator_url: String,
    /// `.Fingerprint`: the label set's fingerprint, 16 hex digits.
    pub fingerprint: String,
}

/// What a notification's templates execute on (Alertmanager's `*template.Data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationData {
    /// `.Receiver`: the receiver's name, regexp-quoted as Alertmanager quotes it.
    pub receiver: String,
    /// `.Status`: firing if any alert fires.
    pub status: Status,
    /// `.Alerts`.
    pub alerts: Vec<AlertData>,
    /// `.NotificationReason`.
    pub notification_reason: NotificationReason,
    /// `.GroupLabels`: the labels the group is grouped by.
    pub group_labels: BTreeMap<String, String>,
    /// `.CommonLabels`: the labels all alerts have with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// `.CommonAnnotations`: the annotations all alerts have with the same value.
    pub common_annotations: BTreeMap<String, String>,
    /// `.ExternalURL`: the notifier's external URL.
    pub external_url: String,
    /// When the notification is rendered, in Unix milliseconds: what `now` and `since` read
    /// (Alertmanager reads the wall clock). Not visible as a field.
    pub now_ms: i64,
}

impl NotificationData {
    /// Builds the data as Alertmanager's `Template.Data` does: the receiver regexp-quoted,
    /// the status firing if any alert fires, a firing alert's end not shown (0), and the
    /// labels and annotations every alert has with the same value as the common ones.
    pub fn new(
        receiver: &str,
        group_labels: BTreeMap<String, String>,
        reason: NotificationReason,
        mut alerts: Vec<AlertData>,
        external_url: &str,
        now_ms: i64,
    ) -> NotificationData {
        for alert in &mut alerts {
            if alert.status == Status::Firing {
                alert.ends_at_ms = 0;
            }
        }
        let status = if alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        };
        let common_labels = common(alerts.iter().map(|a| &a.labels));
        let common_annotations = common(alerts.iter().map(|a| &a.annotations));
        NotificationData {
            receiver: regexp_quote_meta(receiver),
            status,
            alerts,
            notification_reason: reason,
            group_labels,
            common_labels,
            common_annotations,
            external_url: external_url.to_string(),
            now_ms,
        }
    }
}

/// The pairs every map has with the same value (empty for no maps).
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for map in maps {
        shared.retain(|k, v| map.get(k) == Some(v));
    }
    shared
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
fn regexp_quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The notification templates: Alertmanager's defaults, Tidemark's, and the operator's
/// files, parsed once. Cheap to share between threads.
#[derive(Clone, Debug)]
pub struct Templates {
    set: TemplateSet,
}

impl Templates {
    /// Alertmanager's default templates and Tidemark's `sms.default.message`.
    pub fn new() -> Templates {
        let mut set = TemplateSet::new();
        for text in [DEFAULT_TMPL, EMAIL_TMPL, TIDEMARK_TMPL] {
            // Parsed without the file's first line (the provenance comment), so that error
            // positions are upstream's, and under the name "" as Alertmanager parses its
            // embedded defaults.
            let upstream = text.split_once('\n').map_or("", |(_, rest)| rest);
            if let Err(e) = set.parse("", upstream) {
                unreachable!("a built-in template does not parse: {e}");
            }
        }
        Templates { set }
    }

    /// The defaults, then the operator's template files (`templates:` in
    /// `alertmanager.yml`) as (file name, text) in the order Alertmanager reads them: a file's
    /// `{{define}}` replaces a default of the same name. The error is Go's parse error.
    pub fn with_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Templates, String> {
        let mut templates = Templates::new();
        for (name, text) in files {
            templates.set.parse(name, text)?;
        }
        Ok(templates)
    }

    /// Whether template `name` is defined (`email.default.html`, a user's template).
    pub fn defines(&self, name: &str) -> bool {
        self.set.defines(name)
    }

    /// Executes `text` on `data` as Alertmanager's `ExecuteTextString` does (a subject, a
    /// chat message, a PagerDuty field): `text` may call the defined templates
    /// (`{{ template "email.default.subject" . }}`). The error is Go's.
    pub fn render(&self, text: &str, data: &NotificationData) -> Result<String, String> {
        self.set
            .execute(text, value::data_value(data), data.now_ms, false)
    }

    /// Executes `text` on `data` as Alertmanager's `ExecuteHTMLString` does (an e-mail's HTML
    /// body): printed values are escaped for where they land in the HTML, as Go's
    /// `html/template` escapes them.
    pub fn render_html(&self, text: &str, data: &NotificationData) -> Result<String, String> {
        self.set
            .execute(text, value::data_value(data), data.now_ms, true)
    }
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::new()
    }
}

#[cfg(test)]
mod tests;
