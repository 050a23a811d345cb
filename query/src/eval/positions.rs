//! Where function and aggregation arguments start in the query text, for the ` (line:col)`
//! suffix Prometheus puts on an annotation about an argument (`rate`'s "might not be a counter"
//! points at its range vector, a bad quantile at the quantile).
//!
//! promql-parser's syntax tree has no positions, so they are recovered from the text: a small
//! scanner finds every call site (a name followed by `(`; an aggregation's `by (...)` or
//! `without (...)` may come between) with the offset of each argument's first token, and the
//! k-th `Call` or `AggregateExpr` of a name in the tree (pre-order, which is text order) is the
//! k-th site of that name.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, BinaryExpr, Call, Expr};

use crate::syntax::tokens::{Tok, tokens};

/// Argument start offsets by node address (`Call` or `AggregateExpr`).
pub(crate) type ArgStarts = HashMap<usize, Vec<usize>>;

/// The argument starts of every call and aggregation of `root`, parsed from `query`.
pub(crate) fn arg_starts(query: &str, root: &Expr) -> ArgStarts {
    let mut sites: HashMap<&str, Vec<Vec<usize>>> = HashMap::new();
    for (name, args) in call_sites(query) {
        sites.entry(name).or_default().push(args);
    }
    let mut nodes: Vec<(String, usize)> = Vec::new();
    collect_nodes(root, &mut nodes);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = ArgStarts::new();
    for (name, addr) in nodes {
        let k = seen.entry(name.clone()).or_insert(0);
        if let Some(args) = sites.get(name.as_str()).and_then(|s| s.get(*k)) {
            out.insert(addr, args.clone());
        }
        *k += 1;
    }
    out
}

/// The address a node is known by in [`ArgStarts`].
pub(crate) fn call_addr(c: &Call) -> usize {
    c as *const Call as usize
}

/// The address an aggregation is known by in [`ArgStarts`].
pub(crate) fn aggregate_addr(a: &AggregateExpr) -> usize {
    a as *const AggregateExpr as usize
}

/// The address a binary expression is known by in [`node_starts`].
pub(crate) fn binary_addr(b: &BinaryExpr) -> usize {
    b as *const BinaryExpr as usize
}

/// Where the binary expressions and aggregations of `root` start in `query`, where that is
/// known (Prometheus points its annotations about them there): the whole query's first
/// character, a call's or aggregation's argument start, and the start of a binary expression
/// for its left-hand side.
pub(crate) fn node_starts(query: &str, root: &Expr, args: &ArgStarts) -> HashMap<usize, usize> {
    let first = query.len() - query.trim_start().len();
    let mut out = HashMap::new();
    walk_starts(query, root, Some(first), args, &mut out);
    out
}

