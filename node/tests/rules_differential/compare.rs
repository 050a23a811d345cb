//! Snapshots of what both systems show, their comparison field by field, and the report.

use super::*;

/// What one system showed at one moment.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) rules: Value,
    pub(crate) alerts: Value,
    /// The written series (labels as JSON) and their value now.
    pub(crate) series: BTreeMap<String, f64>,
}

pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let json: Value = r
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"));
    assert!(status.is_success(), "GET {url}: {status} {json}");
    json
}

pub(crate) async fn snapshot(client: &reqwest::Client, base: &str) -> Snapshot {
    let rules = get_json(client, &format!("{base}/api/v1/rules")).await;
    let alerts = get_json(client, &format!("{base}/api/v1/alerts")).await;
    let now_s = now_ms() as f64 / 1000.0;
    let written = support::query(
        client,
        base,
        r#"{__name__=~"ALERTS|ALERTS_FOR_STATE|.+:.+"}"#,
        now_s,
    )
    .await;
    let series = written["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    (
                        s["metric"].to_string(),
                        support::parse_value(s["value"][1].as_str().unwrap_or("NaN")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Snapshot {
        rules: rules["data"]["groups"].clone(),
        alerts: alerts["data"]["alerts"].clone(),
        series,
    }
}

/// `alertname/instance state` of every alert of `/api/v1/alerts`, `+kfs` when it keeps firing.
pub(crate) fn alert_states(s: &Snapshot) -> BTreeSet<String> {
    s.alerts
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}/{} {}{}",
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["instance"].as_str().unwrap_or("-"),
                a["state"].as_str().unwrap_or("?"),
                if a.get("keepFiringSince").is_some() {
                    " +kfs"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// The health of rule `name` in `s`.
pub(crate) fn rule_health(s: &Snapshot, name: &str) -> String {
    groups(&s.rules)
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == name)
        .map(|r| r["health"].as_str().unwrap_or("?").to_string())
        .unwrap_or_default()
}

pub(crate) fn groups(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// What Prometheus showed at a checkpoint, for the report: its alerts and its failing rules.
pub(crate) fn state_note(s: &Snapshot) -> String {
    let mut out = format!("alerts {:?}", alert_states(s));
    for r in groups(&s.rules)
        .iter()
        .flat_map(|g| groups(&g["rules"]))
        .filter(|r| r["health"] == "err")
    {
        let error: String = r["lastError"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(110)
            .collect();
        let _ = write!(
            out,
            "\n             {} failing: {error}",
            r["name"].as_str().unwrap_or("?")
        );
    }
    out
}

/// Whether every group of `s` has been evaluated.
pub(crate) fn all_evaluated(s: &Snapshot, groups_expected: usize) -> bool {
    let gs = groups(&s.rules);
    gs.len() == groups_expected
        && gs
            .iter()
            .all(|g| g["lastEvaluation"].as_str().is_some_and(|t| t != ZERO_TIME))
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// One compared item (a group, a rule, the alerts endpoint, the written series) at one
/// checkpoint: how many fields were compared and what differed.
pub(crate) struct Row {
    pub(crate) checkpoint: &'static str,
    pub(crate) item: String,
    pub(crate) compared: usize,
    pub(crate) diffs: Vec<String>,
}

impl Row {
    pub(crate) fn new(checkpoint: &'static str, item: impl Into<String>) -> Row {
        Row {
            checkpoint,
            item: item.into(),
            compared: 0,
            diffs: Vec::new(),
        }
    }

    /// Compares one field; a difference is recorded as `field: prometheus <> tidemark`.
    pub(crate) fn field(&mut self, field: &str, p: &Value, t: &Value) {
        self.compared += 1;
        if p != t {
            self.diffs
                .push(format!("{field}: prometheus {p} <> tidemark {t}"));
        }
    }

    pub(crate) fn check(&mut self, field: &str, ok: bool, detail: impl FnOnce() -> String) {
        self.compared += 1;
        if !ok {
            self.diffs.push(format!("{field}: {}", detail()));
        }
    }

    /// The reason of each difference that is deliberate, `None` for the others.
    pub(crate) fn classified(&self) -> Vec<(&str, Option<&'static str>)> {
        self.diffs
            .iter()
            .map(|d| {
                let reason = DELIBERATE_DIFFERENCES
                    .iter()
                    .find(|(item, field, _)| self.item.contains(item) && d.starts_with(field))
                    .map(|(_, _, reason)| *reason);
                (d.as_str(), reason)
            })
            .collect()
    }
}

/// A Go RFC 3339 time (any precision, any offset) in Unix ms.
pub(crate) fn time_ms(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

pub(crate) fn close_times(p: &Value, t: &Value) -> bool {
    match (time_ms(p), time_ms(t)) {
        (Some(a), Some(b)) => (a - b).abs() <= TIME_SLACK_MS,
        _ => false,
    }
}

pub(crate) fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= VALUE_REL_TOL * a.abs().max(b.abs())
}

pub(crate) fn value_of(v: &Value) -> f64 {
    v.as_str().map_or(f64::NAN, support::parse_value)
}

pub(crate) fn keys(v: &Value) -> Value {
    Value::Array(
        v.as_object()
            .map(|o| o.keys().map(|k| Value::String(k.clone())).collect())
            .unwrap_or_default(),
    )
}

/// Alerts keyed by their labels (as JSON; Prometheus lists them in map order).
pub(crate) fn alerts_by_labels(v: &Value) -> BTreeMap<String, Value> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["labels"].to_string(), a.clone()))
        .collect()
}

/// Compares two lists of alerts into `row` (fields prefixed by `what`).
pub(crate) fn compare_alerts(row: &mut Row, what: &str, p: &Value, t: &Value) {
    let (p, t) = (alerts_by_labels(p), alerts_by_labels(t));
    let p_keys: Vec<&String> = p.keys().collect();
    let t_keys: Vec<&String> = t.keys().collect();
    row.field(
        &format!("{what} label sets"),
        &serde_json::json!(p_keys),
        &serde_json::json!(t_keys),
    );
    for (labels, pa) in &p {
        let Some(ta) = t.get(labels) else { continue };
        let name = format!("{what} {labels}");
        row.field(&format!("{name} keys"), &keys(pa), &keys(ta));
        row.field(
            &format!("{name} annotations"),
            &pa["annotations"],
            &ta["annotations"],
        );
        row.field(&format!("{name} state"), &pa["state"], &ta["state"]);
        row.check(
            &format!("{name} value"),
            same_value(value_of(&pa["value"]), value_of(&ta["value"])),
            || format!("prometheus {} <> tidemark {}", pa["value"], ta["value"]),
        );
        row.check(
            &format!("{name} activeAt"),
            close_times(&pa["activeAt"], &ta["activeAt"]),
            || {
                format!(
                    "prometheus {} <> tidemark {} (more than {TIME_SLACK_MS} ms apart)",
                    pa["activeAt"], ta["activeAt"]
                )
            },
        );
        let (pk, tk) = (pa.get("keepFiringSince"), ta.get("keepFiringSince"));
        row.check(
            &format!("{name} keepFiringSince"),
            match (pk, tk) {
                (None, None) => true,
                (Some(a), Some(b)) => close_times(a, b),
                _ => false,
            },
            || format!("prometheus {pk:?} <> tidemark {tk:?}"),
        );
    }
}

/// Every row of one checkpoint.
pub(crate) fn compare(checkpoint: &'static str, p: &Snapshot, t: &Snapshot) -> Vec<Row> {
    let mut rows = Vec::new();
    let (pg, tg) = (groups(&p.rules), groups(&t.rules));
    let names = |gs: &[Value]| -> Value {
        Value::Array(
            gs.iter()
                .map(|g| serde_json::json!(format!("{}", g["name"].as_str().unwrap_or("?"))))
                .collect(),
        )
    };
    let mut order = Row::new(checkpoint, "/api/v1/rules groups");
    order.field("group order", &names(&pg), &names(&tg));
    rows.push(order);

    for g in &pg {
        let gname = g["name"].as_str().unwrap_or("?").to_string();
        let mut row = Row::new(checkpoint, format!("group {gname}"));
        let Some(h) = tg.iter().find(|h| h["name"] == g["name"]) else {
            row.check("present", false, || "missing in Tidemark".into());
            rows.push(row);
            continue;
        };
        row.field("keys", &keys(g), &keys(h));
        for f in ["file", "interval", "limit"] {
            row.field(f, &g[f], &h[f]);
        }
        for (side, v) in [("prometheus", g), ("tidemark", h)] {
            row.check(
                &format!("{side} lastEvaluation set"),
                v["lastEvaluation"].as_str().is_some_and(|s| s != ZERO_TIME),
                || v["lastEvaluation"].to_string(),
            );
            row.check(
                &format!("{side} evaluationTime set"),
                v["evaluationTime"].as_f64().is_some_and(|s| s >= 0.0),
                || v["evaluationTime"].to_string(),
            );
        }
        let rule_names = |v: &Value| -> Value {
            Value::Array(
                groups(&v["rules"])
                    .iter()
                    .map(|r| r["name"].clone())
                    .collect(),
            )
        };
        row.field("rule order", &rule_names(g), &rule_names(h));
        rows.push(row);

        let (pr, tr) = (groups(&g["rules"]), groups(&h["rules"]));
        for (i, r) in pr.iter().enumerate() {
            let rname = r["name"].as_str().unwrap_or("?");
            let mut row = Row::new(checkpoint, format!("rule {gname}/{rname}"));
            let Some(s) = tr.get(i).filter(|s| s["name"] == r["name"]) else {
                row.check("present", false, || "missing in Tidemark".into());
                rows.push(row);
                continue;
            };
            row.field("keys", &keys(r), &keys(s));
            for f in [
                "type",
                "query",
                "duration",
                "keepFiringFor",
                "labels",
                "annotations",
                "health",
                "lastError",
                "state",
            ] {
                row.field(f, &r[f], &s[f]);
            }
            for (side, v) in [("prometheus", r), ("tidemark", s)] {
                row.check(
                    &format!("{side} lastEvaluation set"),
                    v["lastEvaluation"].as_str().is_some_and(|s| s != ZERO_TIME),
                    || v["lastEvaluation"].to_string(),
                );
                row.check(
                    &format!("{side} evaluationTime set"),
                    v["evaluationTime"].as_f64().is_some_and(|s| s >= 0.0),
                    || v["evaluationTime"].to_string(),
                );
            }
            if r.get("alerts").is_some() || s.get("alerts").is_some() {
                compare_alerts(&mut row, "alerts", &r["alerts"], &s["alerts"]);
            }
            rows.push(row);
        }
    }
    for h in &tg {
        if !pg.iter().any(|g| g["name"] == h["name"]) {
            let mut row = Row::new(checkpoint, format!("group {}", h["name"]));
            row.check("present", false, || "only in Tidemark".into());
            rows.push(row);
        }
    }

    let mut row = Row::new(checkpoint, "/api/v1/alerts");
    compare_alerts(&mut row, "alert", &p.alerts, &t.alerts);
    rows.push(row);

    let mut row = Row::new(checkpoint, "written series (/api/v1/query)");
    let p_keys: Vec<&String> = p.series.keys().collect();
    let t_keys: Vec<&String> = t.series.keys().collect();
    let only_p: Vec<&&String> = p_keys
        .iter()
        .filter(|k| !t.series.contains_key(**k))
        .collect();
    let only_t: Vec<&&String> = t_keys
        .iter()
        .filter(|k| !p.series.contains_key(**k))
        .collect();
    row.check("series", only_p.is_empty() && only_t.is_empty(), || {
        format!("only in Prometheus {only_p:?}; only in Tidemark {only_t:?}")
    });
    for (labels, pv) in &p.series {
        let Some(tv) = t.series.get(labels) else {
            continue;
        };
        let metric: Value = serde_json::from_str(labels).unwrap_or_default();
        let name = metric["__name__"].as_str().unwrap_or("");
        let ok = if TIME_VALUED_METRICS.contains(&name) {
            (pv - tv).abs() * 1000.0 <= TIME_SLACK_MS as f64
        } else {
            same_value(*pv, *tv)
        };
        row.check(&format!("value of {labels}"), ok, || {
            format!("prometheus {pv} <> tidemark {tv}")
        });
    }
    rows.push(row);
    rows
}

pub(crate) fn print_table(rows: &[Row]) -> (String, usize) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<58} {:>6}  result",
        "checkpoint", "item", "fields"
    );
    let mut unexpected = 0;
    for row in rows {
        let classified = row.classified();
        let result = if classified.is_empty() {
            "match".to_string()
        } else if classified.iter().all(|(_, r)| r.is_some()) {
            "DELIBERATE".to_string()
        } else {
            "DIFF".to_string()
        };
        let _ = writeln!(
            out,
            "{:<10} {:<58} {:>6}  {result}",
            row.checkpoint, row.item, row.compared
        );
        for (d, reason) in classified {
            match reason {
                Some(r) => {
                    let _ = writeln!(out, "           deliberate: {d}\n             ({r})");
                }
                None => {
                    unexpected += 1;
                    let _ = writeln!(out, "           DIFF {d}");
                }
            }
        }
    }
    (out, unexpected)
}

// ---------------------------------------------------------------------------------------------
// The test
