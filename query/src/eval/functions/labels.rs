//! Functions on labels: `label_replace`, `label_join`, `sort_by_label`, and the labels that
//! `absent` derives from its selector.

use promql_parser::label::MatchOp as PromMatchOp;
use promql_parser::parser::{Call, Expr};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::{mixed_vector_arg, string_arg};
use crate::error::QueryError;
use crate::eval::series::{check_distinct_labels, set_label};
use crate::eval::{Evaluator, Series};

/// The labels `absent(x{a="b"})` returns: the equality matchers of a selector argument (a name
/// matched more than once is left out), nothing for other arguments.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut out: Vec<Label> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, PromMatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            out.retain(|l| l.name != m.name);
            out.push(Label::new(m.name.clone(), m.value.clone()));
            seen.push(&m.name);
        } else {
            out.retain(|l| l.name != m.name);
        }
    }
    Labels::new(out)
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let dst = string_arg(ev, c, 1, ts)?;
    let repl = string_arg(ev, c, 2, ts)?;
    let src = string_arg(ev, c, 3, ts)?;
    let regex_str = string_arg(ev, c, 4, ts)?;
    let regex = regex::Regex::new(&format!("^(?s:{regex_str})$")).map_err(|_| {
        QueryError::execution(format!(
            "invalid regular expression in label_replace(): {regex_str}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = mixed_vector_arg(ev, c, 0, ts)?;
    for s in &mut out {
        let src_val = s.labels.get(&src).unwrap_or("").to_string();
        if let Some(caps) = regex.captures(&src_val) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            s.labels = set_label(std::mem::take(&mut s.labels), &dst, &res);
        }
    }
    check_distinct_labels(&out)?;
    Ok(out)
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn label_join(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let dst = string_arg(ev, c, 1, ts)?;
    let sep = string_arg(ev, c, 2, ts)?;
    let mut srcs = Vec::new();
    for i in 3..c.args.args.len() {
        let s = string_arg(ev, c, i, ts)?;
        if !valid_label_name(&s) {
            return Err(QueryError::execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if !valid_label_name(&dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = mixed_vector_arg(ev, c, 0, ts)?;
    for s in &mut out {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        let joined = joined.join(&sep);
        s.labels = set_label(std::mem::take(&mut s.labels), &dst, &joined);
    }
    check_distinct_labels(&out)?;
    Ok(out)
}

/// Natural order of strings: runs of digits compare by number.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = std::str::from_utf8(&a[..da])
                    .unwrap_or("")
                    .trim_start_matches('0');
                let nb = std::str::from_utf8(&b[..db])
                    .unwrap_or("")
                    .trim_start_matches('0');
                let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// Sorts by the values of `names` in natural order (ties by the full label set).
pub(crate) fn sort_by_label(v: &mut [Series], names: &[String], desc: bool) {
    v.sort_by(|x, y| {
        let mut o = std::cmp::Ordering::Equal;
        for n in names {
            o = natural_cmp(x.labels.get(n).unwrap_or(""), y.labels.get(n).unwrap_or(""));
            if o != std::cmp::Ordering::Equal {
                break;
            }
        }
        let o = o.then_with(|| x.labels.cmp(&y.labels));
        if desc { o.reverse() } else { o }
    });
}
