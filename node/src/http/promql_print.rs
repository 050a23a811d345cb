//! PromQL text as Prometheus 3.5 prints it: `String()` of its AST (`promql/parser/printer.go`)
//! and the pretty printer behind `/api/v1/format_query` (`promql/parser/prettier.go`), ported
//! over promql-parser's AST.
//!
//! promql-parser has a printer and a `prettify` of its own; they differ from Prometheus' in a
//! few places that show in `format_query` answers (`+Inf` printed as `Inf`, a negative `@`
//! time printed as `0.000`, subqueries indented where Prometheus does not indent them, label
//! quoting in `by`/`on` lists), so the port here follows Prometheus line by line and uses
//! promql-parser only for the parse. What the parser does not keep cannot be printed back:
//! a unary `+` (Prometheus prints `+x`, here `x`) and a number written as a duration
//! (Prometheus prints `1h`, here `3600`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, MatrixSelector, Offset,
    SubqueryExpr, VectorMatchCardinality, VectorSelector,
};
use promql_parser::util::display_duration;

/// Longest line the pretty printer leaves unsplit, in bytes (Prometheus' `maxCharactersPerLine`).
const LINE_BYTES_MAX: usize = 100;

/// One level of indentation of the pretty printer.
const INDENT: &str = "  ";

/// `expr` as Prometheus' `Expr.String()` prints it: on one line.
pub fn to_string(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

/// `expr` as Prometheus' `Prettify` prints it: lines longer than 100 bytes split, nested
/// expressions indented by two spaces per level.
pub fn prettify(expr: &Expr) -> String {
    let mut out = String::new();
    write_pretty(&mut out, expr, 0, true);
    out
}

fn write_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

/// Whether `expr` printed on one line is longer than [`LINE_BYTES_MAX`]. Every node prints at
/// least one byte, so a tree of more nodes than that is, and only a smaller one is printed to
/// find out: deciding is linear in the whole tree, not quadratic as printing every subtree
/// would be.
fn too_long_for_a_line(expr: &Expr) -> bool {
    let mut nodes = 0;
    let mut todo = vec![expr];
    while let Some(e) = todo.pop() {
        nodes += 1;
        if nodes > LINE_BYTES_MAX {
            return true;
        }
        match e {
            Expr::Aggregate(a) => todo.extend(a.param.as_deref().into_iter().chain([&*a.expr])),
            Expr::Unary(u) => todo.push(&u.expr),
            Expr::Binary(b) => todo.extend([&*b.lhs, &*b.rhs]),
            Expr::Paren(p) => todo.push(&p.expr),
            Expr::Subquery(q) => todo.push(&q.expr),
            Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| &**a)),
            _ => {}
        }
    }
    to_string(expr).len() > LINE_BYTES_MAX
}

/// Prometheus' `Pretty(level)` of `expr`, appended to `out`; `indent_first` is false where
/// Prometheus trims the first line's indentation (after a unary minus). Written into one
/// buffer: a deep tree's output is already quadratic in its depth (one indented line per
/// level), copying it at every level too would make that cubic.
fn write_pretty(out: &mut String, expr: &Expr, level: usize, indent_first: bool) {
    let lead = |out: &mut String| {
        if indent_first {
            write_indent(out, level);
        }
    };
    let split = || too_long_for_a_line(expr);
    match expr {
        Expr::Aggregate(e) if split() => {
            lead(out);
            out.push_str(&aggregate_op(e));
            out.push_str("(\n");
            if let Some(param) = &e.param {
                write_pretty(out, param, level + 1, true);
                out.push_str(",\n");
            }
            write_pretty(out, &e.expr, level + 1, true);
            out.push('\n');
            write_indent(out, level);
            out.push(')');
        }
        Expr::Binary(e) if split() => {
            write_pretty(out, &e.lhs, level + 1, indent_first);
            out.push('\n');
            write_indent(out, level);
            let _ = write!(out, "{}{}", e.op, binary_modifiers(e));
            out.push('\n');
            write_pretty(out, &e.rhs, level + 1, true);
        }
        Expr::Call(e) if split() => {
            lead(out);
            out.push_str(e.func.name);
            out.push_str("(\n");
            for (i, a) in e.args.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_pretty(out, a, level + 1, true);
            }
            out.push('\n');
            write_indent(out, level);
            out.push(')');
        }
        Expr::Paren(e) if split() => {
            lead(out);
            out.push_str("(\n");
            write_pretty(out, &e.expr, level + 1, true);
            out.push('\n');
            write_indent(out, level);
            out.push(')');
        }
        // Prometheus does not indent a subquery that fits on a line (its `Pretty` returns
        // `String()` without the prefix), and splits only the inner expression otherwise.
        Expr::Subquery(e) if split() => {
            write_pretty(out, &e.expr, level, indent_first);
            out.push_str(&subquery_suffix(e));
        }
        Expr::Subquery(_) => write_expr(out, expr),
        Expr::Unary(e) => {
            lead(out);
            out.push('-');
            write_pretty(out, &e.expr, level, false);
        }
        _ => {
            lead(out);
            write_expr(out, expr);
        }
    }
}

