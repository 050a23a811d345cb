//! `GET /api/v1/rules` and `GET /api/v1/alerts`, field for field as Prometheus 3.5 answers
//! them, from this node's replica of the ruler group. `file` is the rule group's namespace.
//! `/api/v1/rules` takes `type` (`alert`, `record`), `rule_name[]`, `rule_group[]`, `file[]`,
//! `exclude_alerts` and `match[]` (on the rules' labels); `group_limit` pagination is not
//! implemented (501 says so).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use tidemark_alerting::rules::{Rule, RuleGroup};
use tidemark_alerting::state::{Alert, AlertState, RuleState};
use tidemark_storage::{Labels, Matcher};

use super::error::ApiError;
use super::params::Params;
use super::series::matcher_sets;
use super::{AppState, json, json_response};
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
            // Go's `strconv.ParseBool`.
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
            Some(_) => return Err(ApiError::param("exclude_alerts", "not a boolean")),
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

    fn keeps_rule(&self, group: &RuleGroup, rule: &Rule) -> bool {
        let labels = Labels::from_pairs(&rule_labels(group, rule).into_iter().collect::<Vec<_>>());
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
    let interval_ms = state.config.ruler.evaluation_interval_ms;
    ruler.with_state(|s| {
        #[derive(Serialize)]
        struct Groups<'a> {
            groups: Vec<GroupJson<'a>>,
        }
        success(Groups {
            groups: groups_json(s, &filter, interval_ms),
        })
    })
}

/// `GET|POST /api/v1/alerts`: every pending and firing alert.
pub async fn alerts(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let ruler = state
        .backend
        .ruler()
        .ok_or_else(|| NodeError::NotImplemented("no ruler on this backend".into()))?;
    ruler.with_state(|s| {
        #[derive(Serialize)]
        struct Alerts<'a> {
            alerts: Vec<AlertJson<'a>>,
        }
        let alerts = groups_in_order(s)
            .into_iter()
            .flat_map(|(_, g)| &g.state.rules)
            .flat_map(|r| active(r).map(alert_json))
            .collect();
        success(Alerts { alerts })
    })
}

/// A rule group as Prometheus 3.5 answers it (`web/api/v1` `RuleGroup`), fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupJson<'a> {
    name: &'a str,
    file: &'a str,
    rules: Vec<RuleJson<'a>>,
    interval: GoFloat,
    limit: u64,
    evaluation_time: GoFloat,
    last_evaluation: String,
}

/// An alerting or a recording rule (`AlertingRule`, `RecordingRule`), fields in their order.
#[derive(Serialize)]
#[serde(untagged)]
enum RuleJson<'a> {
    Alerting(AlertingJson<'a>),
    Recording(RecordingJson<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertingJson<'a> {
    state: &'static str,
    name: &'a str,
    query: String,
    duration: GoFloat,
    keep_firing_for: GoFloat,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<AlertJson<'a>>>,
    health: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    last_error: &'a str,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingJson<'a> {
    name: &'a str,
    query: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<&'a str, &'a str>,
    health: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    last_error: &'a str,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// An alert (`Alert`), fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    annotations: &'a BTreeMap<String, String>,
    state: &'static str,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

/// `data` in the success envelope ([`json::success`]).
pub(super) fn success<T: Serialize>(data: T) -> Result<Response, ApiError> {
    let data = serde_json::to_string(&data)
        .map_err(|e| NodeError::Internal(format!("encoding the answer: {e}")))?;
    Ok(json_response(json::success(&data, &[], &[])))
}

fn groups_json<'a>(
    s: &'a RulerState,
    filter: &RuleFilter,
    default_interval_ms: u64,
) -> Vec<GroupJson<'a>> {
    let mut out = Vec::new();
    for (file, g) in groups_in_order(s) {
        if !filter.keeps_group(file, &g.group.name) {
            continue;
        }
        let rules = rules_json(g, filter);
        let filtered =
            filter.kind.is_some() || !filter.names.is_empty() || !filter.matchers.is_empty();
        if rules.is_empty() && filtered {
            continue;
        }
        let interval_ms = g.group.interval.map_or(default_interval_ms as i64, |d| d.0);
        out.push(GroupJson {
            name: &g.group.name,
            file,
            rules,
            interval: GoFloat::seconds(interval_ms),
            limit: g.group.limit,
            evaluation_time: GoFloat(g.state.evaluation_seconds),
            last_evaluation: go_time(g.state.last_evaluation_ms),
        });
    }
    out
}

fn rules_json<'a>(g: &'a StoredGroup, filter: &RuleFilter) -> Vec<RuleJson<'a>> {
    static NONE: std::sync::OnceLock<RuleState> = std::sync::OnceLock::new();
    let none = NONE.get_or_init(RuleState::default);
    g.group
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| filter.keeps_rule(&g.group, r))
        .map(|(i, rule)| {
            let st = g.state.rules.get(i).unwrap_or(none);
            if rule.is_alerting() {
                let state = active(st)
                    .map(|a| a.state)
                    .max()
                    .map_or("inactive", AlertState::as_str);
                RuleJson::Alerting(AlertingJson {
                    state,
                    name: rule.name(),
                    query: query_text(&rule.expr),
                    duration: GoFloat::seconds(rule.for_.map_or(0, |d| d.0)),
                    keep_firing_for: GoFloat::seconds(rule.keep_firing_for.map_or(0, |d| d.0)),
                    labels: rule_labels(&g.group, rule),
                    annotations: &rule.annotations,
                    alerts: (!filter.exclude_alerts).then(|| active(st).map(alert_json).collect()),
                    health: st.health.as_str(),
                    last_error: &st.last_error,
                    evaluation_time: GoFloat(st.evaluation_seconds),
                    last_evaluation: go_time(st.last_evaluation_ms),
                    kind: "alerting",
                })
            } else {
                RuleJson::Recording(RecordingJson {
                    name: rule.name(),
                    query: query_text(&rule.expr),
                    labels: rule_labels(&g.group, rule),
                    health: st.health.as_str(),
                    last_error: &st.last_error,
                    evaluation_time: GoFloat(st.evaluation_seconds),
                    last_evaluation: go_time(st.last_evaluation_ms),
                    kind: "recording",
                })
            }
        })
        .collect()
}

