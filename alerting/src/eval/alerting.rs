//! One alerting rule (Prometheus 3.5 `AlertingRule.Eval`, `sendAlerts`, `rules.SendAlerts`):
//! the alert labels and annotations of each result series, the state machine step
//! ([`RuleState::advance`]), the `ALERTS` and `ALERTS_FOR_STATE` samples, and the alerts to
//! send.

use std::collections::BTreeMap;

use tidemark_storage::{Labels, Sample, model::METRIC_NAME};

use super::{EvalContext, OutgoingAlert, from_map, rule_labels, to_map};
use crate::rules::{Rule, RuleGroup};
use crate::state::{Alert, Observation, RuleState, Transition};
use crate::template::{AlertData, expand_alert};
use crate::{Element, QueryFn, Written};

/// The label that holds an alert's name.
pub const ALERT_NAME: &str = "alertname";
/// The label of `ALERTS` that holds the alert's state.
pub const ALERT_STATE: &str = "alertstate";
/// The series of every pending and firing alert (value 1).
pub const ALERTS_METRIC: &str = "ALERTS";
/// The series of every pending and firing alert whose value is its `active_at` (seconds).
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";

/// Evaluates `rule` and advances `state` by its result, returning the `ALERTS` and
/// `ALERTS_FOR_STATE` samples of its pending and firing alerts (at `ts_ms - query_offset_ms`),
/// or the error that fails it.
///
/// On a query error or duplicate label sets `state` is left as it was; on exceeding the
/// group's `limit` its alerts are dropped (as Prometheus does). A native histogram element
/// alerts as a float does, with the value 0 (Prometheus' `smpl.F`); its templates see the
/// histogram as `$value`, printed as Go prints it.
pub(super) fn eval(
    rule: &Rule,
    group: &RuleGroup,
    ctx: &EvalContext<'_>,
    query: &dyn QueryFn,
    state: &mut RuleState,
) -> Result<Written, String> {
    let t_ms = ctx.ts_ms - ctx.query_offset_ms;
    let result = query.elements(&rule.expr, t_ms)?;
    let extra = rule_labels(group, rule);
    let name = rule.name();

    let mut found = BTreeMap::new();
    for (series, element) in result {
        let (value, histogram) = match &element {
            Element::Float(v) => (*v, None),
            Element::Histogram(h) => (0.0, Some(h.text.as_str())),
        };
        let data = AlertData {
            labels: &series,
            external_labels: ctx.external_labels,
            external_url: ctx.external_url,
            value,
            histogram,
        };
        // Templates query at the evaluation time itself, not the offset one (as Prometheus).
        let expand = |text: &str| expand(name, text, &data, ctx.ts_ms, query);

        let mut labels = to_map(&series);
        labels.remove(METRIC_NAME);
        for (label, text) in &extra {
            let value = expand(text);
            if value.is_empty() {
                labels.remove(*label);
            } else {
                labels.insert((*label).to_owned(), value);
            }
        }
        labels.insert(ALERT_NAME.to_owned(), name.to_owned());
        let annotations = rule
            .annotations
            .iter()
            .map(|(annotation, text)| (annotation.clone(), expand(text)))
            .collect();

        let seen = Observation { annotations, value };
        if found.insert(from_map(labels), seen).is_some() {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            );
        }
    }

    state.advance(
        found,
        &Transition {
            ts_ms: ctx.ts_ms,
            for_ms: rule.for_.map_or(0, |d| d.0),
            keep_firing_for_ms: rule.keep_firing_for.map_or(0, |d| d.0),
            limit: group.limit,
        },
    )?;

    let mut samples = Vec::new();
    for alert in state.active_alerts() {
        let for_state = alert_series(&extra, alert, name, ALERTS_FOR_STATE_METRIC);
        let mut alerts = to_map(&for_state);
        alerts.insert(METRIC_NAME.to_owned(), ALERTS_METRIC.to_owned());
        alerts.insert(ALERT_STATE.to_owned(), alert.state.as_str().to_owned());
        samples.push((from_map(alerts), Sample::new(t_ms, 1.0)));
        // Whole seconds, as Prometheus' `ActiveAt.Unix()`.
        let active_at_s = alert.active_at_ms.div_euclid(1000) as f64;
        samples.push((for_state, Sample::new(t_ms, active_at_s)));
    }
    Ok(Written {
        samples,
        histograms: Vec::new(),
    })
}

/// The labels of an alert's `ALERTS_FOR_STATE` series (`ALERTS` adds `alertstate`): the rule's
/// labels as written, overridden by the alert's, `__name__` and `alertname`. Starting from the
/// unexpanded rule labels is Prometheus' (`AlertingRule.sample`): it only shows when a label
/// template expands to an empty value.
fn alert_series(extra: &BTreeMap<&str, &str>, alert: &Alert, name: &str, metric: &str) -> Labels {
    let mut labels: BTreeMap<String, String> = extra
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    labels.extend(to_map(&alert.labels));
    labels.insert(METRIC_NAME.to_owned(), metric.to_owned());
    labels.insert(ALERT_NAME.to_owned(), name.to_owned());
    from_map(labels)
}

/// Expands one label or annotation template; a failure becomes the text Prometheus puts in
/// its place.
fn expand(name: &str, text: &str, data: &AlertData<'_>, t_ms: i64, query: &dyn QueryFn) -> String {
    // Text without actions expands to itself: no need to run the engine.
    if !text.contains("{{") {
        return text.to_owned();
    }
    expand_alert(name, text, data, t_ms, query)
        .unwrap_or_else(|error| format!("<error expanding template: {error}>"))
}

/// Marks `state`'s alerts that are due as sent and returns them as Alertmanager receives them.
pub(super) fn send(
    rule: &Rule,
    ctx: &EvalContext<'_>,
    state: &mut RuleState,
) -> Vec<OutgoingAlert> {
    let due = state.take_due(ctx.ts_ms, ctx.resend_delay_ms, ctx.interval_ms);
    if due.is_empty() {
        return Vec::new();
    }
    let generator_url = format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        ctx.external_url,
        query_escape(&rule.expr)
    );
    due.into_iter()
        .map(|alert| {
            // External labels the alert does not have (Prometheus' `relabelAlerts`).
            let mut labels = to_map(&alert.labels);
            for (name, value) in ctx.external_labels {
                labels.entry(name.clone()).or_insert_with(|| value.clone());
            }
            OutgoingAlert {
                labels: from_map(labels),
                starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
                ends_at_ms: alert.ends_at_ms().unwrap_or(ctx.ts_ms),
                annotations: alert.annotations,
                generator_url: generator_url.clone(),
            }
        })
        .collect()
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
pub(super) fn query_escape(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}
