//! Prometheus' JSON response format, written by hand where Prometheus' encoder differs from a
//! generic one: sample values are strings formatted like Go's `strconv.FormatFloat` ('f', or
//! 'e' below 1e-6 and from 1e21 on, as in Prometheus' `jsonutil.MarshalValue`), timestamps are
//! numbers of seconds with at most three decimals (`jsonutil.MarshalTimestamp`).

use std::fmt::Write as _;

use tidemark_query::histogram::{Hist, HistogramPoint};
use tidemark_query::{Point, Value};
use tidemark_storage::{Labels, Sample};

/// Appends a sample value as Prometheus writes it: `NaN`, `+Inf`, `-Inf`, `1000000`, `0.1`,
/// `1e-07`, `1e+21`. The digits are the shortest that read back as `v` (ryu, as serde_json
/// writes floats), laid out as Go's 'f' (or 'e', with a signed exponent of at least two
/// digits, below 1e-6 and from 1e21 on).
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    let abs = v.abs();
    let mut ryu = ryu::Buffer::new();
    let mut buf = [0u8; 32];
    let (len, point) = shortest_digits(ryu.format_finite(abs), &mut buf);
    // ASCII digits only.
    let digits = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    if !(1e-6..1e21).contains(&abs) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp = point - 1;
        out.push_str(if exp < 0 { "e-" } else { "e+" });
        if exp.abs() < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(exp.unsigned_abs()));
        return;
    }
    let n = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
    } else if point < n {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (point - n) as usize));
    }
}

/// The significant digits of a positive number as ryu writes it (`"1.5e-7"`, `"123.45"`,
/// `"1e16"`, `"1.0"`), without leading or trailing zeros, and where the decimal point goes: the
/// number is `0.DIGITS x 10^point`.
fn shortest_digits(s: &str, buf: &mut [u8; 32]) -> (usize, i32) {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (mut len, mut point, mut after_point) = (0, exp, false);
    for &c in mantissa.as_bytes() {
        if c == b'.' {
            after_point = true;
            continue;
        }
        if !after_point {
            point += 1;
        }
        if len == 0 && c == b'0' {
            point -= 1;
            continue;
        }
        if let Some(slot) = buf.get_mut(len) {
            *slot = c;
            len += 1;
        }
    }
    while len > 0 && buf[len - 1] == b'0' {
        len -= 1;
    }
    (len, point)
}

/// Appends a timestamp in milliseconds as Prometheus writes it: seconds, with the milliseconds
/// as three decimals unless they are 0.
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let t = t_ms.unsigned_abs();
    out.push_str(itoa::Buffer::new().format(t / 1000));
    let frac = t % 1000;
    if frac != 0 {
        out.push('.');
        for unit in [100, 10, 1] {
            out.push(char::from(b'0' + (frac / unit % 10) as u8));
        }
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
    write_value(out, s.v);
    out.push_str("\"]");
}