fn write_expr(out: &mut String, expr: &Expr) {
    match expr {
        Expr::Aggregate(e) => {
            out.push_str(&aggregate_op(e));
            out.push('(');
            if let Some(param) = &e.param {
                write_expr(out, param);
                out.push_str(", ");
            }
            write_expr(out, &e.expr);
            out.push(')');
        }
        Expr::Unary(e) => {
            out.push('-');
            write_expr(out, &e.expr);
        }
        Expr::Binary(e) => {
            write_expr(out, &e.lhs);
            let _ = write!(out, " {}{} ", e.op, binary_modifiers(e));
            write_expr(out, &e.rhs);
        }
        Expr::Paren(e) => {
            out.push('(');
            write_expr(out, &e.expr);
            out.push(')');
        }
        Expr::Subquery(e) => {
            write_expr(out, &e.expr);
            out.push_str(&subquery_suffix(e));
        }
        Expr::NumberLiteral(n) => out.push_str(&format_number(n.val)),
        Expr::StringLiteral(s) => out.push_str(&go_quote(&s.val)),
        Expr::VectorSelector(vs) => write_vector_selector(out, vs, true),
        Expr::MatrixSelector(ms) => write_matrix_selector(out, ms),
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, arg) in c.args.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg);
            }
            out.push(')');
        }
        // Extensions are never produced by the parser; print what promql-parser prints.
        Expr::Extension(_) => {
            let _ = write!(out, "{expr}");
        }
    }
}

/// A number as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: `+Inf`, `-Inf`, `NaN`, no exponent.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's Display is the shortest round-trip digits without an exponent, as Go's 'f', -1.
        format!("{v}")
    }
}

/// `sum`, `sum by (job) `, `sum without (a) ` (Prometheus' `getAggOpStr`, trailing space
/// included).
fn aggregate_op(e: &AggregateExpr) -> String {
    let mut s = e.op.to_string();
    match &e.modifier {
        Some(LabelModifier::Exclude(ls)) => {
            let _ = write!(s, " without ({}) ", join_grouping(&ls.labels));
        }
        Some(LabelModifier::Include(ls)) if !ls.labels.is_empty() => {
            let _ = write!(s, " by ({}) ", join_grouping(&ls.labels));
        }
        _ => {}
    }
    s
}

