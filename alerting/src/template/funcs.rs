//! Prometheus' template functions (`template/template.go` in Prometheus 3.5: `query`,
//! `humanize`, `title`, ...), with Go's parameter types.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::Env;
use super::signature::{Func, Imp, Param, fixed};
use super::strconv::{float_v, format_float, go_quote};
use super::time::time_string;
use super::value::{Sample, Value};

use Param::{Any, Str, Vector};

pub(crate) static PROMETHEUS: &[(&str, Func)] = &[
    ("query", fixed(&[Str], query)),
    ("first", fixed(&[Vector], first)),
    ("label", fixed(&[Str, Param::Sample], label)),
    ("value", fixed(&[Param::Sample], value)),
    ("strvalue", fixed(&[Param::Sample], strvalue)),
    (
        "args",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(args),
        },
    ),
    ("reReplaceAll", fixed(&[Str, Str, Str], re_replace_all)),
    (
        "safeHtml",
        fixed(&[Str], |_, a| Ok(Value::Html(s(&a[0]).into()))),
    ),
    ("match", fixed(&[Str, Str], re_match)),
    (
        "title",
        fixed(&[Str], |_, a| Ok(Value::Str(title(s(&a[0]), false)))),
    ),
    ("toUpper", fixed(&[Str], to_upper)),
    ("toLower", fixed(&[Str], to_lower)),
    (
        "graphLink",
        fixed(&[Str], |_, a| {
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=0",
                query_escape(s(&a[0]))
            )))
        }),
    ),
    (
        "tableLink",
        fixed(&[Str], |_, a| {
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=1",
                query_escape(s(&a[0]))
            )))
        }),
    ),
    ("sortByLabel", fixed(&[Str, Vector], sort_by_label)),
    ("stripPort", fixed(&[Str], strip_port)),
    ("stripDomain", fixed(&[Str], strip_domain)),
    ("humanize", fixed(&[Any], humanize)),
    ("humanize1024", fixed(&[Any], humanize1024)),
    ("humanizeDuration", fixed(&[Any], humanize_duration)),
    (
        "humanizePercentage",
        fixed(&[Any], |_, a| {
            Ok(Value::Str(format!("{}%", g4(to_float(&a[0])? * 100.0))))
        }),
    ),
    ("humanizeTimestamp", fixed(&[Any], humanize_timestamp)),
    (
        "toTime",
        fixed(&[Any], |_, a| {
            float_to_time(to_float(&a[0])?).map(Value::Time)
        }),
    ),
    (
        "toDuration",
        fixed(&[Any], |_, a| {
            Ok(Value::Duration((to_float(&a[0])? * 1e9) as i64))
        }),
    ),
    (
        "now",
        fixed(&[], |env, _| Ok(Value::Float(env.t_ms as f64 / 1000.0))),
    ),
    (
        "pathPrefix",
        fixed(&[], |env, _| Ok(Value::str(url_path(env.external_url)))),
    ),
    (
        "externalURL",
        fixed(&[], |env, _| Ok(Value::str(env.external_url))),
    ),
    ("parseDuration", fixed(&[Str], parse_duration)),
    (
        "urlQueryEscape",
        fixed(&[Str], |_, a| Ok(Value::Str(query_escape(s(&a[0]))))),
    ),
];

/// The text of an argument typed `string` (the executor checked the type).
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// What Go reports when a function dereferences a nil `*sample`.
const NIL_DEREFERENCE: &str = "runtime error: invalid memory address or nil pointer dereference";

fn sample(v: &Value) -> Result<&Sample, String> {
    match v {
        Value::Sample(s) => Ok(s),
        _ => Err(NIL_DEREFERENCE.into()),
    }
}

fn query(env: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let vector = env.query.elements(s(&a[0]), env.t_ms)?;
    let samples = vector
        .into_iter()
        .map(|(labels, element)| {
            let map: BTreeMap<String, String> = labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let (value, histogram) = match element {
                crate::Element::Float(v) => (v, None),
                crate::Element::Histogram(h) => (0.0, Some(h.text)),
            };
            Rc::new(Sample {
                labels: Rc::new(map),
                value,
                histogram,
            })
        })
        .collect();
    Ok(Value::Vector(Rc::new(samples)))
}