/// Appends a native histogram as the query API writes it: count, sum and the non-empty
/// buckets from the lowest values up, each `[boundary rule, lower, upper, count]` (rule 0:
/// `(l, u]`, 1: `[l, u)`, 2: `(l, u)`, 3: `[l, u]`).
pub fn write_histogram(out: &mut String, h: &Hist) {
    out.push_str(r#"{"count":""#);
    write_value(out, h.count);
    out.push_str(r#"","sum":""#);
    write_value(out, h.sum);
    out.push('"');
    let mut first = true;
    for b in h.buckets_ascending().filter(|b| b.count != 0.0) {
        out.push_str(if first { r#","buckets":["# } else { "," });
        first = false;
        let _ = write!(out, "[{},\"", b.boundary_rule());
        write_value(out, b.lower);
        out.push_str(r#"",""#);
        write_value(out, b.upper);
        out.push_str(r#"",""#);
        write_value(out, b.count);
        out.push_str("\"]");
    }
    if !first {
        out.push(']');
    }
    out.push('}');
}

/// Appends a histogram point as `[seconds,{...}]`.
fn write_histogram_point(out: &mut String, p: &HistogramPoint) {
    out.push('[');
    write_timestamp(out, p.t);
    out.push(',');
    write_histogram(out, &p.h);
    out.push(']');
}

/// Appends `,"key":[...]` with every point written by `write`, unless there are none.
fn write_points<T>(out: &mut String, key: &str, points: &[T], write: fn(&mut String, &T)) {
    if points.is_empty() {
        return;
    }
    let _ = write!(out, ",\"{key}\":[");
    for (j, p) in points.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        write(out, p);
    }
    out.push(']');
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
            for (i, (labels, point)) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, labels);
                match point {
                    Point::Float(sample) => {
                        out.push_str(r#","value":"#);
                        write_sample(out, sample);
                    }
                    Point::Histogram(h) => {
                        out.push_str(r#","histogram":"#);
                        write_histogram_point(out, h);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(out, &s.labels);
                // Each list only when the series has points of its kind, as Prometheus.
                write_points(out, "values", &s.floats, write_sample);
                write_points(out, "histograms", &s.histograms, write_histogram_point);
                out.push('}');
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

    fn format_value(v: f64) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

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
            // Exact ties between two shortest last digits go to the even one, as Go rounds
            // (checked against Prometheus 3.5's answers to `vector(...)`).
            // 1404122000000000.25 and .75, exactly.
            (f64::from_bits(0x4313_f42a_8420_1001), "1404122000000000.2"),
            (f64::from_bits(0x4313_f42a_8420_1003), "1404122000000000.8"),
            (123456789012345680000.0, "123456789012345680000"),
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

    /// Go's formatting by std's (shortest round-trip digits as well), as the values were
    /// written before they were written through ryu.
    fn oracle(v: f64) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
        }
        let abs = v.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let s = format!("{v:e}");
            let (mantissa, exp) = s.split_once('e').expect("an exponent");
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        format!("{v}")
    }

    #[test]
    fn values_format_as_std_would_over_every_kind_of_float() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values = vec![
            1e-6,
            1e-6f64.next_down(),
            1e21,
            1e21f64.next_down(),
            0.5,
            100.0,
        ];
        for _ in 0..200_000 {
            let r = next();
            values.push(f64::from_bits(r));
            values.push((r % 1_000_000_007) as f64 / 1000.0);
            values.push((r >> 11) as f64);
            values.push(f64::from_bits(r) % 1e6);
            values.push(10f64.powi((r % 60) as i32 - 30) * (1.0 + (r >> 40) as f64 / 1e4));
        }
        let mut ties = 0;
        for &v in &values {
            let (got, std) = (format_value(v), oracle(v));
            if got == std {
                continue;
            }
            // Both shortest and both read back as `v`: an exact tie between two last digits,
            // where std rounds half up and Go (and ryu) to even (the table above has two).
            let back = |s: &str| s.parse::<f64>().map(f64::to_bits);
            assert!(
                got.len() == std.len() && back(&got) == Ok(v.to_bits()) && back(&std) == back(&got),
                "{:x}: {got} vs {std}",
                v.to_bits()
            );
            ties += 1;
        }
        assert!(ties * 1000 < values.len(), "{ties} ties");
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
            Point::Float(Sample::new(1500, 1.0)),
        )]);
        let mut data = String::new();
        write_query_data(&mut data, &v);
        assert_eq!(
            success(&data, &[], &[]),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"1"]}]}}"#
        );
        let m = Value::Matrix(vec![tidemark_query::MatrixSeries::floats(
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

    #[test]
    fn histograms_as_prometheus_writes_them() {
        use tidemark_query::MatrixSeries;
        use tidemark_query::histogram::Bucket;
        let h = Hist {
            hint: Default::default(),
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 7.0,
            sum: 12.5,
            positive: vec![
                Bucket {
                    index: 1,
                    count: 0.0,
                },
                Bucket {
                    index: 2,
                    count: 3.0,
                },
            ],
            negative: vec![Bucket {
                index: 0,
                count: 2.0,
            }],
            custom_values: Vec::new().into(),
        };
        let point = HistogramPoint {
            t: 1500,
            h: std::sync::Arc::new(h.clone()),
        };
        let v = Value::Vector(vec![(
            Labels::from_pairs(&[("__name__", "h")]),
            Point::Histogram(point.clone()),
        )]);
        let mut data = String::new();
        write_query_data(&mut data, &v);
        // The empty bucket (1, 2] is not listed; the negative one is [-1, -0.5).
        assert_eq!(
            data,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1.500,{"count":"7","sum":"12.5","buckets":[[1,"-1","-0.5","2"],[3,"-0.001","0.001","2"],[0,"2","4","3"]]}]}]}"#
        );
        // A series with histograms only has no "values".
        let m = Value::Matrix(vec![MatrixSeries {
            labels: Labels::default(),
            floats: Vec::new(),
            histograms: vec![point],
        }]);
        let mut data = String::new();
        write_query_data(&mut data, &m);
        assert!(
            data.starts_with(
                r#"{"resultType":"matrix","result":[{"metric":{},"histograms":[[1.500,{"count":"7""#
            ),
            "{data}"
        );
        let empty = Hist {
            positive: Vec::new(),
            negative: Vec::new(),
            zero_count: 0.0,
            count: 0.0,
            sum: 0.0,
            ..h
        };
        let mut out = String::new();
        write_histogram(&mut out, &empty);
        assert_eq!(out, r#"{"count":"0","sum":"0"}"#);
    }
}
