//! The bounds of [`parse`], and that deep trees are parsed, walked and dropped safely on a
//! thread whose own stack is far too small for them.

use super::stack::on_small_stack;
use super::*;

fn limits(max_depth: usize, max_length_bytes: usize) -> SyntaxLimits {
    SyntaxLimits {
        max_depth,
        max_length_bytes,
    }
}

fn message(r: Result<Ast, QueryError>) -> String {
    let e = r.expect_err("refused");
    assert_eq!(e.kind, crate::QueryErrorKind::BadData);
    e.message
}

#[test]
fn length_is_bounded_in_bytes() {
    let q = "x".repeat(101);
    let m = message(parse(&q, &limits(10, 100)));
    assert_eq!(
        m,
        "query of 101 bytes is longer than the limit of 100 bytes (query.max_length_bytes)"
    );
    assert!(parse(&q[..100], &limits(10, 100)).is_ok());
}

#[test]
fn depth_is_bounded_before_parsing() {
    let l = limits(10, 1 << 20);
    // 9 parentheses and the number: 10 nodes deep; the text bound says 11.
    let nine = format!("{}1{}", "(".repeat(9), ")".repeat(9));
    let m = message(parse(&nine, &l));
    assert!(
        m.contains("up to 11 levels deep") && m.contains("(query.max_depth)"),
        "{m}"
    );
    let eight = format!("{}1{}", "(".repeat(8), ")".repeat(8));
    assert_eq!(parse(&eight, &l).unwrap().depth(), 9);
    let chain = ["x"; 10].join(" + ");
    assert!(message(parse(&chain, &l)).contains("query.max_depth"));
    assert_eq!(parse(&["x"; 9].join(" + "), &l).unwrap().depth(), 9);
}

#[test]
fn trees_from_elsewhere_are_checked_too() {
    // Unary, parenthesis, unary, parenthesis, and `-1` (a number).
    let tree = promql_parser::parser::parse("-(-(-1))").unwrap();
    assert_eq!(limits(5, 100).check_depth(&tree).unwrap(), 5);
    let e = limits(4, 100).check_depth(&tree).unwrap_err();
    assert_eq!(
        e.message,
        "query is nested 5 levels deep, more than the limit of 4 (query.max_depth)"
    );
}

#[test]
fn deep_trees_parse_walk_and_drop_on_a_small_stack() {
    let l = SyntaxLimits::default();
    let d = l.max_depth;
    let shapes = [
        format!("{}1{}", "(".repeat(d - 2), ")".repeat(d - 2)),
        // `-1` is a number: unary minus over a selector nests.
        format!("{}x", "-".repeat(d - 2)),
        format!("{}x{}", "abs(".repeat(d - 2), ")".repeat(d - 2)),
        vec!["x"; d - 1].join(" + "),
        vec!["2"; d - 1].join(" ^ "),
    ];
    for q in &shapes {
        let depth = on_small_stack(|| {
            let ast = parse(q, &l).unwrap_or_else(|e| panic!("{}: {e}", &q[..20]));
            // A walk that recurses as deep as the tree: its printed form parses again.
            let printed = ast.walk(|e| e.to_string());
            assert!(printed.len() >= q.len() / 2, "{}", &q[..20]);
            ast.depth()
        });
        assert!(depth > d - 3 && depth <= d, "{}: {depth}", &q[..20]);
    }
}

#[test]
fn a_refused_deep_tree_is_dropped_safely() {
    // The text bound lets it through, the parser builds it and then refuses it (a string is
    // no operand of `+`): the partial tree is dropped on the deep stack.
    let q = format!("{}1{} + \"s\"", "(".repeat(4000), ")".repeat(4000));
    let m = on_small_stack(|| message(parse(&q, &SyntaxLimits::default())));
    assert!(m.contains("scalar and instant vector types"), "{m}");
}

#[test]
fn numbers_too_large_for_a_duration_are_refused_not_a_panic() {
    // promql-parser turns a number in a duration's place into a `Duration` with
    // `from_secs_f64`, which panics on what does not fit (found by the promql_parse fuzz
    // target: `rnta%e[5e50:1m]`).
    let l = SyntaxLimits::default();
    for q in [
        "rnta%e[5e50:1m]",
        "x[5e50]",
        "x[1m:5e50]",
        "x[ 1e20 ]",
        "x offset 5e50",
        "x offset -5e50",
        "x[Inf]",
        "x[inf:]",
        "x[NaN]",
        "x[1m] offset 0x7fffffffffffffff",
        "x[0x10000000000000000]",
        // A comment ends at a carriage return for the parser (found by fuzzing).
        "x or#c\r[4e50:]",
        "x # c\rx[1m:5e50]",
    ] {
        let r = std::panic::catch_unwind(|| parse(q, &l).map(|_| ()));
        let r = r.unwrap_or_else(|_| panic!("{q}: panicked"));
        let e = r.expect_err(q);
        assert_eq!(e.kind, crate::QueryErrorKind::BadData, "{q}");
        assert!(e.message.starts_with("duration out of range"), "{q}: {e}");
    }
    // Not durations: the evaluation bounds them (or the parser refuses them), no panic.
    for q in [
        "x @ 1e300",
        "x @ -Inf",
        "x[99999999999999999999y]",
        "x[0x]",
        "x[0xg]",
    ] {
        std::panic::catch_unwind(|| parse(q, &l).map(|_| ()))
            .unwrap_or_else(|_| panic!("{q}: panicked"))
            .ok();
    }
    // Numbers that fit are durations as before, and a large number elsewhere is a number.
    for q in [
        "x[300]",
        "x[1.5:0.5]",
        "x offset 3600",
        "x > 1e300",
        r#"x{a="[1e50]"}"#,
    ] {
        parse(q, &l).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}
