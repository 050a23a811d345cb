//! `GET /api/v1/rules` and `GET /api/v1/alerts`, field for field as Prometheus 3.5 answers
//! them, from this node's replica of the ruler group. `file` is the rule group's namespace.
//! `/api/v1/rules` takes `type` (`alert`, `record`), `rule_name[]`, `rule_group[]`, `file[]`,
//! `exclude_alerts` and `match[]` (on the rules' labels); `group_limit` pagination is not
//! implemented (400 says so).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use tidemark_alerting::rules::Rule;
use tidemark_alerting::state::{Alert, AlertState, RuleState};
use tidemark_storage::{Labels, Matcher};

use super::error::ApiError;
use super::params::Params;
use super::series::matcher_sets;
use super::{AppState, json_response};
use crate::error::NodeError;
use crate::ruler::record::{RulerState, StoredGroup};

/// Which rules `/api/v1/rules` answers.
struct RuleFilter {
    kind: Option<bool>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
    matchers: Vec<Vec<Matcher>>,
}

impl RuleFilter {
    fn of(params: &Params, state: &AppState) -> Result<Self, ApiError> {
        if params.get("group_limit").is_some() || params.get("group_next_token").is_some() {
            return Err(NodeError::NotImplemented(
                "group_limit pagination of /api/v1/rules is not implemented".into(),
            )
            .into());
        }
        let kind = match params.get("type") {
            None | Some("") => None,
            Some("alert") => Some(true),
            Some("record") => Some(false),
            Some(other) => {
                return Err(ApiError::param(
                    "type",
                    format!("not supported value {other:?}"),
                ));
            }
        };
        let exclude_alerts = match params.get("exclude_alerts") {
            None | Some("") => false,
            Some(v) => v
                .parse::<bool>()
                .map_err(|_| ApiError::param("exclude_alerts", "not a boolean"))?,
        };
        let all = |name: &str| params.all(name).into_iter().map(String::from).collect();
        Ok(RuleFilter {
            kind,
            names: all("rule_name[]"),
            groups: all("rule_group[]"),
            files: all("file[]"),
            exclude_alerts,
            matchers: matcher_sets(params, &state.config.query.syntax())?,
        })
    }

    fn keeps_group(&self, file: &str, group: &str) -> bool {
        (self.files.is_empty() || self.files.iter().any(|f| f == file))
            && (self.groups.is_empty() || self.groups.iter().any(|g| g == group))
    }

    fn keeps_rule(&self, rule: &Rule) -> bool {
        let labels = Labels::from_pairs(
            &rule
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        self.kind
            .is_none_or(|alerting| alerting == rule.is_alerting())
            && (self.names.is_empty() || self.names.iter().any(|n| n == rule.name()))
            && (self.matchers.is_empty()
                || self
                    .matchers
                    .iter()
                    .any(|set| set.iter().all(|m| m.matches_labels(&labels))))
    }
}

/// `GET|POST /api/v1/rules`.
pub async fn rules(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = RuleFilter::of(&params, &state)?;
    let ruler = state
        .backend
        .ruler()
        .ok_or_else(|| NodeError::NotImplemented("no ruler on this backend".into()))?;
    let groups =
        ruler.with_state(|s| groups_json(s, &filter, state.config.ruler.evaluation_interval_ms));
    Ok(json_response(
        json!({"status": "success", "data": {"groups": groups}}).to_string(),
    ))
}

/// `GET|POST /api/v1/alerts`: every pending and firing alert.
pub async fn alerts(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let ruler = state
        .backend
        .ruler()
        .ok_or_else(|| NodeError::NotImplemented("no ruler on this backend".into()))?;
    let alerts: Vec<Value> = ruler.with_state(|s| {
        s.namespaces
            .values()
            .flat_map(|ns| &ns.groups)
            .flat_map(|g| &g.state.rules)
            .flat_map(|r| active(r).map(alert_json))
            .collect()
    });
    Ok(json_response(
        json!({"status": "success", "data": {"alerts": alerts}}).to_string(),
    ))
}

fn groups_json(s: &RulerState, filter: &RuleFilter, default_interval_ms: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for (file, ns) in &s.namespaces {
        for g in &ns.groups {
            if !filter.keeps_group(file, &g.group.name) {
                continue;
            }
            let rules: Vec<Value> = rules_json(g, filter);
            if rules.is_empty()
                && (filter.kind.is_some()
                    || !filter.names.is_empty()
                    || !filter.matchers.is_empty())
            {
                continue;
            }
            let interval_ms = g.group.interval.map_or(default_interval_ms as i64, |d| d.0);
            out.push(json!({
                "name": g.group.name,
                "file": file,
                "rules": rules,
                "interval": interval_ms as f64 / 1000.0,
                "limit": g.group.limit,
                "evaluationTime": g.state.evaluation_seconds,
                "lastEvaluation": go_time(g.state.last_evaluation_ms),
            }));
        }
    }
    out
}

fn rules_json(g: &StoredGroup, filter: &RuleFilter) -> Vec<Value> {
    let none = RuleState::default();
    g.group
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| filter.keeps_rule(r))
        .map(|(i, rule)| {
            let st = g.state.rules.get(i).unwrap_or(&none);
            let mut v = if rule.is_alerting() {
                let state = active(st)
                    .map(|a| a.state)
                    .max()
                    .map_or("inactive", AlertState::as_str);
                let mut v = json!({
                    "state": state,
                    "name": rule.name(),
                    "query": query_text(&rule.expr),
                    "duration": rule.for_.map_or(0, |d| d.0) as f64 / 1000.0,
                    "keepFiringFor": rule.keep_firing_for.map_or(0, |d| d.0) as f64 / 1000.0,
                    "labels": rule.labels,
                    "annotations": rule.annotations,
                });
                if !filter.exclude_alerts {
                    v["alerts"] = Value::Array(active(st).map(alert_json).collect());
                }
                v
            } else {
                let mut v = json!({"name": rule.name(), "query": query_text(&rule.expr)});
                if !rule.labels.is_empty() {
                    v["labels"] = json!(rule.labels);
                }
                v
            };
            v["health"] = json!(st.health.as_str());
            if !st.last_error.is_empty() {
                v["lastError"] = json!(st.last_error);
            }
            v["evaluationTime"] = json!(st.evaluation_seconds);
            v["lastEvaluation"] = json!(go_time(st.last_evaluation_ms));
            v["type"] = json!(if rule.is_alerting() {
                "alerting"
            } else {
                "recording"
            });
            v
        })
        .collect()
}

