//! Parser for Prometheus' promqltest script language (see `testdata/promql/SCRIPT-LANGUAGE.md`).

use std::sync::Arc;

use promql_parser::parser::{Expr, parse};
use regex::Regex;
use tidemark_query::histogram::{Bucket, Hist};
use tidemark_storage::histogram::{CUSTOM_BUCKETS_SCHEMA, ResetHint};
use tidemark_storage::model::STALE_NAN_BITS;
use tidemark_storage::{Label, Labels};

/// A value in a script: a float (stale markers included) or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptPoint {
    Float(f64),
    Histogram(Arc<Hist>),
}

impl ScriptPoint {
    pub fn float(&self) -> Option<f64> {
        match self {
            ScriptPoint::Float(v) => Some(*v),
            ScriptPoint::Histogram(_) => None,
        }
    }
}

/// One value of a series in a script: absent (`_`) or a point.
pub type SeqValue = Option<ScriptPoint>;

/// An expected annotation or error: `expect <kind> [msg|regex]: <text>`.
#[derive(Clone, Debug)]
pub enum Matching {
    Any,
    Msg(String),
    Regex(String),
}

/// What an eval expects besides the result.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    pub fail: Option<Matching>,
    pub warn: Vec<Matching>,
    pub info: Vec<Matching>,
    pub no_warn: bool,
    pub no_info: bool,
    pub ordered: bool,
}

/// How an eval is run.
#[derive(Clone, Debug)]
pub enum EvalKind {
    Instant {
        t_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// An `eval` command.
#[derive(Clone, Debug)]
pub struct Eval {
    /// 1-based line of the eval command.
    pub line: usize,
    pub text: String,
    pub expr: String,
    pub kind: EvalKind,
    pub expect: Expectations,
    /// Expected series and their values (one per step for range evals).
    pub series: Vec<(Labels, Vec<SeqValue>)>,
    pub scalar: Option<f64>,
    /// Why the expectations cannot be represented, if so.
    pub unsupported: Option<String>,
}

/// A script command.
#[derive(Clone, Debug)]
pub enum Command {
    Load {
        step_ms: i64,
        series: Vec<(Labels, Vec<SeqValue>)>,
        /// `load_with_nhcb`: classic histograms are loaded as native ones too.
        with_nhcb: bool,
    },
    Clear,
    Eval(Box<Eval>),
}

/// Parses a duration (`1m`, `1h30m`, `90s`) or a number of seconds into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1000.0).round() as i64);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let re = Regex::new(r"(\d+)(ms|s|m|h|d|w|y)").unwrap();
    let mut total = 0i64;
    let mut consumed = 0;
    for c in re.captures_iter(body) {
        let n: i64 = c[1].parse().map_err(|e| format!("{e}"))?;
        let unit = match &c[2] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => 365 * 86_400_000,
        };
        total += n * unit;
        consumed += c[0].len();
    }
    if consumed != body.len() || body.is_empty() {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(if neg { -total } else { total })
}

/// Parses a number as the script language does (`Inf`, `-Inf`, `NaN`, decimals, exponents).
pub fn parse_number(s: &str) -> Result<f64, String> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16)
            .map(|v| v as f64)
            .map_err(|e| e.to_string());
    }
    t.parse::<f64>().map_err(|_| format!("bad number {s:?}"))
}

/// Joins the tokens of native-histogram literals (`{{schema:0 sum:1}}x3`) into one token each.
fn join_histograms(tokens: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for t in tokens {
        if open {
            let last = out.last_mut().expect("an open histogram token");
            last.push(' ');
            last.push_str(t);
        } else {
            out.push(t.to_string());
        }
        let last = out.last().expect("just pushed");
        open = last.matches("{{").count() > last.matches("}}").count();
    }
    out
}

