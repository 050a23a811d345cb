//! Go's `encoding/json.Marshal` over template values, for Alertmanager's `toJson`: struct
//! fields under their JSON tags in declaration order, map keys sorted, times in RFC 3339 with
//! nanoseconds, floats as ES6 prints them, strings with `<`, `>` and `&` escaped.

use std::fmt::Write;

use super::strconv::format_float;
use super::time::{GoTime, format};
use super::value::Value;

/// Go's `json.Marshal(v)`; the error is Go's (`json: unsupported value: NaN`).
pub(crate) fn to_json(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v)?;
    Ok(out)
}

fn write_value(out: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Duration(i) | Value::GoDuration(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_float(out, *f)?,
        Value::Str(s) | Value::Html(s) | Value::Url(s) => write_string(out, s),
        Value::LabelMap(m) | Value::Kv(m) => {
            write_object(out, m.iter().map(|(k, v)| (k.as_str(), Value::str(v))))?
        }
        Value::Map(m) => write_object(out, m.iter().map(|(k, v)| (k.as_str(), v.clone())))?,
        Value::List(l) => write_array(out, l.iter().cloned())?,
        Value::Slice(s) => write_array(out, s.items.iter().cloned())?,
        Value::Strings(l) => write_array(out, l.iter().map(Value::str))?,
        Value::Pairs(p) => {
            out.push('[');
            for (i, (name, value)) in p.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_pair(out, name, value)?;
            }
            out.push(']');
        }
        Value::Pair(p) => write_pair(out, &p.0, &p.1)?,
        Value::Vector(samples) => {
            write_array(out, samples.iter().map(|s| Value::Sample(s.clone())))?
        }
        Value::Sample(s) => write_object(
            out,
            [
                ("Labels", Value::LabelMap(s.labels.clone())),
                ("Value", s.value()),
            ],
        )?,
        Value::Alert(a) => write_object(
            out,
            [
                ("Labels", Value::LabelMap(a.labels.clone())),
                ("ExternalLabels", Value::LabelMap(a.external_labels.clone())),
                ("ExternalURL", Value::str(&a.external_url)),
                ("Value", a.value()),
            ],
        )?,
        Value::Struct(st) => {
            write_object(out, st.fields.iter().map(|f| (f.json, f.value.clone())))?
        }
        Value::GoTime(t) => write_time(out, t)?,
        Value::Time(ns) => write_time(out, &GoTime::from_unix_ns(*ns))?,
    }
    Ok(())
}

fn write_pair(out: &mut String, name: &str, value: &str) -> Result<(), String> {
    write_object(
        out,
        [("Name", Value::str(name)), ("Value", Value::str(value))],
    )
}

fn write_object<'a>(
    out: &mut String,
    entries: impl IntoIterator<Item = (&'a str, Value)>,
) -> Result<(), String> {
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, &value)?;
    }
    out.push('}');
    Ok(())
}

fn write_array(out: &mut String, items: impl Iterator<Item = Value>) -> Result<(), String> {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(out, &item)?;
    }
    out.push(']');
    Ok(())
}

/// Go's `Time.MarshalJSON`: RFC 3339 with up to nine fraction digits.
fn write_time(out: &mut String, t: &GoTime) -> Result<(), String> {
    let year = t.civil().year;
    if !(0..=9999).contains(&year) {
        return Err(
            "json: error calling MarshalJSON for type time.Time: Time.MarshalJSON: year \
             outside of range [0,9999]"
                .into(),
        );
    }
    out.push('"');
    out.push_str(&format(t, "2006-01-02T15:04:05.999999999Z07:00"));
    out.push('"');
    Ok(())
}

/// Go's float encoding: `f` format, `e` below 1e-6 and from 1e21, exponent not padded.
fn write_float(out: &mut String, f: f64) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            format_float(f, 'g', -1)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format_float(f, 'e', -1);
        // e-07 → e-7, e+21 stays.
        let text = match text.rsplit_once("e-0") {
            Some((mantissa, exp)) if exp.len() == 1 => format!("{mantissa}e-{exp}"),
            _ => text,
        };
        out.push_str(&text);
    } else {
        out.push_str(&format_float(f, 'f', -1));
    }
    Ok(())
}

/// A JSON string as Go's encoder writes it with HTML escaping on.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\0'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
