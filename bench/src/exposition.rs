//! Reading Prometheus' text exposition format, as the systems' `/metrics` serve it: one sample
//! line at a time, and a label out of the text between its braces.

/// One sample line of the text exposition format: name, the text between the braces, value.
pub fn parse_sample(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (&line[..open], &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, "", rest)
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// The value of label `name` in the text between a sample's braces.
pub fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines() {
        assert_eq!(parse_sample("up 1"), Some(("up", "", 1.0)));
        assert_eq!(
            parse_sample(r#"a{b="c"} 2 1700000000"#),
            Some(("a", r#"b="c""#, 2.0))
        );
        assert_eq!(parse_sample("# HELP a b"), None);
        assert_eq!(
            label(r#"x="1",rule_group="f;g""#, "rule_group"),
            Some("f;g")
        );
    }
}
