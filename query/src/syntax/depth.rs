//! How deep a query's syntax tree is: bounded from the text before parsing (so that the parser,
//! which recurses as deep as the tree, only ever sees text within the limit), and measured on
//! the tree after (so that everything which walks the tree can rely on the limit).

use promql_parser::parser::Expr;

use super::tokens::{Tok, tokens};

/// An upper bound on the depth (see [`tree_depth`]) of the tree `q` parses into, from its
/// tokens alone.
///
/// Within one bracket level, `k` operators (binary, unary, or a `[` that may open a subquery)
/// join their operands into at most `k` nested nodes above the deepest operand; an operand is
/// a leaf or a bracketed group, whose own node (parenthesis, call, aggregation, subquery) and
/// contents are bounded the same way one level down. So a level is bounded by
/// `1 + operators + max(1, deepest group inside it)`. Operators inside `{...}` are matchers,
/// not nodes. Unbalanced brackets are closed at the end (the parser refuses that text anyway).
pub(super) fn text_depth_bound(q: &str) -> usize {
    let mut levels = vec![Level::new(0)];
    for (tok, _) in tokens(q) {
        let nested = levels.len() > 1;
        let top = levels.last_mut().expect("the outermost level stays");
        match tok {
            Tok::Open(c) => {
                if c == b'[' {
                    top.operators += 1;
                }
                levels.push(Level::new(c));
            }
            Tok::Close(_) if nested => close(&mut levels),
            Tok::Op if top.open != b'{' => top.operators += 1,
            Tok::Ident(word) if top.open != b'{' && is_keyword_operator(word) => top.operators += 1,
            _ => {}
        }
    }
    while levels.len() > 1 {
        close(&mut levels);
    }
    levels[0].bound()
}

/// One bracket level of the text while it is scanned.
struct Level {
    /// The bracket that opened it (0 for the whole text).
    open: u8,
    operators: usize,
    /// The largest bound of a group closed inside it.
    deepest_group: usize,
}

impl Level {
    fn new(open: u8) -> Self {
        Level {
            open,
            operators: 0,
            deepest_group: 0,
        }
    }

    fn bound(&self) -> usize {
        1 + self.operators + self.deepest_group.max(1)
    }
}

/// Ends the innermost level, folding its bound into the level around it.
fn close(levels: &mut Vec<Level>) {
    let inner = levels.pop().expect("an inner level");
    let outer = levels.last_mut().expect("the outermost level stays");
    outer.deepest_group = outer.deepest_group.max(inner.bound());
}

/// PromQL's binary operators that are words (case-insensitive, as in Prometheus' lexer).
fn is_keyword_operator(word: &str) -> bool {
    ["and", "or", "unless", "atan2"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

/// The number of expression nodes on the longest path from the root of `e` to a leaf (a
/// selector or a literal has depth 1). Iterative, so that it is safe on any tree.
pub(super) fn tree_depth(e: &Expr) -> usize {
    let mut deepest = 0;
    let mut todo: Vec<(&Expr, usize)> = vec![(e, 1)];
    while let Some((e, d)) = todo.pop() {
        deepest = deepest.max(d);
        for child in children(e) {
            todo.push((child, d + 1));
        }
    }
    deepest
}

/// Whether `holds` is true of every node of `e`'s tree (stops at the first that it is not).
/// Iterative, like [`tree_depth`].
pub(crate) fn every_node<'a>(e: &'a Expr, mut holds: impl FnMut(&'a Expr) -> bool) -> bool {
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        if !holds(e) {
            return false;
        }
        todo.extend(children(e));
    }
    true
}

/// The sub-expressions directly under `e`.
pub(crate) fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Aggregate(a) => a.param.as_deref().into_iter().chain([&*a.expr]).collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| &**a).collect(),
        Expr::Extension(x) => x.expr.children().iter().collect(),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(q: &str) -> (usize, usize) {
        let tree = promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        (text_depth_bound(q), tree_depth(&tree))
    }

    #[test]
    fn the_text_bound_holds_and_is_close() {
        for q in [
            "1",
            "up",
            "-up",
            "(((up)))",
            "a + b * c - d / e",
            "x + x + x + x",
            "2 ^ 3 ^ 4 ^ 5",
            "- - - x",
            "sum by (job) (rate(x{a=\"b\", c!~\"d\"}[5m]))",
            "rate(x[5m])[30m:1m]",
            "max_over_time(rate(x[5m])[30m:1m])[1h:5m]",
            "max_over_time((a + b)[5m:1m] offset -1m)",
            "a and b or c unless d",
            "a atan2 b AND c",
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) > bool 1",
            "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
            "foo{a=~\"[(]{3}\", b=\"((\"} + bar # (((((",
            "topk(3, -(a) * on(job) group_left b)",
            "sum(x) / ignoring(a) (count(y) - 1)",
        ] {
            let (bound, depth) = both(q);
            assert!(bound >= depth, "{q}: bound {bound} < depth {depth}");
            assert!(bound <= depth + 3, "{q}: bound {bound} far above {depth}");
        }
    }

    #[test]
    fn deep_shapes_are_bounded_exactly_enough() {
        let parens = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        assert_eq!(both(&parens), (302, 301));
        let chain = vec!["x"; 300].join(" + ");
        assert_eq!(both(&chain), (301, 300));
        let unary = format!("{}x", "-".repeat(300));
        assert_eq!(both(&unary), (302, 301));
    }

    #[test]
    fn unbalanced_text_still_has_a_bound() {
        assert_eq!(text_depth_bound("((("), 5);
        assert_eq!(text_depth_bound(")))"), 2);
        assert_eq!(text_depth_bound(""), 2);
    }
}