/// Expands a value sequence (`1 2+3x2 _ stale 1x5 _x3 {{schema:0 sum:1}}+{{sum:1}}x2`).
pub fn parse_values(tokens: &[&str]) -> Result<Vec<SeqValue>, String> {
    let num = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|Inf|inf|NaN)";
    let re = Regex::new(&format!(
        r"^({num})(?:([+-](?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|Inf)))?x(\d+)$"
    ))
    .unwrap();
    let hist_re = Regex::new(r"^(\{\{.*?\}\})(?:([+-])(\{\{.*?\}\}))?(?:x(\d+))?$").unwrap();
    let mut out = Vec::new();
    for tok in join_histograms(tokens) {
        let tok = tok.as_str();
        if tok.starts_with("{{") {
            let c = hist_re
                .captures(tok)
                .ok_or_else(|| format!("bad histogram token {tok:?}"))?;
            let base = parse_histogram(&c[1])?;
            let times: usize = match c.get(4) {
                Some(n) => n
                    .as_str()
                    .parse()
                    .map_err(|_| format!("bad token {tok:?}"))?,
                None => 0,
            };
            let inc = c.get(3).map(|m| parse_histogram(m.as_str())).transpose()?;
            let mut cur = base;
            out.push(Some(ScriptPoint::Histogram(Arc::new(cur.clone()))));
            for _ in 0..times {
                if let Some(inc) = &inc {
                    if cur.schema > inc.schema {
                        return Err(format!(
                            "cannot merge from schema {} to {}",
                            inc.schema, cur.schema
                        ));
                    }
                    cur = if &c[2] == "+" {
                        cur.add(inc)
                    } else {
                        cur.sub(inc)
                    }
                    .map_err(|e| format!("combining histograms in {tok:?}: {e:?}"))?;
                }
                out.push(Some(ScriptPoint::Histogram(Arc::new(cur.clone()))));
            }
        } else if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad token {tok:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
        } else if tok == "stale" {
            out.push(Some(ScriptPoint::Float(f64::from_bits(STALE_NAN_BITS))));
        } else if let Some(c) = re.captures(tok) {
            let start = parse_number(&c[1])?;
            let inc = match c.get(2) {
                Some(m) => parse_number(m.as_str())?,
                None => 0.0,
            };
            let n: usize = c[3].parse().map_err(|_| format!("bad token {tok:?}"))?;
            let mut v = start;
            for _ in 0..=n {
                out.push(Some(ScriptPoint::Float(v)));
                v += inc;
            }
        } else {
            out.push(Some(ScriptPoint::Float(parse_number(tok)?)));
        }
    }
    Ok(out)
}

/// Parses a histogram literal: `{{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001
/// buckets:[1 2 1] offset:1 n_buckets:[1] n_offset:0 custom_values:[1 2]
/// counter_reset_hint:gauge}}` (every field optional).
pub fn parse_histogram(text: &str) -> Result<Hist, String> {
    let body = text
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .ok_or_else(|| format!("bad histogram {text:?}"))?;
    let field = Regex::new(r"(\w+):\s*(\[[^\]]*\]|\S+)").unwrap();
    let list = |v: &str| -> Result<Vec<f64>, String> {
        v.trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .map(parse_number)
            .collect()
    };
    let mut h = Hist::default();
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    let (mut offset, mut n_offset) = (0i32, 0i32);
    for c in field.captures_iter(body) {
        let v = &c[2];
        let int = || {
            v.parse::<i32>()
                .map_err(|_| format!("bad integer {v:?} in {text:?}"))
        };
        match &c[1] {
            "schema" => h.schema = int()?,
            "sum" => h.sum = parse_number(v)?,
            "count" => h.count = parse_number(v)?,
            "z_bucket" => h.zero_count = parse_number(v)?,
            "z_bucket_w" => h.zero_threshold = parse_number(v)?,
            "buckets" => positive = list(v)?,
            "n_buckets" => negative = list(v)?,
            "offset" => offset = int()?,
            "n_offset" => n_offset = int()?,
            "custom_values" => h.custom_values = list(v)?.into(),
            "counter_reset_hint" => {
                h.hint = match v {
                    "unknown" => ResetHint::Unknown,
                    "reset" => ResetHint::Reset,
                    "not_reset" => ResetHint::NotReset,
                    "gauge" => ResetHint::Gauge,
                    other => return Err(format!("bad counter_reset_hint {other:?}")),
                }
            }
            other => return Err(format!("unknown histogram field {other:?} in {text:?}")),
        }
    }
    let indexed = |counts: Vec<f64>, offset: i32| -> Vec<Bucket> {
        counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| Bucket {
                index: offset + i as i32,
                count,
            })
            .collect()
    };
    h.positive = indexed(positive, offset);
    h.negative = indexed(negative, n_offset);
    if h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values.is_empty() {
        return Err(format!("custom buckets without custom_values in {text:?}"));
    }
    Ok(h)
}