fn first(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Vector(v) if !v.is_empty() => Ok(Value::Sample(v[0].clone())),
        _ => Err("first() called on vector with no elements".into()),
    }
}

fn label(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let sample = sample(&a[1])?;
    Ok(Value::str(
        sample.labels.get(s(&a[0])).map_or("", String::as_str),
    ))
}

fn value(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(sample(&a[0])?.value())
}

fn strvalue(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let sample = sample(&a[0])?;
    Ok(Value::str(
        sample.labels.get("__value__").map_or("", String::as_str),
    ))
}

fn args(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let map = a
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("arg{i}"), v.clone()))
        .collect();
    Ok(Value::Map(Rc::new(map)))
}

/// Compiles a Go (RE2) pattern; the error reads like Go's `error parsing regexp: ...`.
fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid pattern");
        let reason = reason.trim().trim_start_matches("error: ");
        // Go's wording (regexp/syntax) where the kind of error is the same.
        let reason = match reason {
            "unclosed group" => "missing closing )",
            "unopened group" => "unexpected )",
            other => other,
        };
        format!("error parsing regexp: {reason}: `{pattern}`")
    })
}

pub(crate) fn re_replace_all(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    // Go's `regexp.MustCompile` panics; the template reports the panic.
    let re = compile(s(&a[0]))
        .map_err(|e| format!("regexp: Compile({}): {e}", go_regexp_quote(s(&a[0]))))?;
    Ok(Value::Str(re.replace_all(s(&a[2]), s(&a[1])).into_owned()))
}

fn go_regexp_quote(s: &str) -> String {
    if s.contains('`') || s.chars().any(|c| c.is_control() && c != '\t') {
        go_quote(s)
    } else {
        format!("`{s}`")
    }
}

pub(crate) fn re_match(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
}

/// Go's `strings.ToUpper`.
pub(crate) fn to_upper(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Str(map_chars(s(&a[0]), char::to_uppercase)))
}

/// Go's `strings.ToLower`.
pub(crate) fn to_lower(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Str(map_chars(s(&a[0]), char::to_lowercase)))
}