/// Every group with its namespace, as Prometheus' `Manager.RuleGroups` orders them: by file,
/// then by name (not in the order of the file).
fn groups_in_order(s: &RulerState) -> Vec<(&String, &StoredGroup)> {
    let mut groups: Vec<(&String, &StoredGroup)> = s
        .namespaces
        .iter()
        .flat_map(|(file, ns)| ns.groups.iter().map(move |g| (file, g)))
        .collect();
    groups.sort_by(|a, b| (a.0, &a.1.group.name).cmp(&(b.0, &b.1.group.name)));
    groups
}

/// A rule's labels as Prometheus holds them: the group's, overridden by the rule's
/// (`FromMaps(group, rule)` at load), so the API shows and `match[]` sees both.
fn rule_labels<'a>(group: &'a RuleGroup, rule: &'a Rule) -> BTreeMap<&'a str, &'a str> {
    group
        .labels
        .iter()
        .chain(&rule.labels)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A `float64` field (seconds) as Go's `encoding/json` writes it: a whole number without a
/// fraction (`60`, not `60.0`), others as the shortest decimal that reads back the same.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GoFloat(f64);

impl GoFloat {
    fn seconds(ms: i64) -> GoFloat {
        GoFloat(ms as f64 / 1000.0)
    }
}

impl Serialize for GoFloat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Below 2^53 every whole f64 is an exact i64; Go writes those without exponent.
        if self.0.fract() == 0.0 && self.0.abs() < 9_007_199_254_740_992.0 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// A rule's pending and firing alerts (Prometheus' `ActiveAlerts`).
fn active(r: &RuleState) -> impl Iterator<Item = &Alert> {
    r.alerts.iter().filter(|a| a.state != AlertState::Inactive)
}

