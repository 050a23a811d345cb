//! Asking both and comparing their answers: values within tolerance, series, annotations.

use super::*;

/// One system's answer to a case.
pub(crate) struct Answer {
    /// HTTP status (0: the request itself failed).
    pub(crate) http: u16,
    /// The JSON body (`Null` when the body is not JSON).
    pub(crate) body: serde_json::Value,
    /// The body as text, for the report.
    pub(crate) text: String,
}

pub(crate) async fn ask(client: &reqwest::Client, base: &str, case: &Case) -> Answer {
    let mut form: Vec<(String, String)> = Vec::new();
    if let Some(e) = &case.expr {
        form.push(("query".into(), e.clone()));
    }
    form.extend(case.params.iter().cloned());
    match client
        .post(format!("{base}/api/v1/{}", case.endpoint))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => {
            let http = r.status().as_u16();
            let text = r
                .text()
                .await
                .unwrap_or_else(|e| format!("<body unreadable: {e}>"));
            let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            Answer { http, body, text }
        }
        Err(e) => Answer {
            http: 0,
            body: serde_json::Value::Null,
            text: format!("<request failed: {e}>"),
        },
    }
}

pub(crate) type Key = BTreeMap<String, String>;
pub(crate) type Points = Vec<(i64, String)>;

pub(crate) fn fmt_key(k: &Key) -> String {
    let inner: Vec<String> = k.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// `[t, "v"]` as (ms, value text).
pub(crate) fn point(p: &serde_json::Value) -> Result<(i64, String), String> {
    let t = p
        .get(0)
        .and_then(|t| t.as_f64())
        .ok_or_else(|| format!("bad point {p}"))?;
    let v = p
        .get(1)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("bad point {p}"))?;
    Ok(((t * 1000.0).round() as i64, v.to_string()))
}

/// `[t, {"count": .., "sum": .., "buckets": [[rule, lower, upper, count], ...]}]` as a run of
/// points at `t`: count, sum, then each bucket's four numbers (compared like any value).
pub(crate) fn histogram_point(p: &serde_json::Value) -> Result<Vec<(i64, String)>, String> {
    let t = p
        .get(0)
        .and_then(|t| t.as_f64())
        .ok_or_else(|| format!("bad histogram point {p}"))?;
    let t = (t * 1000.0).round() as i64;
    let h = p.get(1).ok_or_else(|| format!("bad histogram point {p}"))?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = vec![(t, text(&h["count"])), (t, text(&h["sum"]))];
    for b in h["buckets"].as_array().into_iter().flatten() {
        for x in b.as_array().into_iter().flatten() {
            out.push((t, text(x)));
        }
    }
    Ok(out)
}

pub(crate) fn number(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Equal values: NaN equals NaN, infinities exactly, finite values within the tolerances.
pub(crate) fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b
        || (a - b).abs() <= VALUE_REL_TOL * a.abs().max(b.abs())
        || (a.abs() <= VALUE_ABS_TOL && b.abs() <= VALUE_ABS_TOL)
}

pub(crate) fn same_value_text(a: &str, b: &str) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => same_value(x, y),
        _ => a == b,
    }
}

pub(crate) fn rel_t(t: i64, t0: i64) -> String {
    let d = t - t0;
    format!(
        "T0{}{}.{:03}s",
        if d < 0 { "-" } else { "+" },
        d.abs() / 1000,
        d.abs() % 1000
    )
}

pub(crate) fn compare_points(p: &Points, t: &Points, t0: i64) -> Result<(), String> {
    for (i, (pp, tp)) in p.iter().zip(t.iter()).enumerate() {
        if pp.0 != tp.0 {
            return Err(format!(
                "point {i}: timestamp {} vs {}",
                rel_t(pp.0, t0),
                rel_t(tp.0, t0)
            ));
        }
        if !same_value_text(&pp.1, &tp.1) {
            return Err(format!(
                "at {}: value {} vs {}",
                rel_t(pp.0, t0),
                pp.1,
                tp.1
            ));
        }
    }
    if p.len() != t.len() {
        let (longer, who) = if p.len() > t.len() {
            (p, "Prometheus")
        } else {
            (t, "Tidemark")
        };
        let first_extra = &longer[p.len().min(t.len())];
        return Err(format!(
            "{} points vs {}; {who} also has {}={}",
            p.len(),
            t.len(),
            rel_t(first_extra.0, t0),
            first_extra.1
        ));
    }
    Ok(())
}

/// The series of a vector or matrix result, in answer order.
pub(crate) fn series_list(
    result: &serde_json::Value,
    matrix: bool,
) -> Result<Vec<(Key, Points)>, String> {
    let arr = result.as_array().ok_or("result is not an array")?;
    let mut out = Vec::with_capacity(arr.len());
    for s in arr {
        let metric = s
            .get("metric")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format!("no metric in {s}"))?;
        let key: Key = metric
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("<non-string>").to_string()))
            .collect();
        let mut points = Vec::new();
        let (floats, hists) = if matrix {
            ("values", "histograms")
        } else {
            ("value", "histogram")
        };
        match (s.get(floats), s.get(hists)) {
            (None, None) => return Err(format!("no {floats} or {hists} in {s}")),
            (Some(v), _) if !matrix => points.push(point(v)?),
            (_, Some(h)) if !matrix => points.extend(histogram_point(h)?),
            (v, h) => {
                for x in v.and_then(|v| v.as_array()).into_iter().flatten() {
                    points.push(point(x)?);
                }
                for x in h.and_then(|h| h.as_array()).into_iter().flatten() {
                    points.extend(histogram_point(x)?);
                }
            }
        }
        out.push((key, points));
    }
    Ok(out)
}