/// Parses a series descriptor (`metric{a="b"}`, `{__name__="x"}`, `{}`) into labels.
pub fn parse_labels(desc: &str) -> Result<Labels, String> {
    if desc.trim() == "{}" {
        return Ok(Labels::default());
    }
    match parse(desc)? {
        Expr::VectorSelector(vs) => {
            let mut labels: Vec<Label> = vs
                .matchers
                .matchers
                .iter()
                .map(|m| Label::new(m.name.clone(), m.value.clone()))
                .collect();
            if let Some(n) = vs.name {
                labels.push(Label::new("__name__", n));
            }
            Ok(Labels::new(labels))
        }
        other => Err(format!("not a series descriptor: {other}")),
    }
}

/// Splits `desc values...` at the end of the descriptor (braces and quotes respected).
pub fn split_series_line(line: &str) -> (&str, &str) {
    let (mut depth, mut in_quote, mut escaped) = (0, None::<char>, false);
    for (i, c) in line.char_indices() {
        if let Some(q) = in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                in_quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_quote = Some(c),
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (&line[..=i], &line[i + 1..]);
                }
            }
            c if c.is_whitespace() && depth == 0 => return (&line[..i], &line[i..]),
            _ => {}
        }
    }
    (line, "")
}

fn parse_matching(rest: &str) -> Matching {
    let rest = rest.trim();
    if let Some(m) = rest.strip_prefix("msg:") {
        Matching::Msg(m.trim().to_string())
    } else if let Some(r) = rest.strip_prefix("regex:") {
        Matching::Regex(r.trim().to_string())
    } else {
        Matching::Any
    }
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let re_load = Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").unwrap();
    let re_instant =
        Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
            .unwrap();
    let re_range = Regex::new(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
    .unwrap();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The block of a command: the following non-empty lines (comments skipped).
        let mut block: Vec<(usize, &str)> = Vec::new();
        let is_command = |l: &str| l == "clear" || l.starts_with("load ") || l.starts_with("eval");
        while i < lines.len() && !lines[i].trim().is_empty() && !is_command(lines[i].trim()) {
            let l = lines[i].trim();
            if !l.starts_with('#') {
                block.push((i + 1, l));
            }
            i += 1;
        }
        let lineno = i - block.len();
        if line == "clear" {
            cmds.push(Command::Clear);
        } else if let Some(c) = re_load.captures(line) {
            let step_ms = parse_duration_ms(&c[2])?;
            let mut series = Vec::new();
            for (n, l) in block {
                let (desc, vals) = split_series_line(l);
                let labels = parse_labels(desc).map_err(|e| format!("line {n}: {e}"))?;
                let toks: Vec<&str> = vals.split_whitespace().collect();
                let v = parse_values(&toks).map_err(|e| format!("line {n}: {e}"))?;
                series.push((labels, v));
            }
            cmds.push(Command::Load {
                step_ms,
                series,
                with_nhcb: c.get(1).is_some(),
            });
        } else if line.starts_with("eval") {
            let eval_line = lines[..i]
                .iter()
                .rposition(|l| l.trim() == line)
                .map(|p| p + 1)
                .unwrap_or(0);
            let mut expect = Expectations::default();
            let (legacy, kind, expr) = if let Some(c) = re_range.captures(line) {
                let kind = EvalKind::Range {
                    start_ms: parse_duration_ms(&c[2])?,
                    end_ms: parse_duration_ms(&c[3])?,
                    step_ms: parse_duration_ms(&c[4])?,
                };
                (
                    c.get(1).map(|m| m.as_str().to_string()),
                    kind,
                    c[5].to_string(),
                )
            } else if let Some(c) = re_instant.captures(line) {
                let t_ms = match c.get(2) {
                    Some(t) => parse_duration_ms(t.as_str())?,
                    None => 0,
                };
                (
                    c.get(1).map(|m| m.as_str().to_string()),
                    EvalKind::Instant { t_ms },
                    c[3].to_string(),
                )
            } else {
                return Err(format!("line {eval_line}: cannot parse {line:?}"));
            };
            match legacy.as_deref() {
                Some("fail") => expect.fail = Some(Matching::Any),
                Some("warn") => expect.warn.push(Matching::Any),
                Some("info") => expect.info.push(Matching::Any),
                Some("ordered") => expect.ordered = true,
                _ => {}
            }
            let mut eval = Eval {
                line: eval_line,
                text: line.to_string(),
                expr,
                kind,
                expect,
                series: Vec::new(),
                scalar: None,
                unsupported: None,
            };
            for (n, l) in block {
                if let Some(rest) = l.strip_prefix("expected_fail_message") {
                    eval.expect.fail = Some(Matching::Msg(rest.trim().to_string()));
                } else if let Some(rest) = l.strip_prefix("expected_fail_regexp") {
                    eval.expect.fail = Some(Matching::Regex(rest.trim().to_string()));
                } else if let Some(rest) = l.strip_prefix("expect ") {
                    let rest = rest.trim();
                    let (kind, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    match kind {
                        "fail" => eval.expect.fail = Some(parse_matching(tail)),
                        "warn" => eval.expect.warn.push(parse_matching(tail)),
                        "info" => eval.expect.info.push(parse_matching(tail)),
                        "no_warn" => eval.expect.no_warn = true,
                        "no_info" => eval.expect.no_info = true,
                        "ordered" => eval.expect.ordered = true,
                        other => return Err(format!("line {n}: unknown expectation {other:?}")),
                    }
                } else if let Ok(v) = parse_number(l) {
                    eval.scalar = Some(v);
                } else {
                    let (desc, vals) = split_series_line(l);
                    let labels = parse_labels(desc).map_err(|e| format!("line {n}: {e}"))?;
                    let toks: Vec<&str> = vals.split_whitespace().collect();
                    match parse_values(&toks) {
                        Ok(v) => eval.series.push((labels, v)),
                        Err(e) => eval.unsupported = Some(e),
                    }
                }
            }
            cmds.push(Command::Eval(Box::new(eval)));
        } else {
            return Err(format!("line {lineno}: unknown command {line:?}"));
        }
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_sequences() {
        let v = parse_values(&["1+1x2", "_", "5x1", "-2-1x1", "_x2"]).unwrap();
        let floats: Vec<Option<f64>> = v
            .iter()
            .map(|p| p.as_ref().and_then(ScriptPoint::float))
            .collect();
        assert_eq!(
            floats,
            vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                None,
                Some(5.0),
                Some(5.0),
                Some(-2.0),
                Some(-3.0),
                None,
                None
            ]
        );
        let h = parse_values(&[
            "{{schema:0",
            "sum:1",
            "count:2",
            "buckets:[1",
            "1]}}+{{sum:1",
            "count:1",
            "buckets:[0",
            "1]}}x2",
        ])
        .unwrap();
        assert_eq!(h.len(), 3);
        let Some(ScriptPoint::Histogram(last)) = &h[2] else {
            panic!("{h:?}");
        };
        assert_eq!((last.sum, last.count), (3.0, 4.0));
        assert_eq!(
            last.positive.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![1.0, 3.0]
        );
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;

    #[test]
    fn decimal_increments() {
        assert_eq!(
            parse_values(&["0+1.33x1"]).unwrap(),
            vec![
                Some(ScriptPoint::Float(0.0)),
                Some(ScriptPoint::Float(1.33))
            ]
        );
        let cmds = parse_script("load 5m\n  http_requests{job=\"a\"} 0+1.33x10\n\neval instant at 50m stddev(http_requests)\n  {} 0.0\n").unwrap();
        assert_eq!(cmds.len(), 2);
        if let Command::Eval(e) = &cmds[1] {
            assert_eq!(e.series.len(), 1, "{e:?}");
        }
        let out = super::super::runner::run(&cmds);
        assert!(out[0].error.is_none(), "{:?} {:?}", out[0].error, cmds[0]);
    }
}