/// Grouping labels, quoted where they are not valid legacy metric names (`joinLabels`).
fn join_grouping(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| {
            if is_legacy_metric_name(l) {
                l.clone()
            } else {
                go_quote(l)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_legacy_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().enumerate().all(|(i, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        })
}

/// ` bool`, ` on (a) group_left (b)` and the like: what follows the operator.
fn binary_modifiers(e: &BinaryExpr) -> String {
    let Some(m) = &e.modifier else {
        return String::new();
    };
    let mut s = String::new();
    if m.return_bool {
        s.push_str(" bool");
    }
    // As `getMatchingStr`: nothing without `on` or a non-empty `ignoring`, and the group
    // modifier only with them.
    let (on, labels) = match &m.matching {
        Some(LabelModifier::Include(ls)) => (true, ls.labels.as_slice()),
        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.as_slice()),
        None => (false, &[][..]),
    };
    if on || !labels.is_empty() {
        let tag = if on { "on" } else { "ignoring" };
        let _ = write!(s, " {tag} ({})", labels.join(", "));
        match &m.card {
            VectorMatchCardinality::ManyToOne(ls) => {
                let _ = write!(s, " group_left ({})", ls.labels.join(", "));
            }
            VectorMatchCardinality::OneToMany(ls) => {
                let _ = write!(s, " group_right ({})", ls.labels.join(", "));
            }
            _ => {}
        }
    }
    // Fill modifiers are a promql-parser extension Prometheus 3.5 does not parse; printed as
    // promql-parser prints them so that nothing is lost.
    let fill = &m.fill_values;
    match (fill.lhs, fill.rhs) {
        (Some(l), Some(r)) if l == r || (l.is_nan() && r.is_nan()) => {
            let _ = write!(s, " fill ({})", format_number(l));
        }
        (l, r) => {
            if let Some(l) = l {
                let _ = write!(s, " fill_left ({})", format_number(l));
            }
            if let Some(r) = r {
                let _ = write!(s, " fill_right ({})", format_number(r));
            }
        }
    }
    s
}

/// `[5m:1m] @ 100.000 offset 1h`.
fn subquery_suffix(e: &SubqueryExpr) -> String {
    let step = e.step.as_ref().map(display_duration).unwrap_or_default();
    format!(
        "[{}:{step}]{}{}",
        display_duration(&e.range),
        at_suffix(e.at.as_ref()),
        offset_suffix(e.offset.as_ref())
    )
}

/// ` @ 1000.000`, ` @ start()`, ` @ end()` or nothing.
fn at_suffix(at: Option<&AtModifier>) -> String {
    match at {
        None => String::new(),
        Some(AtModifier::Start) => " @ start()".into(),
        Some(AtModifier::End) => " @ end()".into(),
        Some(AtModifier::At(t)) => format!(" @ {:.3}", at_millis(t) as f64 / 1000.0),
    }
}

/// Milliseconds since the epoch of an `@` time (negative before 1970).
pub fn at_millis(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Signed milliseconds of an offset.
pub fn offset_millis(offset: Option<&Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

/// ` offset 5m`, ` offset -5m` or nothing (a zero offset prints nothing, as in Prometheus).
fn offset_suffix(offset: Option<&Offset>) -> String {
    match offset {
        Some(Offset::Pos(d)) if !d.is_zero() => format!(" offset {}", display_duration(d)),
        Some(Offset::Neg(d)) if !d.is_zero() => format!(" offset -{}", display_duration(d)),
        _ => String::new(),
    }
}

/// `name{a="1",b!="2"} @ 1.000 offset 5m`; `with_modifiers` false leaves out `@` and offset
/// (a matrix selector prints them after the range).
fn write_vector_selector(out: &mut String, vs: &VectorSelector, with_modifiers: bool) {
    let name = vs.name.as_deref().unwrap_or("");
    let groups = matcher_strings(&vs.matchers, name);
    out.push_str(name);
    if !groups.is_empty() {
        out.push('{');
        out.push_str(&groups.join(" or "));
        out.push('}');
    }
    if with_modifiers {
        out.push_str(&at_suffix(vs.at.as_ref()));
        out.push_str(&offset_suffix(vs.offset.as_ref()));
    }
}

/// The matchers of a selector as Prometheus prints them: each `name="value"` (quoted as Go's
/// `%q`), sorted, without the `__name__` matcher that repeats the selector's name. One entry
/// per `or` group (an `or` in matchers is a promql-parser extension; Prometheus 3.5 has one
/// group).
fn matcher_strings(matchers: &Matchers, name: &str) -> Vec<String> {
    let one = |group: &[Matcher]| -> Option<String> {
        let mut parts: Vec<String> = group
            .iter()
            .filter(|m| {
                !(m.name == "__name__"
                    && matches!(m.op, MatchOp::Equal)
                    && m.value == name
                    && !name.is_empty())
            })
            .map(matcher_string)
            .collect();
        if parts.is_empty() {
            return None;
        }
        parts.sort();
        Some(parts.join(","))
    };
    if matchers.or_matchers.is_empty() {
        one(&matchers.matchers).into_iter().collect()
    } else {
        matchers.or_matchers.iter().filter_map(|g| one(g)).collect()
    }
}

/// `name="value"` as Prometheus' `Matcher.String()`.
fn matcher_string(m: &Matcher) -> String {
    let name = if needs_quoted_label_name(&m.name) {
        go_quote(&m.name)
    } else {
        m.name.clone()
    };
    format!("{name}{}{}", match_op(&m.op), go_quote(&m.value))
}

/// `=`, `!=`, `=~`, `!~`.
pub fn match_op(op: &MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    }
}

/// Prometheus' `shouldQuoteName`: anything but `[a-zA-Z_][a-zA-Z0-9_]*`.
fn needs_quoted_label_name(s: &str) -> bool {
    s.is_empty()
        || !s
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
}

fn write_matrix_selector(out: &mut String, ms: &MatrixSelector) {
    write_vector_selector(out, &ms.vs, false);
    let _ = write!(out, "[{}]", display_duration(&ms.range));
    out.push_str(&at_suffix(ms.vs.at.as_ref()));
    out.push_str(&offset_suffix(ms.vs.offset.as_ref()));
}

/// A string literal as Go's `strconv.Quote`: `"`, `\` and non-printable characters escaped
/// (`\n`, `\x01`, `\u00a0`); printable Unicode kept as is. Go's `unicode.IsPrint` is
/// approximated by "not a control, not a non-ASCII space, not a format character".
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters (Unicode category Cf) and private use, which Go escapes.
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(q: &str) -> String {
        prettify(&promql_parser::parser::parse(q).unwrap())
    }

    /// Answers of Prometheus 3.5.3's `/api/v1/format_query` for these queries.
    #[test]
    fn formats_like_prometheus() {
        for (q, want) in [
            ("up", "up"),
            ("foo @ 1000", "foo @ 1000.000"),
            ("foo @ 1000 offset -5m", "foo @ 1000.000 offset -5m"),
            ("x @ -10", "x @ -10.000"),
            ("x[5m] @ -10.5", "x[5m] @ -10.500"),
            ("foo @ start()", "foo @ start()"),
            ("Inf", "+Inf"),
            ("-Inf", "-Inf"),
            ("1e3", "1000"),
            ("0x1f", "31"),
            ("1e21", "1000000000000000000000"),
            ("0.0000001", "0.0000001"),
            (r#""str""#, r#""str""#),
            (
                r#"{__name__="x", "a.b"="c"}"#,
                r#"{"a.b"="c",__name__="x"}"#,
            ),
            (r#"{"utf8.name", a="b"}"#, r#"{__name__="utf8.name",a="b"}"#),
            (r#"x{b="1",a="2"}"#, r#"x{a="2",b="1"}"#),
            ("x{a=\"\u{e9}\u{1}\"}", "x{a=\"\u{e9}\\x01\"}"),
            ("a and on() b", "a and on () b"),
            ("a + ignoring() group_left() b", "a + b"),
            ("x * on(a) group_right() y", "x * on (a) group_right () y"),
            (r#"a + ignoring("a.b") b"#, "a + ignoring (a.b) b"),
            (r#"sum by ("a.b", c) (x)"#, r#"sum by ("a.b", c) (x)"#),
            ("sum by () (x)", "sum(x)"),
            ("count without () (x)", "count without () (x)"),
            ("sum(x) by (a, b) > 100", "sum by (a, b) (x) > 100"),
            ("a > bool 1", "a > bool 1"),
            ("- - x", "--x"),
            ("-(1)", "-(1)"),
            ("x[5m:]", "x[5m:]"),
            ("x[1h1s]", "x[1h1s]"),
            ("x[2w]", "x[2w]"),
            ("topk(3, x)", "topk(3, x)"),
            (
                "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:])",
                "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:])",
            ),
            (
                r#"sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) by (job) / on(job) group_left sum by (job) (rate(x[5m]))"#,
                "  sum by (job) (rate(http_requests_total{code=~\"5..\",job=\"api\"}[5m]))\n/ on (job) group_left ()\n  sum by (job) (rate(x[5m]))",
            ),
            (
                "quantile_over_time(0.99, very_long_metric_name_here_for_testing_purposes_aaaaaaaaaaaaaaaaaaaaaaaaaaaaa[5m:30s] offset 1h)",
                "quantile_over_time(\n  0.99,\nvery_long_metric_name_here_for_testing_purposes_aaaaaaaaaaaaaaaaaaaaaaaaaaaaa[5m:30s] offset 1h\n)",
            ),
        ] {
            assert_eq!(fmt(q), want, "{q}");
        }
    }

    #[test]
    fn quoting_follows_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{7f}\u{a0}\u{200b}"), r#""\x7f\u00a0\u200b""#);
        assert_eq!(go_quote("日本"), "\"日本\"");
        assert_eq!(go_quote("\u{f0000}"), r#""\U000f0000""#);
    }
}