fn map_chars<I: Iterator<Item = char>>(s: &str, f: fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut mapped = f(c);
            match (mapped.next(), mapped.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)` (Prometheus): the first cased
/// letter of each word upper-cased, the rest left alone; with `lower_rest`,
/// `cases.Title(language.AmericanEnglish)` (Alertmanager): the rest lower-cased.
pub(crate) fn title(text: &str, lower_rest: bool) -> String {
    let is_mid = |c: char| matches!(c, '\'' | '.' | ':' | '·' | '\u{2018}' | '\u{2019}');
    let is_cased = |c: char| c.is_lowercase() || c.is_uppercase();
    let is_break = |c: char| !(c.is_alphanumeric() || c == '_' || is_mid(c));
    let mut out = String::with_capacity(text.len());
    let mut mid_word = false;
    let mut prev_mid = false;
    for c in text.chars() {
        if prev_mid && is_mid(c) {
            mid_word = false;
        }
        if is_cased(c) {
            if mid_word && lower_rest {
                out.extend(c.to_lowercase());
            } else if mid_word {
                out.push(c);
            } else {
                out.extend(c.to_uppercase());
                mid_word = true;
            }
        } else {
            out.push(c);
            if is_break(c) {
                mid_word = false;
            }
        }
        prev_mid = is_mid(c);
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn sort_by_label(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let Value::Vector(v) = &a[1] else {
        return Ok(a[1].clone());
    };
    let key = s(&a[0]);
    let mut sorted: Vec<Rc<Sample>> = v.as_ref().clone();
    sorted.sort_by(|x, y| {
        let get = |s: &Sample| s.labels.get(key).cloned().unwrap_or_default();
        get(x).cmp(&get(y))
    });
    Ok(Value::Vector(Rc::new(sorted)))
}

/// Go's `net.SplitHostPort`, without its error messages.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k);
    if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 == hostport.len() || (end + 1 != i) {
            return None;
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

fn strip_port(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let hostport = s(&a[0]);
    Ok(Value::str(
        split_host_port(hostport).map_or(hostport, |(host, _)| host),
    ))
}

fn strip_domain(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let hostport = s(&a[0]);
    let (host, port) = split_host_port(hostport).unwrap_or((hostport, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Value::str(hostport));
    }
    let host = host.split('.').next().unwrap_or(host);
    if port.is_empty() {
        Ok(Value::str(host))
    } else if host.contains(':') {
        Ok(Value::Str(format!("[{host}]:{port}")))
    } else {
        Ok(Value::Str(format!("{host}:{port}")))
    }
}

/// Go's `%.4g`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// Go's `strconv.ParseFloat(s, 64)`, with its error messages.
pub(crate) fn parse_float(text: &str) -> Result<f64, String> {
    let err = |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", go_quote(text));
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    let signs = lower.len() - unsigned.len();
    let special = matches!(unsigned, "inf" | "infinity") || (lower == "nan");
    if signs > 1 || unsigned.contains('_') || (unsigned.starts_with("nan") && !special) {
        return Err(err("invalid syntax"));
    }
    let v: f64 = text.parse().map_err(|_| err("invalid syntax"))?;
    if v.is_infinite() && !special {
        return Err(err("value out of range"));
    }
    Ok(v)
}

/// Prometheus' `ConvertToFloat`: numbers, numeric strings and durations (in seconds).
pub(crate) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(text) => parse_float(text),
        Value::Duration(ns) | Value::GoDuration(ns) => Ok(*ns as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn humanize(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let mut v = to_float(&a[0])?;
    if v == 0.0 || !v.is_finite() {
        return Ok(Value::Str(g4(v)));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::Str(format!("{}{prefix}", g4(v))))
}

fn humanize1024(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let mut v = to_float(&a[0])?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::Str(g4(v)));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::Str(format!("{}{prefix}", g4(v))))
}

pub(crate) fn humanize_duration(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let mut v = to_float(&a[0])?;
    if !v.is_finite() {
        return Ok(Value::Str(g4(v)));
    }
    if v == 0.0 {
        return Ok(Value::Str(format!("{}s", g4(v))));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let whole = v as i64;
        let (seconds, minutes, hours, days) = (
            whole % 60,
            whole / 60 % 60,
            whole / 3600 % 24,
            whole / 86_400,
        );
        let text = if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
        return Ok(Value::Str(text));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(Value::Str(format!("{}{prefix}s", g4(v))))
}

/// Prometheus' `floatToTime`: seconds to a time at millisecond precision.
fn float_to_time(v: f64) -> Result<i64, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            float_v(v)
        ));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(ms * 1_000_000)
}

fn humanize_timestamp(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let v = to_float(&a[0])?;
    if !v.is_finite() {
        return Ok(Value::Str(g4(v)));
    }
    Ok(Value::Str(time_string(float_to_time(v)?)))
}

/// The path of a URL (`externalURL.Path`).
fn url_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// Prometheus' `model.ParseDurationAllowNegative`, in seconds.
fn parse_duration(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let text = s(&a[0]);
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let ms = parse_duration_ms(body)?;
    let secs = ms as f64 / 1000.0;
    Ok(Value::Float(if neg { -secs } else { secs }))
}

fn parse_duration_ms(text: &str) -> Result<u64, String> {
    match text {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_quote(text));
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut last_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(text)
            ));
        };
        if pos < last_unit {
            return Err(invalid());
        }
        last_unit = pos + 1;
        let ns_max = (1u64 << 63) / 1_000_000;
        let add = n
            .checked_mul(UNITS[pos].1)
            .filter(|v| *v <= ns_max)
            .ok_or("duration out of range")?;
        total = total
            .checked_add(add)
            .filter(|v| *v <= ns_max)
            .ok_or("duration out of range")?;
    }
    Ok(total)
}
