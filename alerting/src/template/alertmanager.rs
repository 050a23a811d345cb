//! Alertmanager's template functions (`DefaultFuncs` in `template/template.go` of
//! Alertmanager 0.33), with Go's parameter types: what notification templates call.
//! `now` and `since` read the clock the caller hands in ([`Env::t_ms`]), not the wall clock.

use std::rc::Rc;

use super::Env;
use super::funcs::{humanize_duration, re_match, re_replace_all, s, title, to_lower, to_upper};
use super::json::to_json;
use super::signature::{Func, Imp, Param, fixed};
use super::strconv::go_quote;
use super::time::{GoTime, format};
use super::value::Value;

use Param::{Any, Str};

pub(crate) static ALERTMANAGER: &[(&str, Func)] = &[
    ("toUpper", fixed(&[Str], to_upper)),
    ("toLower", fixed(&[Str], to_lower)),
    (
        "title",
        fixed(&[Str], |_, a| Ok(Value::Str(title(s(&a[0]), true)))),
    ),
    (
        "trimSpace",
        fixed(&[Str], |_, a| Ok(Value::str(s(&a[0]).trim()))),
    ),
    ("join", fixed(&[Str, Param::Strings], join)),
    ("match", fixed(&[Str, Str], re_match)),
    (
        "safeHtml",
        fixed(&[Str], |_, a| Ok(Value::Html(s(&a[0]).into()))),
    ),
    (
        "safeUrl",
        fixed(&[Str], |_, a| Ok(Value::Url(s(&a[0]).into()))),
    ),
    ("urlUnescape", fixed(&[Str], url_unescape)),
    ("reReplaceAll", fixed(&[Str, Str, Str], re_replace_all)),
    (
        "stringSlice",
        Func {
            params: &[],
            variadic: Some(Str),
            imp: Imp::Call(|_, a| {
                let items = a.iter().map(|v| s(v).to_string()).collect();
                Ok(Value::Strings(Rc::new(items)))
            }),
        },
    ),
    (
        "date",
        fixed(&[Str, Param::Time], |_, a| {
            Ok(Value::Str(format(&time(&a[1]), s(&a[0]))))
        }),
    ),
    (
        "tz",
        fixed(&[Str, Param::Time], |_, a| {
            time(&a[1]).in_location(s(&a[0])).map(Value::time)
        }),
    ),
    (
        "now",
        fixed(&[], |env, _| {
            Ok(Value::time(GoTime::from_unix_ms(env.t_ms)))
        }),
    ),
    ("since", fixed(&[Param::Time], since)),
    ("humanizeDuration", fixed(&[Any], humanize_duration)),
    (
        "toJson",
        fixed(&[Any], |_, a| to_json(&a[0]).map(Value::Str)),
    ),
    (
        "list",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::List(Rc::new(a.to_vec())))),
        },
    ),
    (
        "append",
        Func {
            params: &[Param::List],
            variadic: Some(Any),
            imp: Imp::Call(append),
        },
    ),
    (
        "dict",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(dict),
        },
    ),
];

/// An argument typed `time.Time` (a `*time.Time` is read through, as Go does).
fn time(v: &Value) -> GoTime {
    match v {
        Value::GoTime(t) => (**t).clone(),
        Value::Time(ns) => GoTime::from_unix_ns(*ns),
        _ => GoTime::zero(),
    }
}

fn join(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let Value::Strings(items) = &a[1] else {
        return Ok(Value::str(""));
    };
    Ok(Value::Str(items.join(s(&a[0]))))
}

fn since(env: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let then = time(&a[0]);
    let now = GoTime::from_unix_ms(env.t_ms);
    let ns = (i128::from(now.secs) - i128::from(then.secs)) * 1_000_000_000 + i128::from(now.nanos)
        - i128::from(then.nanos);
    Ok(Value::GoDuration(
        ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    ))
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte. Bytes that are not UTF-8 become
/// U+FFFD (a Rust string cannot hold them; Go's would).
fn url_unescape(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let text = s(&a[0]);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                        out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                        i += 3;
                    }
                    _ => {
                        let bad = &bytes[i..(i + 3).min(bytes.len())];
                        let bad = String::from_utf8_lossy(bad);
                        return Err(format!("invalid URL escape {}", go_quote(&bad)));
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()))
}

fn append(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let mut items = match &a[0] {
        Value::List(l) => l.as_ref().clone(),
        _ => Vec::new(),
    };
    items.extend(a[1..].iter().cloned());
    Ok(Value::List(Rc::new(items)))
}

fn dict(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    if !a.len().is_multiple_of(2) {
        return Err("dict requires an even number of arguments".into());
    }
    let mut map = std::collections::BTreeMap::new();
    for pair in a.chunks(2) {
        let Value::Str(key) = &pair[0] else {
            return Err("dict keys must be strings".into());
        };
        map.insert(key.clone(), pair[1].clone());
    }
    Ok(Value::Map(Rc::new(map)))
}
