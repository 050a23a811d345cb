//! One recording rule (Prometheus 3.5 `RecordingRule.Eval`): its result renamed to `record`,
//! with the group's and the rule's labels.

use std::collections::BTreeSet;

use tidemark_storage::{Labels, Sample, model::METRIC_NAME};

use super::{EvalContext, from_map, rule_labels, to_map};
use crate::QueryFn;
use crate::rules::{Rule, RuleGroup};

/// Evaluates `rule`, returning the samples to write (at `ts_ms - query_offset_ms`) or the
/// error that fails it.
///
/// Each result series gets `__name__` = `record`, then the group's and the rule's labels (the
/// rule's win; an empty value removes the label). Two series with the same labels afterwards,
/// or more than the group's `limit`, fail the rule.
pub(super) fn eval(
    rule: &Rule,
    group: &RuleGroup,
    ctx: &EvalContext<'_>,
    query: &dyn QueryFn,
) -> Result<Vec<(Labels, Sample)>, String> {
    let t_ms = ctx.ts_ms - ctx.query_offset_ms;
    let result = query.instant(&rule.expr, t_ms)?;
    let extra = rule_labels(group, rule);

    let mut seen = BTreeSet::new();
    let mut samples = Vec::with_capacity(result.len());
    for (series, value) in result {
        let mut labels = to_map(&series);
        labels.insert(METRIC_NAME.to_owned(), rule.name().to_owned());
        for (name, value) in &extra {
            if value.is_empty() {
                labels.remove(*name);
            } else {
                labels.insert((*name).to_owned(), (*value).to_owned());
            }
        }
        let labels = from_map(labels);
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        samples.push((labels, Sample::new(t_ms, value)));
    }

    if group.limit > 0 && samples.len() as u64 > group.limit {
        return Err(format!(
            "exceeded limit of {} with {} series",
            group.limit,
            samples.len()
        ));
    }
    Ok(samples)
}