fn alert_json(a: &Alert) -> AlertJson<'_> {
    AlertJson {
        labels: a
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect(),
        annotations: &a.annotations,
        state: a.state.as_str(),
        active_at: go_time(Some(a.active_at_ms)),
        keep_firing_since: a.keep_firing_since_ms.map(|t| go_time(Some(t))),
        value: go_exp_float(a.value),
    }
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
    use crate::ruler::record::{Origin, RulerCommand};
    use tidemark_alerting::rules::{PromDuration, Rule, RuleGroup};
    use tidemark_alerting::state::{GroupState, Health};

    fn no_filter() -> RuleFilter {
        RuleFilter {
            kind: None,
            names: vec![],
            groups: vec![],
            files: vec![],
            exclude_alerts: false,
            matchers: vec![],
        }
    }

    /// The layout of `/api/v1/rules`, field for field and in Prometheus 3.5's order (its
    /// `web/api/v1` structs), pinned on one group with a firing alert and a recording rule.
    #[test]
    fn rules_answer_prometheus_layout() {
        let group = RuleGroup {
            name: "node".into(),
            interval: Some(PromDuration(30_000)),
            rules: vec![
                Rule {
                    alert: Some("Down".into()),
                    expr: "up==0".into(),
                    for_: Some(PromDuration(60_000)),
                    labels: BTreeMap::from([("severity".into(), "page".into())]),
                    annotations: BTreeMap::from([("summary".into(), "{{ $labels.job }}".into())]),
                    ..Default::default()
                },
                Rule {
                    record: Some("job:up:sum".into()),
                    expr: "sum by (job) (up)".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut s = RulerState::default();
        s.apply(
            1,
            &RulerCommand::SetGroup {
                namespace: "ns".into(),
                origin: Origin::Api,
                group: group.clone(),
            },
        );
        let mut state = s.group("ns", "node").unwrap().state.clone();
        state.last_evaluation_ms = Some(1_700_000_030_000);
        state.evaluation_seconds = 0.5;
        state.rules[0].health = Health::Ok;
        state.rules[0].last_evaluation_ms = Some(1_700_000_030_000);
        state.rules[0].alerts = vec![Alert {
            labels: Labels::from_pairs(&[("alertname", "Down"), ("job", "api")]),
            annotations: BTreeMap::from([("summary".into(), "api".into())]),
            state: AlertState::Firing,
            value: 0.0,
            active_at_ms: 1_700_000_000_000,
            fired_at_ms: Some(1_700_000_060_000),
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        }];
        state.rules[1].health = Health::Err;
        state.rules[1].last_error = "boom".into();
        s.apply(
            2,
            &RulerCommand::IterationDone {
                namespace: "ns".into(),
                group: "node".into(),
                version: 1,
                ts_ms: 1_700_000_030_000,
                state: GroupState { ..state },
            },
        );
        let data = serde_json::to_string(&groups_json(&s, &no_filter(), 60_000)).unwrap();
        let json = json::success(&data, &[], &[]);
        let want = concat!(
            r#"{"status":"success","data":[{"name":"node","file":"ns","rules":["#,
            r#"{"state":"firing","name":"Down","query":"up == 0","duration":60,"keepFiringFor":0,"#,
            r#""labels":{"severity":"page"},"annotations":{"summary":"{{ $labels.job }}"},"#,
            r#""alerts":[{"labels":{"alertname":"Down","job":"api"},"annotations":{"summary":"api"},"#,
            r#""state":"firing","activeAt":"2023-11-14T22:13:20Z","value":"0e+00"}],"#,
            r#""health":"ok","evaluationTime":0,"lastEvaluation":"2023-11-14T22:13:50Z","type":"alerting"},"#,
            r#"{"name":"job:up:sum","query":"sum by (job) (up)","health":"err","lastError":"boom","#,
            r#""evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"recording"}],"#,
            r#""interval":30,"limit":0,"evaluationTime":0.5,"lastEvaluation":"2023-11-14T22:13:50Z"}]}"#,
        );
        assert_eq!(json, want);
        // Filters: by type, by name, without alerts.
        let only_records = RuleFilter {
            kind: Some(false),
            ..no_filter()
        };
        let g = groups_json(&s, &only_records, 60_000);
        assert_eq!(g[0].rules.len(), 1);
        let by_name = RuleFilter {
            names: vec!["nothing".into()],
            ..no_filter()
        };
        assert!(groups_json(&s, &by_name, 60_000).is_empty());
        let bare = RuleFilter {
            exclude_alerts: true,
            ..no_filter()
        };
        let j = serde_json::to_value(groups_json(&s, &bare, 60_000)).unwrap();
        assert!(j[0]["rules"][0].get("alerts").is_none());
    }

    /// Groups come by file, then by name, whatever their order in the file (Prometheus'
    /// `Manager.RuleGroups`); a rule's labels include its group's, the rule's winning, and
    /// `match[]` sees them (found by `tests/rules_differential.rs`).
    #[test]
    fn groups_by_name_and_rules_with_group_labels() {
        let mut s = RulerState::default();
        for (i, name) in ["zeta", "alpha"].into_iter().enumerate() {
            let group = RuleGroup {
                name: name.into(),
                labels: BTreeMap::from([
                    ("team".into(), "infra".into()),
                    ("tier".into(), "group".into()),
                ]),
                rules: vec![Rule {
                    record: Some(format!("{name}:up:sum")),
                    expr: "sum(up)".into(),
                    labels: BTreeMap::from([("tier".into(), "rule".into())]),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let cmd = RulerCommand::SetGroup {
                namespace: "ns".into(),
                origin: Origin::Api,
                group,
            };
            s.apply(i as u64 + 1, &cmd);
        }
        let j = serde_json::to_value(groups_json(&s, &no_filter(), 1_000)).unwrap();
        assert_eq!(j[0]["name"], "alpha");
        assert_eq!(j[1]["name"], "zeta");
        assert_eq!(j[0]["interval"].to_string(), "1");
        assert_eq!(
            j[0]["rules"][0]["labels"],
            serde_json::json!({"team": "infra", "tier": "rule"})
        );
        let by_group_label = RuleFilter {
            matchers: vec![vec![Matcher::equal("team", "infra")]],
            ..no_filter()
        };
        assert_eq!(groups_json(&s, &by_group_label, 1_000).len(), 2);
    }

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