/// A rule's pending and firing alerts (Prometheus' `ActiveAlerts`).
fn active(r: &RuleState) -> impl Iterator<Item = &Alert> {
    r.alerts.iter().filter(|a| a.state != AlertState::Inactive)
}

fn alert_json(a: &Alert) -> Value {
    let labels: serde_json::Map<String, Value> = a
        .labels
        .iter()
        .map(|l| (l.name.clone(), json!(l.value)))
        .collect();
    let mut v = json!({
        "labels": labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": go_time(Some(a.active_at_ms)),
    });
    if let Some(t) = a.keep_firing_since_ms {
        v["keepFiringSince"] = json!(go_time(Some(t)));
    }
    v["value"] = json!(go_exp_float(a.value));
    v
}

/// The expression as Prometheus prints a rule's query (`Expr.String()`), or as written when it
/// does not parse here.
fn query_text(expr: &str) -> String {
    promql_parser::parser::parse(expr)
        .map(|e| super::promql_print::to_string(&e))
        .unwrap_or_else(|_| expr.to_string())
}

/// A time as Go's `time.Time` marshals to JSON in UTC (RFC 3339, fraction without trailing
/// zeros); the zero time when `None`.
pub fn go_time(t_ms: Option<i64>) -> String {
    let Some(t_ms) = t_ms else {
        return "0001-01-01T00:00:00Z".into();
    };
    let t = chrono::DateTime::from_timestamp_millis(t_ms).unwrap_or_default();
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ms = t_ms.rem_euclid(1000);
    if ms != 0 {
        let frac = format!("{ms:03}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `v` as Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `1.2345e-05`, `NaN`, `+Inf`.
pub fn go_exp_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_values_print_as_go_prints_them() {
        assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
        assert_eq!(go_time(Some(1_700_000_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(go_time(Some(1_700_000_000_120)), "2023-11-14T22:13:20.12Z");
        assert_eq!(go_time(Some(1_700_000_000_001)), "2023-11-14T22:13:20.001Z");
        assert_eq!(go_exp_float(1.0), "1e+00");
        assert_eq!(go_exp_float(0.5), "5e-01");
        assert_eq!(go_exp_float(123.45), "1.2345e+02");
        assert_eq!(go_exp_float(-1e-100), "-1e-100");
        assert_eq!(go_exp_float(0.0), "0e+00");
        assert_eq!(go_exp_float(f64::NAN), "NaN");
        assert_eq!(go_exp_float(f64::NEG_INFINITY), "-Inf");
    }
}
