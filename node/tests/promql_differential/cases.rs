//! The queries both answer: expressions, ranges and steps, expected result order.

use super::*;

/// How the series of an answer are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Order {
    /// As a set keyed by label set.
    Set,
    /// As a set, and the sequence of values must match too (`sort`, `sort_desc`, top-level
    /// `topk`/`bottomk`: ties may come in any order).
    ByValue,
    /// As a set, and the sequence of label sets must match too (`sort_by_label*`).
    ByLabels,
}

/// One request, sent unchanged to both systems.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// `query` or `query_range`.
    pub(crate) endpoint: &'static str,
    /// The PromQL text (`None`: no `query` parameter at all).
    pub(crate) expr: Option<String>,
    /// Form parameters besides `query`.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) order: Order,
}

impl Case {
    pub(crate) fn instant(expr: &str, t_ms: i64) -> Case {
        Case {
            endpoint: "query",
            expr: Some(expr.to_string()),
            params: vec![("time".into(), fmt_s(t_ms)), stats_all()],
            order: order_of(expr),
        }
    }

    pub(crate) fn range(expr: &str, start_ms: i64, end_ms: i64, step: &str) -> Case {
        Case {
            endpoint: "query_range",
            expr: Some(expr.to_string()),
            params: vec![
                ("start".into(), fmt_s(start_ms)),
                ("end".into(), fmt_s(end_ms)),
                ("step".into(), step.into()),
                stats_all(),
            ],
            order: Order::Set,
        }
    }

    pub(crate) fn raw(
        endpoint: &'static str,
        expr: Option<&str>,
        params: &[(&str, String)],
    ) -> Case {
        Case {
            endpoint,
            expr: expr.map(str::to_string),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            order: Order::Set,
        }
    }

    /// The request, with times also shown relative to the first sample (`T0`).
    pub(crate) fn describe(&self, t0: i64) -> String {
        let mut s = format!(
            "{} {:?}",
            self.endpoint,
            self.expr.as_deref().unwrap_or("<no query parameter>")
        );
        for (k, v) in &self.params {
            let rel = match (k.as_str(), v.parse::<f64>()) {
                ("time" | "start" | "end", Ok(secs)) => {
                    let d = (secs * 1000.0).round() as i64 - t0;
                    format!(
                        " (T0{}{}.{:03}s)",
                        if d < 0 { "-" } else { "+" },
                        d.abs() / 1000,
                        d.abs() % 1000
                    )
                }
                _ => String::new(),
            };
            let _ = write!(s, " {k}={v}{rel}");
        }
        s
    }
}

/// Every query asks for `stats=all`: the sample counts are compared too.
pub(crate) fn stats_all() -> (String, String) {
    ("stats".into(), "all".into())
}

/// Whether both answers count the same queryable samples, in total and per step (Prometheus'
/// `data.stats.samples`; `peakSamples` follows each engine's own evaluation and is not
/// compared).
pub(crate) fn compare_sample_stats(p: &Answer, t: &Answer) -> Result<(), String> {
    let samples = |a: &Answer| a.body["data"]["stats"]["samples"].clone();
    let (ps, ts) = (samples(p), samples(t));
    if ps.is_null() {
        return Ok(());
    }
    for key in ["totalQueryableSamples", "totalQueryableSamplesPerStep"] {
        if ps[key] != ts[key] {
            return Err(format!(
                "{key} {} vs {}",
                shorten(&ps[key].to_string(), 300),
                shorten(&ts[key].to_string(), 300)
            ));
        }
    }
    Ok(())
}

