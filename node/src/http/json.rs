//! Prometheus' JSON response format, written by hand where Prometheus' encoder differs from a
//! generic one: sample values are strings formatted like Go's `strconv.FormatFloat` ('f', or
//! 'e' below 1e-6 and from 1e21 on, as in Prometheus' `jsonutil.MarshalValue`), timestamps are
//! numbers of seconds with at most three decimals (`jsonutil.MarshalTimestamp`).

use std::fmt::Write as _;

use tidemark_query::Value;
use tidemark_storage::{Labels, Sample};

/// A sample value as Prometheus writes it: `"NaN"`, `"+Inf"`, `"-Inf"`, `"1000000"`, `"0.1"`,
/// `"1e-07"`, `"1e+21"`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is the shortest round-trip mantissa with a bare exponent ("1.5e-7");
        // Go writes the exponent signed with at least two digits ("1.5e-07").
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').expect("{:e} always has an exponent");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    // Rust's Display is the shortest round-trip representation without an exponent, as Go's 'f', -1.
    format!("{v}")
}

/// Appends a millisecond timestamp as seconds: `1435781451.781`, `1435781451`, `-1.5` is `-1.500`.
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    let mut t = t_ms as i128;
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// Appends a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a label set as a JSON object `{"__name__":"up","job":"a"}`.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

/// Appends a sample as `[seconds,"value"]`.
pub fn write_sample(out: &mut String, s: &Sample) {
    out.push('[');
    write_timestamp(out, s.t);
    out.push_str(",\"");
    out.push_str(&format_value(s.v));
    out.push_str("\"]");
}

/// Appends a query result's `data`: `{"resultType":"vector","result":[...]}`.
pub fn write_query_data(out: &mut String, value: &Value) {
    match value {
        Value::Scalar { t, v } => {
            out.push_str(r#"{"resultType":"scalar","result":"#);
            write_sample(out, &Sample::new(*t, *v));
        }
        Value::String { t, s } => {
            out.push_str(r#"{"resultType":"string","result":["#);
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str(r#"{"resultType":"vector","result":["#);
            for (i, (labels, sample)) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, labels);
                out.push_str(r#","value":"#);
                write_sample(out, sample);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, (labels, samples)) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, labels);
                out.push_str(r#","values":["#);
                for (j, s) in samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_sample(out, s);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Adds `"key":value` (already-encoded JSON) at the end of the encoded object `obj`.
pub fn push_field(obj: &mut String, key: &str, value: &str) {
    debug_assert!(obj.ends_with('}'), "not an object: {obj}");
    obj.pop();
    if !obj.ends_with('{') {
        obj.push(',');
    }
    write_str(obj, key);
    obj.push(':');
    obj.push_str(value);
    obj.push('}');
}

/// The success envelope around already-encoded `data`; `warnings` and `infos` only when
/// non-empty, as Prometheus does.
pub fn success(data: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data);
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// The error envelope: `{"status":"error","errorType":"bad_data","error":"..."}`.
pub fn error(error_type: &str, message: &str) -> String {
    let mut out = String::from(r#"{"status":"error","errorType":"#);
    write_str(&mut out, error_type);
    out.push_str(r#","error":"#);
    write_str(&mut out, message);
    out.push('}');
    out
}

/// A JSON array of strings.
pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, s);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_prometheus() {
        for (v, want) in [
            (1_000_000.0, "1000000"),
            (0.1, "0.1"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (123456789.123, "123456789.123"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (-2.5e-10, "-2.5e-10"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (
                f64::from_bits(tidemark_storage::model::STALE_NAN_BITS),
                "NaN",
            ),
        ] {
            assert_eq!(format_value(v), want, "{v:e}");
        }
    }

    #[test]
    fn timestamps_are_seconds_with_millis() {
        for (t, want) in [
            (1_435_781_451_781, "1435781451.781"),
            (1_435_781_451_000, "1435781451"),
            (1_435_781_451_780, "1435781451.780"),
            (1_435_781_451_005, "1435781451.005"),
            (0, "0"),
            (-1500, "-1.500"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn envelopes() {
        let v = Value::Vector(vec![(
            Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b")]),
            Sample::new(1500, 1.0),
        )]);
        let mut data = String::new();
        write_query_data(&mut data, &v);
        assert_eq!(
            success(&data, &[], &[]),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"1"]}]}}"#
        );
        let m = Value::Matrix(vec![(
            Labels::default(),
            vec![Sample::new(1000, f64::NAN), Sample::new(2000, 2.0)],
        )]);
        let mut data = String::new();
        write_query_data(&mut data, &m);
        assert_eq!(
            success(&data, &["w".into()], &["i".into()]),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"2"]]}]},"warnings":["w"],"infos":["i"]}"#
        );
        let mut data = String::new();
        write_query_data(&mut data, &Value::Scalar { t: 1, v: 2.0 });
        assert_eq!(data, r#"{"resultType":"scalar","result":[0.001,"2"]}"#);
        let mut data = String::new();
        write_query_data(
            &mut data,
            &Value::String {
                t: 1000,
                s: "x\n".into(),
            },
        );
        assert_eq!(data, r#"{"resultType":"string","result":[1,"x\n"]}"#);
        assert_eq!(
            error("bad_data", "oops \u{1}"),
            r#"{"status":"error","errorType":"bad_data","error":"oops \u0001"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&error("x", "a\"\\\t")).unwrap();
        assert_eq!(parsed["error"], "a\"\\\t");
        assert_eq!(string_array(["a", "b"]), r#"["a","b"]"#);
        let mut obj = String::from("{}");
        push_field(&mut obj, "a", "1");
        push_field(&mut obj, "b", r#"{"c":[]}"#);
        assert_eq!(obj, r#"{"a":1,"b":{"c":[]}}"#);
    }
}
