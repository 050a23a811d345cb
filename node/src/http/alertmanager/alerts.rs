//! `GET|POST /api/v2/alerts` and `GET /api/v2/alerts/groups`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use regex::Regex;
use tidemark_alerting::notify::alert::{Alert, fingerprint_hex};
use tidemark_alerting::notify::config::DEFAULT_RESOLVE_TIMEOUT_MS;
use tidemark_alerting::notify::matcher::{Matchers, parse_matchers};
use tidemark_alerting::notify::state::{NotifierCommand, NotifierState};
use tidemark_alerting::notify::status::AlertView;
use tidemark_api::alertmanager::{
    AlertGroup, AlertState, AlertStatus, GO_ZERO_TIME_MS, GettableAlert, PostableAlert,
    ReceiverReference, parse_rfc3339_ms, rfc3339_ms,
};

use super::{AmError, Answer, flag, json, notifier, values};
use crate::http::AppState;
use crate::notifier::intake::{Posted, accept};

/// What `GET /alerts` and `GET /alerts/groups` keep.
struct Filter {
    matchers: Vec<Matchers>,
    receiver: Option<Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    muted: bool,
}

impl Filter {
    fn parse(params: &[(String, String)]) -> Result<Filter, AmError> {
        let bad = |m: String| AmError::Message(StatusCode::BAD_REQUEST, m);
        let matchers = values(params, "filter")
            .map(parse_matchers)
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let receiver = values(params, "receiver")
            .last()
            .map(|r| {
                Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| bad(format!("failed to parse receiver param: {e}")))
            })
            .transpose()?;
        Ok(Filter {
            matchers,
            receiver,
            active: flag(params, "active", true),
            silenced: flag(params, "silenced", true),
            inhibited: flag(params, "inhibited", true),
            muted: flag(params, "muted", true),
        })
    }

    fn keeps(&self, alert: &Alert, view: &AlertView) -> bool {
        self.matchers.iter().all(|m| m.matches(&alert.labels))
            && self
                .receiver
                .as_ref()
                .is_none_or(|re| view.receivers.iter().any(|r| re.is_match(r)))
            && (self.active || view.state() != "active")
            && (self.silenced || view.silenced_by.is_empty())
            && (self.inhibited || view.inhibited_by.is_empty())
            && (self.muted || view.muted_by.is_empty())
    }
}

/// An alert as the API shows it.
fn gettable(alert: &Alert, view: &AlertView) -> GettableAlert {
    GettableAlert {
        annotations: alert.annotations.clone(),
        ends_at: rfc3339_ms(alert.ends_at_ms),
        fingerprint: fingerprint_hex(alert.fingerprint()),
        receivers: view
            .receivers
            .iter()
            .map(|name| ReceiverReference { name: name.clone() })
            .collect(),
        starts_at: rfc3339_ms(alert.starts_at_ms),
        status: AlertStatus {
            inhibited_by: view.inhibited_by.clone(),
            muted_by: view.muted_by.clone(),
            silenced_by: view.silenced_by.clone(),
            state: if view.state() == "active" {
                AlertState::Active
            } else {
                AlertState::Suppressed
            },
        },
        updated_at: rfc3339_ms(alert.updated_at_ms),
        generator_url: Some(alert.generator_url.clone()).filter(|u| !u.is_empty()),
        labels: alert
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
    }
}

/// `GET /api/v2/alerts`: the alerts not resolved, by fingerprint.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Answer {
    let n = notifier(&state)?;
    let filter = Filter::parse(&params)?;
    let now = n.ruler().clock().now_ms();
    let mut alerts: Vec<GettableAlert> = n.ruler().with_state(|s| {
        let views = s.notifier.views(now);
        s.notifier
            .alerts
            .values()
            .filter(|a| !a.resolved_at(now))
            .filter_map(|a| {
                let view = views.of(a);
                filter.keeps(a, &view).then(|| gettable(a, &view))
            })
            .collect()
    });
    alerts.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    Ok(json(&alerts))
}

