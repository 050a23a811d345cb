//! Backtick (raw) strings, as Prometheus reads them.
//!
//! In PromQL a string in backticks is raw: a backslash is a backslash, so
//! `` `host-(\d+):9100` `` is the regular expression `host-(\d+):9100`, which is why Grafana
//! users write regular expressions that way. promql-parser 0.11's lexer treats `\` inside
//! backticks as an escape and refuses `\d` ("unknown escape sequence"). Until it does not,
//! each raw string is rewritten into the double-quoted string with the same value before the
//! text reaches the parser (`\` and `"` escaped, newlines as `\n`, carriage returns dropped as
//! Go drops them from raw strings). Only the parser sees the rewritten text: positions in
//! annotations are taken from the text as sent.
//!
//! The test `promql_parser_still_needs_the_rewrite` fails once an upgraded promql-parser reads
//! raw strings itself; this module can then go.

use std::borrow::Cow;

use super::tokens::{Tok, tokens};

/// `q` with every backtick string replaced by the double-quoted string of the same value;
/// `q` itself when it has none.
pub(super) fn rewrite_raw_strings(q: &str) -> Cow<'_, str> {
    let raw: Vec<(usize, usize)> = tokens(q)
        .into_iter()
        .filter_map(|(tok, start)| match tok {
            // An unterminated one is left as it is: the parser reports it.
            Tok::Str { quote: b'`', end } if end > start + 1 && q.as_bytes()[end - 1] == b'`' => {
                Some((start, end))
            }
            _ => None,
        })
        .collect();
    if raw.is_empty() {
        return Cow::Borrowed(q);
    }
    let mut out = String::with_capacity(q.len() + 16);
    let mut copied = 0;
    for (start, end) in raw {
        out.push_str(&q[copied..start]);
        out.push('"');
        for c in q[start + 1..end - 1].chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => {}
                c => out.push(c),
            }
        }
        out.push('"');
        copied = end;
    }
    out.push_str(&q[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::{Expr, parse};

    fn string_value(q: &str) -> String {
        match parse(&rewrite_raw_strings(q)).unwrap_or_else(|e| panic!("{q}: {e}")) {
            Expr::StringLiteral(s) => s.val,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn raw_strings_keep_every_backslash() {
        assert_eq!(string_value(r"`host-(\d+):9100`"), r"host-(\d+):9100");
        assert_eq!(string_value(r#"`a\"b\\c`"#), r#"a\"b\\c"#);
        assert_eq!(string_value("`two\nlines\r`"), "two\nlines");
        assert_eq!(string_value("`é\\u00e9`"), "é\\u00e9");
        assert_eq!(string_value("``"), "");
    }

    #[test]
    fn other_strings_and_comments_are_left_alone() {
        let q = r#"f("`\d`", '`') # `\d`"#;
        assert_eq!(rewrite_raw_strings(q), q);
        assert_eq!(
            rewrite_raw_strings(r"x{a=~`\w+`} # `"),
            r#"x{a=~"\\w+"} # `"#
        );
        // Unterminated: the parser's error, not ours.
        assert_eq!(rewrite_raw_strings(r"`\d"), r"`\d");
    }

    #[test]
    fn regex_matchers_and_label_replace_see_the_raw_pattern() {
        let q = r#"label_replace(node_load1, "instance", "host-$1:8080", "instance", `host-(\d+):9100`)"#;
        let Expr::Call(c) = parse(&rewrite_raw_strings(q)).unwrap() else {
            panic!()
        };
        let Expr::StringLiteral(s) = &*c.args.args[4] else {
            panic!()
        };
        assert_eq!(s.val, r"host-(\d+):9100");
        let Expr::VectorSelector(vs) = parse(&rewrite_raw_strings(r"up{job=~`a\.b|\d`}")).unwrap()
        else {
            panic!()
        };
        assert_eq!(vs.matchers.matchers[0].value, r"a\.b|\d");
    }

    /// When this fails, promql-parser reads raw strings as Prometheus does: remove the rewrite
    /// (this module) and its call in `syntax::parse`.
    #[test]
    fn promql_parser_still_needs_the_rewrite() {
        let q = r"`host-(\d+):9100`";
        let reads_raw_strings =
            matches!(parse(q), Ok(Expr::StringLiteral(s)) if s.val == r"host-(\d+):9100");
        assert!(
            !reads_raw_strings,
            "promql-parser now parses {q} itself: remove syntax/raw_strings.rs"
        );
    }
}