pub(crate) fn compare_series(
    p: &serde_json::Value,
    t: &serde_json::Value,
    matrix: bool,
    order: Order,
    t0: i64,
) -> Result<(), String> {
    let pl = series_list(p, matrix).map_err(|e| format!("Prometheus: {e}"))?;
    let tl = series_list(t, matrix).map_err(|e| format!("Tidemark: {e}"))?;
    let mut pm = BTreeMap::new();
    for (k, v) in &pl {
        if pm.insert(k.clone(), v).is_some() {
            return Err(format!("Prometheus has {} twice", fmt_key(k)));
        }
    }
    let mut tm = BTreeMap::new();
    for (k, v) in &tl {
        if tm.insert(k.clone(), v).is_some() {
            return Err(format!("Tidemark has {} twice", fmt_key(k)));
        }
    }
    let only_p: Vec<&Key> = pm.keys().filter(|k| !tm.contains_key(*k)).collect();
    let only_t: Vec<&Key> = tm.keys().filter(|k| !pm.contains_key(*k)).collect();
    if !only_p.is_empty() || !only_t.is_empty() {
        let eg = |v: &[&Key]| {
            v.iter()
                .take(2)
                .map(|k| fmt_key(k))
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(format!(
            "{} series vs {}: {} only in Prometheus {}; {} only in Tidemark {}",
            pl.len(),
            tl.len(),
            only_p.len(),
            eg(&only_p),
            only_t.len(),
            eg(&only_t)
        ));
    }
    for (k, pv) in &pm {
        compare_points(pv, tm[k], t0).map_err(|e| format!("series {}: {e}", fmt_key(k)))?;
    }
    match order {
        Order::Set => {}
        Order::ByValue => {
            for (i, (a, b)) in pl.iter().zip(tl.iter()).enumerate() {
                if !same_value_text(&a.1[0].1, &b.1[0].1) {
                    return Err(format!(
                        "order: element {i} is {} {} vs {} {}",
                        fmt_key(&a.0),
                        a.1[0].1,
                        fmt_key(&b.0),
                        b.1[0].1
                    ));
                }
            }
        }
        Order::ByLabels => {
            for (i, (a, b)) in pl.iter().zip(tl.iter()).enumerate() {
                if a.0 != b.0 {
                    return Err(format!(
                        "order: element {i} is {} vs {}",
                        fmt_key(&a.0),
                        fmt_key(&b.0)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `Ok` when the answers agree; otherwise what differs first.
pub(crate) fn compare(p: &Answer, t: &Answer, order: Order, t0: i64) -> Result<(), String> {
    if p.body.is_null() {
        return Err(format!("Prometheus gave no JSON (HTTP {})", p.http));
    }
    if p.http != t.http {
        return Err(format!("HTTP status {} vs {}", p.http, t.http));
    }
    let field = |a: &Answer, k: &str| {
        a.body
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("<absent>")
            .to_string()
    };
    let (ps, ts) = (field(p, "status"), field(t, "status"));
    if ps != ts {
        return Err(format!("status {ps} vs {ts}"));
    }
    if ps == "error" {
        let (pe, te) = (field(p, "errorType"), field(t, "errorType"));
        return if pe == te {
            Ok(())
        } else {
            Err(format!("errorType {pe} vs {te}"))
        };
    }
    let (pd, td) = (&p.body["data"], &t.body["data"]);
    let rt = |d: &serde_json::Value| {
        d.get("resultType")
            .and_then(|v| v.as_str())
            .unwrap_or("<absent>")
            .to_string()
    };
    let (prt, trt) = (rt(pd), rt(td));
    if prt != trt {
        return Err(format!("resultType {prt} vs {trt}"));
    }
    let (pr, tr) = (&pd["result"], &td["result"]);
    match prt.as_str() {
        "scalar" | "string" => {
            let (pp, tp) = (point(pr)?, point(tr).map_err(|e| format!("Tidemark: {e}"))?);
            if pp.0 != tp.0 {
                return Err(format!(
                    "timestamp {} vs {}",
                    rel_t(pp.0, t0),
                    rel_t(tp.0, t0)
                ));
            }
            let same = if prt == "string" {
                pp.1 == tp.1
            } else {
                same_value_text(&pp.1, &tp.1)
            };
            if same {
                Ok(())
            } else {
                Err(format!("value {:?} vs {:?}", pp.1, tp.1))
            }
        }
        "vector" => compare_series(pr, tr, false, order, t0),
        "matrix" => compare_series(pr, tr, true, order, t0),
        other => Err(format!("unknown resultType {other}")),
    }
}

/// Whether the answers carry warnings / infos (compared for information only: the texts differ
/// between engines by design).
pub(crate) fn annotations(a: &Answer) -> (Vec<String>, Vec<String>) {
    let texts = |k: &str| {
        let mut v: Vec<String> = a
            .body
            .get(k)
            .and_then(|v| v.as_array())
            .map(|v| {
                v.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    (texts("warnings"), texts("infos"))
}

/// `error:<type>`, `<resultType>` or `<resultType>:empty`.
pub(crate) fn answer_shape(a: &Answer) -> String {
    if a.body.get("status").and_then(|s| s.as_str()) == Some("error") {
        return format!("error:{}", a.body["errorType"].as_str().unwrap_or("?"));
    }
    let rt = a.body["data"]["resultType"].as_str().unwrap_or("?");
    match a.body["data"]["result"].as_array() {
        Some(r) if r.is_empty() => format!("{rt}:empty"),
        _ => rt.to_string(),
    }
}

pub(crate) fn shorten(s: &str, max_chars: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        format!(
            "{}... ({} chars)",
            s.chars().take(max_chars).collect::<String>(),
            s.chars().count()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and ingestion
