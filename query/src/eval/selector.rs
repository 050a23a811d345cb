//! Selectors: the series of each selector, selected once per query, and the instant and range
//! views of them at one evaluation time.

use std::collections::HashMap;

use promql_parser::label::{MatchOp as PromMatchOp, Matcher as PromMatcher};
use promql_parser::parser::VectorSelector;
use tidemark_storage::model::{METRIC_NAME, is_stale_nan};
use tidemark_storage::{Labels, MatchOp, Matcher, Sample};

use super::RangeSeries;
use crate::error::QueryError;
use crate::querier::Querier;

/// Selected series by selector node (the node's address: the AST outlives the evaluation).
#[derive(Default)]
pub(crate) struct SelectorData {
    series: HashMap<usize, Vec<(Labels, Vec<Sample>)>>,
    /// Samples loaded so far, checked against `samples_max`.
    pub samples_loaded: usize,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Converts a parser matcher to a storage matcher.
fn convert_matcher(m: &PromMatcher) -> Result<Matcher, QueryError> {
    let op = match m.op {
        PromMatchOp::Equal => MatchOp::Equal,
        PromMatchOp::NotEqual => MatchOp::NotEqual,
        PromMatchOp::Re(_) => MatchOp::Regex,
        PromMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| QueryError::bad_data(format!("invalid regular expression {:?}: {e}", m.value)))
}

/// The matcher groups of a selector (more than one with `or`), each with the name matcher.
pub(crate) fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let mut groups: Vec<Vec<&PromMatcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(vs.matchers.matchers.iter().collect());
    } else {
        for g in &vs.matchers.or_matchers {
            groups.push(g.iter().collect());
        }
        if !vs.matchers.matchers.is_empty() {
            groups.push(vs.matchers.matchers.iter().collect());
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mut out: Vec<Matcher> = g
                .into_iter()
                .map(convert_matcher)
                .collect::<Result<_, _>>()?;
            if let Some(name) = &vs.name {
                out.push(Matcher::equal(METRIC_NAME, name.clone()));
            }
            Ok(out)
        })
        .collect()
}

impl SelectorData {
    /// Selects the series of `vs` with samples in `(mint_ms, maxt_ms]`, widening what an earlier
    /// call for the same node selected.
    pub fn load(
        &mut self,
        querier: &dyn Querier,
        vs: &VectorSelector,
        mint_ms: i64,
        maxt_ms: i64,
        samples_max: usize,
    ) -> Result<(), QueryError> {
        let mut by_labels: HashMap<Labels, Vec<Sample>> = HashMap::new();
        for group in matcher_groups(vs)? {
            for s in querier.select(&group, mint_ms + 1, maxt_ms)? {
                let s = s?;
                self.samples_loaded += s.samples.len();
                if self.samples_loaded > samples_max {
                    return Err(QueryError::execution(
                        "query processing would load too many samples into memory in query execution",
                    ));
                }
                let entry = by_labels.entry(s.labels).or_default();
                entry.extend(s.samples);
            }
        }
        let slot = self.series.entry(key(vs)).or_default();
        for (labels, samples) in slot.drain(..) {
            by_labels.entry(labels).or_default().extend(samples);
        }
        let mut all: Vec<(Labels, Vec<Sample>)> = by_labels
            .into_iter()
            .map(|(l, mut s)| {
                s.sort_by_key(|x| x.t);
                s.dedup_by_key(|x| x.t);
                (l, s)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        *slot = all;
        Ok(())
    }

    /// The instant vector of `vs` at `end_ms`: per series the latest sample in
    /// `(end_ms - lookback_ms, end_ms]`, unless that sample is a stale marker.
    pub fn instant(
        &self,
        vs: &VectorSelector,
        end_ms: i64,
        lookback_ms: i64,
    ) -> Vec<(Labels, Sample)> {
        let Some(series) = self.series.get(&key(vs)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (labels, samples) in series {
            let idx = samples.partition_point(|s| s.t <= end_ms);
            if idx == 0 {
                continue;
            }
            let s = samples[idx - 1];
            if s.t <= end_ms - lookback_ms || is_stale_nan(s.v) {
                continue;
            }
            out.push((labels.clone(), s));
        }
        out
    }

    /// The range vector of `vs` over `(start_ms, end_ms]`, without stale markers; series without
    /// samples in the window are left out.
    pub fn range(&self, vs: &VectorSelector, start_ms: i64, end_ms: i64) -> Vec<RangeSeries> {
        let Some(series) = self.series.get(&key(vs)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (labels, samples) in series {
            let lo = samples.partition_point(|s| s.t <= start_ms);
            let hi = samples.partition_point(|s| s.t <= end_ms);
            let window: Vec<Sample> = samples[lo..hi]
                .iter()
                .filter(|s| !is_stale_nan(s.v))
                .copied()
                .collect();
            if !window.is_empty() {
                out.push(RangeSeries {
                    labels: labels.clone(),
                    samples: window,
                });
            }
        }
        out
    }
}

impl super::Evaluator<'_> {
    pub(crate) fn load(
        &mut self,
        querier: &dyn Querier,
        vs: &VectorSelector,
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<(), QueryError> {
        self.data
            .load(querier, vs, mint_ms, maxt_ms, self.limits.samples_max)
    }
}
