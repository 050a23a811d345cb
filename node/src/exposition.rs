//! Prometheus' text exposition format (0.0.4) into samples: what `self_scrape` reads of the
//! node's own `/metrics`, and what scraping targets will read. Comments (`# HELP`, `# TYPE`)
//! and empty lines are skipped; each other line is `name{label="value",...} value
//! [timestamp]`, label values with `\\`, `\"` and `\n` escapes, values Go floats (`+Inf`,
//! `-Inf`, `NaN` included). A malformed line is an error naming its number.

/// One sample line: labels (`__name__` first), value and optional timestamp (ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Every sample line of `text`.
pub fn parse(text: &str) -> Result<Vec<Line>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, l)| parse_line(l.trim()).map_err(|e| format!("line {}: {e}: {l:?}", i + 1)))
        .collect()
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

fn parse_line(line: &str) -> Result<Line, String> {
    let name_end = line
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(line.len(), |(i, _)| i);
    let name = &line[..name_end];
    if !name.starts_with(is_name_start) {
        return Err("no metric name".into());
    }
    let mut labels = vec![("__name__".to_string(), name.to_string())];
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = parse_float(value).ok_or_else(|| format!("bad value {value:?}"))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("bad timestamp {t:?}"))?,
        ),
    };
    if fields.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Line {
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `name="value"` pairs up to the closing brace; what follows it.
fn parse_labels<'a>(mut s: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let end = s
            .char_indices()
            .find(|(_, c)| !is_name_char(*c))
            .map_or(s.len(), |(i, _)| i);
        let name = &s[..end];
        if !name.starts_with(is_name_start) {
            return Err("bad label name".into());
        }
        s = s[end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or("no = after a label name")?
            .trim_start();
        s = s.strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        s = s[close + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("no , or } after a label".into());
        }
    }
}

/// A value as Go's `strconv.ParseFloat` reads the exposition format's.
fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &Line) -> Vec<(&str, &str)> {
        l.labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn reads_the_format_prometheus_client_writes() {
        let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n\
                    x_bucket{le=\"+Inf\",handler=\"/api/v1/query\"} 7\n\
                    up{job=\"a\" , instance=\"h:1\",} 1 1700000000000\n\n\
                    esc{v=\"a\\\\b\\\"c\\nd\"} -Inf\nnan NaN\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!(labels(&lines[0]), [("__name__", "x_total")]);
        assert_eq!(lines[0].value, 3.0);
        assert_eq!(
            labels(&lines[1]),
            [
                ("__name__", "x_bucket"),
                ("le", "+Inf"),
                ("handler", "/api/v1/query")
            ]
        );
        assert_eq!(lines[2].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(labels(&lines[2])[2], ("instance", "h:1"));
        assert_eq!(labels(&lines[3])[1], ("v", "a\\b\"c\nd"));
        assert_eq!(lines[3].value, f64::NEG_INFINITY);
        assert!(lines[4].value.is_nan());
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for bad in [
            "{a=\"b\"} 1",
            "x{a=b} 1",
            "x{a=\"b} 1",
            "x{a=\"b\" c=\"d\"} 1",
            "x",
            "x one",
            "x 1 two",
            "x 1 2 3",
            "x{a=\"\\q\"} 1",
        ] {
            let e = parse(&format!("ok 1\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("line 2:"), "{bad}: {e}");
        }
    }
}