/// `GET /api/v2/alerts/groups`: the aggregation groups with the alerts the filter keeps.
pub async fn groups(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Answer {
    let n = notifier(&state)?;
    let filter = Filter::parse(&params)?;
    let now = n.ruler().clock().now_ms();
    let mut groups: Vec<AlertGroup> = n
        .ruler()
        .with_state(|s| group_list(&s.notifier, &filter, now));
    groups.sort_by(|a, b| {
        label_set_order(&a.labels, &b.labels).then_with(|| a.receiver.name.cmp(&b.receiver.name))
    });
    Ok(json(&groups))
}

fn group_list(s: &NotifierState, filter: &Filter, now: i64) -> Vec<AlertGroup> {
    let views = s.views(now);
    s.groups
        .values()
        .filter(|g| {
            filter
                .receiver
                .as_ref()
                .is_none_or(|re| re.is_match(&g.receiver))
        })
        .filter_map(|g| {
            let alerts: Vec<GettableAlert> = g
                .alerts
                .iter()
                .filter_map(|fp| s.alerts.get(fp))
                .filter(|a| !a.resolved_at(now))
                .filter_map(|a| {
                    let view = views.of(a);
                    filter.keeps(a, &view).then(|| gettable(a, &view))
                })
                .collect();
            (!alerts.is_empty()).then(|| AlertGroup {
                alerts,
                labels: g.labels.clone(),
                receiver: ReceiverReference {
                    name: g.receiver.clone(),
                },
            })
        })
        .collect()
}

/// Prometheus' `LabelSet.Before`: by sorted names, then values, then size.
fn label_set_order(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> std::cmp::Ordering {
    a.iter().cmp(b.iter())
}

/// `POST /api/v2/alerts`: the valid alerts are committed; the invalid ones are named in a 400
/// (Alertmanager's "best effort").
pub async fn post(State(state): State<Arc<AppState>>, body: Bytes) -> Answer {
    let n = notifier(&state)?;
    let posted: Vec<PostableAlert> = serde_json::from_slice(&body).map_err(|e| {
        AmError::Framework(
            StatusCode::BAD_REQUEST,
            400,
            format!("parsing alerts body from \"\" failed, because {e}"),
        )
    })?;
    let mut parsed = Vec::with_capacity(posted.len());
    for p in posted {
        parsed.push(Posted {
            starts_at_ms: time(p.starts_at.as_deref())?,
            ends_at_ms: time(p.ends_at.as_deref())?,
            labels: p.labels,
            annotations: p.annotations,
            generator_url: p.generator_url.unwrap_or_default(),
        });
    }
    let now_ms = n.ruler().clock().now_ms();
    let resolve_timeout = n.ruler().with_state(|s| {
        s.notifier
            .config()
            .map_or(DEFAULT_RESOLVE_TIMEOUT_MS, |c| c.global.resolve_timeout_ms)
    });
    let (valid, errors) = accept(parsed, now_ms, resolve_timeout);
    // Only alerts not held yet count against the limit: updates of held ones (a sender's
    // resends, resolutions) always pass.
    let (held, new) = n.ruler().with_state(|s| {
        let held = &s.notifier.alerts;
        let new: BTreeSet<u64> = valid
            .iter()
            .map(Alert::fingerprint)
            .filter(|fp| !held.contains_key(fp))
            .collect();
        (held.len(), new.len())
    });
    let max = n.settings().alerts_max;
    if new > 0 && held + new > max {
        return Err(AmError::Message(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "the notifier holds {held} alerts; {new} new ones would pass its limit of \
                 {max} (notifier.alerts_max)"
            ),
        ));
    }
    if !valid.is_empty() {
        n.propose(NotifierCommand::PutAlerts {
            now_ms,
            alerts: valid,
        })
        .await?;
    }
    if !errors.is_empty() {
        return Err(AmError::Message(StatusCode::BAD_REQUEST, errors.join("\n")));
    }
    Ok(StatusCode::OK.into_response())
}

/// A posted time: absent or Go's zero time is none.
fn time(t: Option<&str>) -> Result<Option<i64>, AmError> {
    let Some(t) = t else {
        return Ok(None);
    };
    let ms = parse_rfc3339_ms(t).map_err(|e| {
        AmError::Framework(
            StatusCode::BAD_REQUEST,
            400,
            format!("parsing alerts body from \"\" failed, because {e}"),
        )
    })?;
    Ok((ms != GO_ZERO_TIME_MS).then_some(ms))
}