/// Seconds with milliseconds, as both APIs accept them.
pub(crate) fn fmt_s(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether Prometheus' order of an instant answer matters: the whole query is one call of
/// `sort`, `sort_desc`, `sort_by_label[_desc]`, or `topk`/`bottomk` without grouping.
pub(crate) fn order_of(expr: &str) -> Order {
    let e = expr.trim();
    let Some(open) = e.find('(') else {
        return Order::Set;
    };
    let head = e[..open].trim();
    if !closes_at_end(e, open) {
        return Order::Set;
    }
    match head {
        "sort" | "sort_desc" | "topk" | "bottomk" => Order::ByValue,
        "sort_by_label" | "sort_by_label_desc" => Order::ByLabels,
        _ => Order::Set,
    }
}

/// Whether the parenthesis at `open` is closed by the last character of `e` (string literals
/// skipped).
pub(crate) fn closes_at_end(e: &str, open: usize) -> bool {
    let bytes = e.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q != b'`' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i == bytes.len() - 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    false
}

/// Every case, deterministic for a dataset.
pub(crate) fn build_cases(ds: &Dataset) -> Vec<Case> {
    let (t0, t1) = (ds.t0, ds.t1);
    let min = 60_000;
    let mid = t0 + 22 * min + 7_623;
    let mut cases = Vec::new();

    // Ingestion probes: every series and every sample arrived.
    cases.extend(ingestion_probes(ds));
    // Names dropped by count_over_time: duplicate label sets, an execution error.
    cases.push(Case::instant(
        r#"count(count_over_time({__name__=~"tm_.+"}[1h]))"#,
        t1 + STEP_MS + 5_000,
    ));

    let extra_times = [
        t0,
        t0 + 61_000,
        mid + 333,
        t0 + 25 * min,
        t1 - 7 * min - 500,
        t1 + 301_000,
        t0 - 3_600_000,
        t1 + 30 * min,
    ];
    let ranges: [(i64, i64, &str); 8] = [
        (t0, t1, "60"),
        (mid - 10 * min, mid + 5 * min, "15s"),
        (t1 - 20 * min, t1 + 10 * min, "37"),
        (t0 - 5 * min, t0 + 10 * min, "20s"),
        (mid, mid + 5 * min, "1.5"),
        (t0 + 2 * min, t1 - 3 * min, "5m"),
        (t0 + 7 * min + 123, t0 + 40 * min, "1m30s"),
        (t1 - 10 * min, t1 + 5 * min, "10s"),
    ];
    for (k, e) in general_exprs(ds).iter().enumerate() {
        for t in [mid, t1 + 150_000, extra_times[k % extra_times.len()]] {
            cases.push(Case::instant(e, t));
        }
        let (s, end, step) = ranges[k % ranges.len()];
        cases.push(Case::range(e, s, end, step));
    }

    for e in instant_only_exprs(ds) {
        cases.push(Case::instant(&e, mid));
        cases.push(Case::instant(&e, t1 + 60_000));
        cases.push(Case::range(&e, mid, mid + 5 * min, "1m"));
    }

    let g = |i: i64| ds.grid(i);
    let stale_times = [
        g(100) - 1,
        g(100),
        g(100) + 1,
        g(99) + 5 * min - 1,
        g(99) + 5 * min,
        g(100) + 5 * min,
        g(70),
        g(110) - 1,
        g(110),
        g(60) - 1,
        g(60),
    ];
    for e in STALENESS_EXPRS {
        for t in stale_times {
            cases.push(Case::instant(e, t));
        }
        cases.push(Case::range(e, g(55), g(125), "15s"));
        cases.push(Case::range(e, g(90), g(130), "7"));
    }

    let edge_times = [
        t0 - 3_600_000,
        t0 - 1,
        t0,
        t0 + 1,
        t0 + 15_000,
        t1 - 1,
        t1,
        t1 + 250,
        t1 + 299_999,
        t1 + 300_000,
        t1 + 320_001,
        t1 + 3_600_000,
    ];
    for e in EDGE_EXPRS {
        for t in edge_times {
            cases.push(Case::instant(e, t));
        }
    }

    for e in ERROR_EXPRS {
        cases.push(Case::instant(e, mid));
    }
    // A few of them as range queries too.
    for e in &ERROR_EXPRS[..3] {
        cases.push(Case::range(e, mid, mid + 5 * min, "1m"));
    }
    let last_error = ERROR_EXPRS.len() - 17;
    for e in &ERROR_EXPRS[last_error..] {
        cases.push(Case::range(e, t1 - 10 * min, t1, "1m"));
    }

    // Request parameters: resolution limit (11,000 points allowed, 11,001 not), end before
    // start, bad steps and times, time formats, single-point ranges.
    let q = Some("vector(1)");
    let r = "query_range";
    let ts = |k: &'static str, t: i64| (k, fmt_s(t));
    cases.extend([
        Case::raw(
            r,
            Some("tm_up"),
            &[ts("start", t0), ts("end", t1), ("step", "0.2".into())],
        ),
        Case::raw(
            r,
            q,
            &[
                ts("start", mid),
                ts("end", mid + 11_000_000),
                ("step", "1".into()),
            ],
        ),
        Case::raw(
            r,
            q,
            &[
                ts("start", mid),
                ts("end", mid + 11_001_000),
                ("step", "1".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid - 60_000),
                ("step", "15s".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "0".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "-15".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "abc".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[ts("start", mid), ts("end", mid + 60_000)],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ("start", "abc".into()),
                ts("end", mid),
                ("step", "15".into()),
            ],
        ),
        Case::raw(r, Some("tm_up"), &[ts("start", mid), ("step", "15".into())]),
        Case::raw(
            r,
            None,
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "15".into()),
            ],
        ),
        Case::raw("query", Some("tm_up"), &[("time", "abc".into())]),
        Case::raw("query", None, &[ts("time", mid)]),
        Case::raw("query", Some("tm_up"), &[("time", rfc3339(mid))]),
        Case::raw(
            "query",
            Some("rate(tm_requests_total[5m])"),
            &[("time", rfc3339(t1 - 61_500))],
        ),
        Case::raw(
            r,
            Some("sum by (job) (rate(tm_requests_total[5m]))"),
            &[
                ("start", rfc3339(t0 + 5 * min)),
                ("end", rfc3339(t1)),
                ("step", "2m".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_temperature_celsius"),
            &[ts("start", mid), ts("end", mid), ("step", "60".into())],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 1_000),
                ("step", "15s".into()),
            ],
        ),
        Case::raw(
            r,
            Some("rate(tm_requests_total[2m])"),
            &[
                ts("start", mid),
                ts("end", mid + 10_000),
                ("step", "0.5".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", t0 - 7_200_000),
                ts("end", t0 - 3_600_000),
                ("step", "60".into()),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// Asking and comparing
