//! Series selectors (`up{job="a"}`, `{__name__=~"debug_.*"}`, `{a="1" or b="2"}`) as the
//! storage's matcher sets, for every place that takes one outside a query: `match[]`, delete
//! requests, retention overrides.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;
use tidemark_query::syntax::{self, SyntaxLimits};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{MatchOp, Matcher};

/// The matcher sets of selector `s`: a series matches it when it matches every matcher of any
/// set. `Err` says why `s` is not a plain series selector.
pub fn parse(s: &str, limits: &SyntaxLimits) -> Result<Vec<Vec<Matcher>>, String> {
    let ast = syntax::parse(s, limits).map_err(|e| e.message)?;
    let Expr::VectorSelector(vs) = &*ast else {
        return Err(format!("{s:?} is not a series selector"));
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(format!(
            "{s:?}: offset and @ are not allowed in a series selector"
        ));
    }
    let mut groups = vs.matchers.or_matchers.clone();
    if !vs.matchers.matchers.is_empty() || groups.is_empty() {
        groups.push(vs.matchers.matchers.clone());
    }
    groups
        .into_iter()
        .map(|group| {
            let mut out = Vec::with_capacity(group.len() + 1);
            if let Some(name) = &vs.name {
                out.push(Matcher::equal(METRIC_NAME, name.clone()));
            }
            for m in group {
                let op = match m.op {
                    PMatchOp::Equal => MatchOp::Equal,
                    PMatchOp::NotEqual => MatchOp::NotEqual,
                    PMatchOp::Re(_) => MatchOp::Regex,
                    PMatchOp::NotRe(_) => MatchOp::NotRegex,
                };
                out.push(Matcher::new(op, m.name, m.value).map_err(|e| e.to_string())?);
            }
            Ok(out)
        })
        .collect()
}
