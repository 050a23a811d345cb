//! PromQL text into a syntax tree, within bounds. Every query a node accepts goes through
//! [`parse`]: its length and nesting are checked against [`SyntaxLimits`] before
//! promql-parser sees it, and the tree it yields ([`Ast`]) is walked and dropped on a stack
//! deep enough for it ([`stack`]). Prometheus evaluates on goroutines whose stacks grow as
//! needed; a Rust thread's stack does not, and one query nested deeper than it allows would
//! abort the process, and every shard group on the node with it.
//!
//! Also reads backtick strings as Prometheus does ([`raw_strings`]), and refuses numbers in a
//! duration's place that no duration holds ([`durations`]) before the parser panics on them.

pub(crate) mod depth;
mod durations;
mod raw_strings;
pub mod stack;
pub(crate) mod tokens;

use std::ops::Deref;

use promql_parser::parser::Expr;

use crate::error::QueryError;

/// Bounds on a query's text, checked before and after it is parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxLimits {
    /// The deepest syntax tree accepted, in nodes on the longest path from the root to a leaf
    /// (`x + x + x` is 3 deep, `((1))` too). Each parenthesis, operator, call, aggregation
    /// and subquery adds a level. A node's `query.max_depth`.
    pub max_depth: usize,
    /// The longest query text accepted, in bytes. A node's `query.max_length_bytes`.
    pub max_length_bytes: usize,
}

impl Default for SyntaxLimits {
    fn default() -> Self {
        SyntaxLimits {
            max_depth: 5_000,
            max_length_bytes: 256 * 1024,
        }
    }
}

impl SyntaxLimits {
    /// The depth of `expr`, or a `bad_data` error when it is deeper than the limit: every
    /// tree is checked before it is evaluated, wherever it came from.
    pub fn check_depth(&self, expr: &Expr) -> Result<usize, QueryError> {
        let depth = depth::tree_depth(expr);
        self.check_tree_depth(depth)?;
        Ok(depth)
    }

    fn check_tree_depth(&self, depth: usize) -> Result<(), QueryError> {
        if depth > self.max_depth {
            return Err(QueryError::bad_data(format!(
                "query is nested {depth} levels deep, more than the limit of {} (query.max_depth)",
                self.max_depth
            )));
        }
        Ok(())
    }
}

/// A parsed query: a syntax tree no deeper than the limit it was parsed under, which is
/// dropped on a stack deep enough for it. Walk it with [`Ast::walk`].
pub struct Ast {
    /// Always `Some` but while it is dropped.
    expr: Option<Expr>,
    depth: usize,
}

impl Ast {
    /// Nodes on the longest path from the root to a leaf.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Runs `f`, which may recurse over the tree, on a stack with room for that.
    pub fn walk<R>(&self, f: impl FnOnce(&Expr) -> R) -> R {
        stack::with_stack_for(self.depth, || f(self))
    }
}

impl Deref for Ast {
    type Target = Expr;

    fn deref(&self) -> &Expr {
        self.expr.as_ref().expect("present until dropped")
    }
}

impl Drop for Ast {
    fn drop(&mut self) {
        // Dropping a tree recurses once per level (`Box<Expr>` in `Box<Expr>`).
        if let Some(expr) = self.expr.take() {
            stack::with_stack_for(self.depth, move || drop(expr));
        }
    }
}

impl std::fmt::Debug for Ast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ast").field("depth", &self.depth).finish()
    }
}

/// Parses `text` under `limits`; errors are `bad_data` and name the limit they hit.
pub fn parse(text: &str, limits: &SyntaxLimits) -> Result<Ast, QueryError> {
    if text.len() > limits.max_length_bytes {
        return Err(QueryError::bad_data(format!(
            "query of {} bytes is longer than the limit of {} bytes (query.max_length_bytes)",
            text.len(),
            limits.max_length_bytes
        )));
    }
    let bound = depth::text_depth_bound(text);
    if bound > limits.max_depth {
        return Err(QueryError::bad_data(format!(
            "query nests brackets and operators up to {bound} levels deep, more than the limit of {} (query.max_depth)",
            limits.max_depth
        )));
    }
    durations::check(text).map_err(QueryError::bad_data)?;
    let text = raw_strings::rewrite_raw_strings(text);
    // A tree the parser builds and then refuses is dropped inside, on the deep stack.
    let expr = stack::with_stack_for(bound, || promql_parser::parser::parse(&text))
        .map_err(QueryError::bad_data)?;
    let ast = Ast {
        depth: depth::tree_depth(&expr),
        expr: Some(expr),
    };
    limits.check_tree_depth(ast.depth)?;
    Ok(ast)
}

#[cfg(test)]
mod tests;
