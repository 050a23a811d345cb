//! One recording rule (Prometheus 3.5 `RecordingRule.Eval`): its result renamed to `record`,
//! with the group's and the rule's labels.

use std::collections::BTreeSet;

use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::histogram::HistogramValue;
use tidemark_storage::{Sample, model::METRIC_NAME};

use super::{EvalContext, from_map, rule_labels, to_map};
use crate::rules::{Rule, RuleGroup};
use crate::{Element, QueryFn, Written};

/// Evaluates `rule`, returning the samples and native histograms to write (at
/// `ts_ms - query_offset_ms`) or the error that fails it.
///
/// Each result series gets `__name__` = `record`, then the group's and the rule's labels (the
/// rule's win; an empty value removes the label). Two series with the same labels afterwards,
/// or more than the group's `limit`, fail the rule.
pub(super) fn eval(
    rule: &Rule,
    group: &RuleGroup,
    ctx: &EvalContext<'_>,
    query: &dyn QueryFn,
) -> Result<Written, String> {
    let t_ms = ctx.ts_ms - ctx.query_offset_ms;
    let result = query.elements(&rule.expr, t_ms)?;
    let extra = rule_labels(group, rule);

    let mut seen = BTreeSet::new();
    let mut out = Written::default();
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
        match value {
            Element::Float(v) => out.samples.push((labels, Sample::new(t_ms, v))),
            Element::Histogram(h) => out.histograms.push((
                labels,
                HistogramSample {
                    t: t_ms,
                    h: HistogramValue::Float(h.h),
                },
            )),
        }
    }

    let n = out.samples.len() + out.histograms.len();
    if group.limit > 0 && n as u64 > group.limit {
        return Err(format!("exceeded limit of {} with {n} series", group.limit));
    }
    Ok(out)
}