fn walk_starts(
    query: &str,
    e: &Expr,
    start: Option<usize>,
    args: &ArgStarts,
    out: &mut HashMap<usize, usize>,
) {
    match e {
        Expr::Binary(b) => {
            if let Some(s) = start {
                out.insert(binary_addr(b), s);
            }
            walk_starts(query, &b.lhs, start, args, out);
            walk_starts(query, &b.rhs, None, args, out);
        }
        Expr::Aggregate(a) => {
            if let Some(s) = start {
                out.insert(aggregate_addr(a), s);
            }
            let starts = args.get(&aggregate_addr(a));
            let at = |i: usize| starts.and_then(|v| v.get(i)).copied();
            if let Some(p) = &a.param {
                walk_starts(query, p, at(0), args, out);
            }
            walk_starts(
                query,
                &a.expr,
                at(usize::from(a.param.is_some())),
                args,
                out,
            );
        }
        Expr::Call(c) => {
            let starts = args.get(&call_addr(c));
            for (i, a) in c.args.args.iter().enumerate() {
                walk_starts(query, a, starts.and_then(|v| v.get(i)).copied(), args, out);
            }
        }
        Expr::Paren(p) => {
            // The inner expression starts after the parenthesis and any space.
            let inner = start
                .filter(|&s| query.as_bytes().get(s) == Some(&b'('))
                .map(|s| {
                    let rest = &query[s + 1..];
                    s + 1 + (rest.len() - rest.trim_start().len())
                });
            walk_starts(query, &p.expr, inner, args, out);
        }
        Expr::Subquery(sq) => walk_starts(query, &sq.expr, start, args, out),
        Expr::Unary(u) => walk_starts(query, &u.expr, None, args, out),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
}

/// `line:col` of byte offset `pos` as Prometheus prints it (both 1-based, columns in bytes).
pub(crate) fn line_col(query: &str, pos: usize) -> String {
    let before = &query[..pos.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let col = match before.rfind('\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{line}:{col}")
}

/// Calls and aggregations of `e` in pre-order, by name.
fn collect_nodes(e: &Expr, out: &mut Vec<(String, usize)>) {
    match e {
        Expr::Aggregate(a) => {
            out.push((a.op.to_string(), aggregate_addr(a)));
            if let Some(p) = &a.param {
                collect_nodes(p, out);
            }
            collect_nodes(&a.expr, out);
        }
        Expr::Call(c) => {
            out.push((c.func.name.to_string(), call_addr(c)));
            for a in &c.args.args {
                collect_nodes(a, out);
            }
        }
        Expr::Unary(u) => collect_nodes(&u.expr, out),
        Expr::Binary(b) => {
            collect_nodes(&b.lhs, out);
            collect_nodes(&b.rhs, out);
        }
        Expr::Paren(p) => collect_nodes(&p.expr, out),
        Expr::Subquery(s) => collect_nodes(&s.expr, out),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
}

/// Every call site of `q` in text order: its name and the offset of each argument.
fn call_sites(q: &str) -> Vec<(&str, Vec<usize>)> {
    let toks = tokens(q);
    let mut sites: Vec<(&str, Vec<usize>)> = Vec::new();
    // Token index of an opening parenthesis -> the site whose arguments it opens.
    let mut opens: HashMap<usize, usize> = HashMap::new();
    // Per open bracket, the site whose arguments it holds, if any.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let start_of = |j: usize| toks.get(j).map(|&(_, at)| at);
    for i in 0..toks.len() {
        match toks[i].0 {
            Tok::Ident(name) => {
                if matches!(
                    name,
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    continue;
                }
                let mut j = i + 1;
                // `sum by (job) (x)`: the arguments follow the grouping.
                if matches!(toks.get(j), Some((Tok::Ident("by" | "without"), _)))
                    && matches!(toks.get(j + 1), Some((Tok::Open(b'('), _)))
                {
                    let mut depth = 0usize;
                    let mut k = j + 1;
                    while k < toks.len() {
                        match toks[k].0 {
                            Tok::Open(_) => depth += 1,
                            Tok::Close(_) => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                    j = k + 1;
                }
                if matches!(toks.get(j), Some((Tok::Open(b'('), _))) {
                    opens.insert(j, sites.len());
                    sites.push((name, Vec::new()));
                }
            }
            Tok::Open(_) => {
                let site = opens.get(&i).copied();
                if let Some(s) = site
                    && !matches!(toks.get(i + 1), Some((Tok::Close(_), _)))
                    && let Some(at) = start_of(i + 1)
                {
                    sites[s].1.push(at);
                }
                stack.push(site);
            }
            Tok::Comma => {
                if let Some(Some(s)) = stack.last()
                    && let Some(at) = start_of(i + 1)
                {
                    sites[*s].1.push(at);
                }
            }
            Tok::Close(_) => {
                stack.pop();
            }
            Tok::Op | Tok::Str { .. } | Tok::Other => {}
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(q: &str) -> Vec<(String, Vec<String>)> {
        call_sites(q)
            .into_iter()
            .map(|(n, args)| {
                (
                    n.to_string(),
                    args.into_iter().map(|a| line_col(q, a)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_arguments_of_calls_and_aggregations() {
        let s = |n: &str, a: &[&str]| (n.to_string(), a.iter().map(|x| x.to_string()).collect());
        assert_eq!(starts("rate(tm_weird[5m])"), vec![s("rate", &["1:6"])]);
        assert_eq!(
            starts("quantile_over_time(1.5, m{a=\"x,y\"}[5m])"),
            vec![s("quantile_over_time", &["1:20", "1:25"])]
        );
        assert_eq!(
            starts("sum by (job) (rate(x[1m])) / on(a) quantile(0.5, y) without (b)"),
            vec![
                s("sum", &["1:15"]),
                s("rate", &["1:20"]),
                s("quantile", &["1:45", "1:50"]),
            ]
        );
        // Comments, newlines, strings with brackets, `@ start()`.
        assert_eq!(
            starts("histogram_quantile( # q\n  0.9,\n  x{le=~\"(\"} @ start())"),
            vec![s("histogram_quantile", &["2:3", "3:3"]), s("start", &[])]
        );
    }

    #[test]
    fn maps_tree_nodes_to_sites() {
        let q = "rate(a[1m]) + rate(b[1m])";
        let e = promql_parser::parser::parse(q).unwrap();
        let Expr::Binary(b) = &e else { panic!() };
        let (Expr::Call(l), Expr::Call(r)) = (&*b.lhs, &*b.rhs) else {
            panic!()
        };
        let m = arg_starts(q, &e);
        assert_eq!(m[&call_addr(l)], vec![5]);
        assert_eq!(m[&call_addr(r)], vec![19]);
    }
}
