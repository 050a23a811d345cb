//! How the leader's rules read: through the cluster's query path, one read barrier per
//! iteration, and the outputs of earlier rules of the same iteration visible to later ones
//! (Prometheus commits each rule's samples before the next rule runs).
//!
//! Writing and re-reading after every rule would cost a write and a read barrier per rule, so
//! a rule's samples are written early only when a later rule of the group reads their metric
//! name (or reads by labels alone); everything is written again at the end of the iteration,
//! where the early samples count as written (identical duplicates).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};
use tidemark_alerting::rules::RuleGroup;
use tidemark_alerting::{Element, Elements, QueryFn, RuleHistogram, Vector, Written};
use tidemark_query::syntax::{SyntaxLimits, parse};
use tidemark_query::{Point, PromqlEngine, Querier, Value};
use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Labels, Sample, SeriesKey};
use tokio::runtime::Handle;

use crate::node::Node;
use crate::request::{HistogramWrite, SeriesWrite};

/// The metric names rules of a group read, per rule: what an earlier rule must have written
/// before each of them runs.
#[derive(Debug, Default)]
pub struct Reads {
    /// Per rule: the names its expression selects, or `None` when a selector has no name
    /// (it may read anything).
    per_rule: Vec<Option<HashSet<String>>>,
}

impl Reads {
    /// The reads of every rule of `group` (an expression that does not parse reads nothing:
    /// its evaluation fails anyway).
    pub fn of(group: &RuleGroup) -> Self {
        let limits = SyntaxLimits::default();
        let per_rule = group
            .rules
            .iter()
            .map(|rule| match parse(&rule.expr, &limits) {
                Ok(ast) => ast.walk(|e| {
                    let mut names = Names::default();
                    let _ = walk_expr(&mut names, e);
                    (!names.unnamed).then_some(names.names)
                }),
                Err(_) => Some(HashSet::new()),
            })
            .collect();
        Reads { per_rule }
    }

    /// Whether a rule after rule `index` reads `name`.
    fn read_after(&self, index: usize, name: Option<&str>) -> bool {
        self.per_rule
            .iter()
            .skip(index + 1)
            .any(|r| match (r, name) {
                (None, _) => true,
                (Some(names), Some(name)) => names.contains(name),
                (Some(_), None) => false,
            })
    }
}

#[derive(Default)]
struct Names {
    names: HashSet<String>,
    unnamed: bool,
}

impl ExprVisitor for Names {
    type Error = ();

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        let selector = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(vs) = selector {
            let equal_name = vs.name.clone().or_else(|| {
                vs.matchers
                    .matchers
                    .iter()
                    .find(|m| m.name == METRIC_NAME && m.op == promql_parser::label::MatchOp::Equal)
                    .map(|m| m.value.clone())
            });
            match equal_name {
                Some(n) => {
                    self.names.insert(n);
                }
                None => self.unnamed = true,
            }
        }
        Ok(true)
    }
}

/// Rules read through the cluster's query path: one querier per iteration (after a read
/// barrier), renewed after an early write, or the error that prevented it, which every query
/// of the iteration then answers.
pub struct ClusterQuery {
    engine: PromqlEngine,
    node: Arc<Node>,
    handle: Handle,
    samples_max: u64,
    reads: Reads,
    querier: Mutex<Result<Arc<dyn Querier>, String>>,
}

impl ClusterQuery {
    /// A reader for one iteration of a group whose rules read `reads`; runs on a blocking
    /// thread of `handle`'s runtime.
    pub fn new(
        node: Arc<Node>,
        engine: PromqlEngine,
        samples_max: u64,
        reads: Reads,
        querier: Result<Arc<dyn Querier>, String>,
    ) -> Self {
        ClusterQuery {
            engine,
            node,
            handle: Handle::current(),
            samples_max,
            reads,
            querier: Mutex::new(querier),
        }
    }

    fn querier(&self) -> Result<Arc<dyn Querier>, String> {
        self.querier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl QueryFn for ClusterQuery {
    /// Float elements only (native histogram elements are left out; rules and templates read
    /// [`QueryFn::elements`]).
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vector, String> {
        Ok(self
            .elements(expr, t_ms)?
            .into_iter()
            .filter_map(|(l, e)| match e {
                Element::Float(v) => Some((l, v)),
                Element::Histogram(_) => None,
            })
            .collect())
    }

    fn elements(&self, expr: &str, t_ms: i64) -> Result<Elements, String> {
        let querier = self.querier()?;
        let result = self
            .engine
            .instant(querier.as_ref(), expr, t_ms)
            .map_err(|e| e.to_string())?;
        match result.value {
            Value::Vector(v) => Ok(v
                .into_iter()
                .map(|(l, p)| match p {
                    Point::Histogram(p) => {
                        let text = p.h.go_string();
                        let h = p.h.to_stored();
                        (l, Element::Histogram(Box::new(RuleHistogram { h, text })))
                    }
                    Point::Float(s) => (l, Element::Float(s.v)),
                })
                .collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::default(), Element::Float(v))]),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }

    fn rule_written(&self, index: usize, written: &Written) {
        let read_later = (written.samples.iter().map(|(l, _)| l))
            .chain(written.histograms.iter().map(|(l, _)| l))
            .any(|l| self.reads.read_after(index, l.metric_name()));
        if !read_later {
            return;
        }
        let node = self.node.clone();
        let series = series_of(written.samples.clone());
        let histograms = histogram_series_of(written.histograms.clone());
        let samples_max = self.samples_max;
        let renewed = self.handle.block_on(async move {
            if !series.is_empty() {
                node.write(series).await.map_err(|e| e.to_string())?;
            }
            if !histograms.is_empty() {
                node.write_histograms(histograms)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            node.reader(true, samples_max)
                .await
                .map_err(|e| e.to_string())
        });
        // A failed write or barrier leaves the rules after it reading without these samples,
        // as they would have without the early write; the error shows in their evaluation
        // only if the barrier failed.
        if let Err(e) = &renewed {
            tracing::warn!(error = %e, "a rule's samples could not be made visible to the next rules");
        }
        if let Ok(q) = renewed {
            *self.querier.lock().unwrap_or_else(|p| p.into_inner()) = Ok(q);
        }
    }
}

/// Native histograms grouped into one write per series. A histogram that storage would not
/// take (Prometheus' `Validate`: negative counts, as `rate(a) - rate(b)` can give, too many
/// spans) is left out with a warning, as Prometheus' rule manager discards a sample its
/// storage refuses.
pub fn histogram_series_of(samples: Vec<(Labels, HistogramSample)>) -> Vec<HistogramWrite> {
    let valid = samples
        .into_iter()
        .filter(|(labels, s)| match s.h.validate() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(series = %labels, error = %e, "rule histogram discarded");
                false
            }
        });
    by_series(valid, |s| s.t)
        .map(|(key, samples)| HistogramWrite { key, samples })
        .collect()
}

/// Samples grouped into one write per series.
pub fn series_of(samples: Vec<(Labels, Sample)>) -> Vec<SeriesWrite> {
    by_series(samples, |s| s.t)
        .map(|(key, samples)| SeriesWrite { key, samples })
        .collect()
}

/// `samples` grouped by series, in label order, each series' samples in time order (`t`).
fn by_series<S>(
    samples: impl IntoIterator<Item = (Labels, S)>,
    t: impl Fn(&S) -> i64,
) -> impl Iterator<Item = (SeriesKey, Vec<S>)> {
    let mut by_series: BTreeMap<Labels, Vec<S>> = BTreeMap::new();
    for (labels, s) in samples {
        by_series.entry(labels).or_default().push(s);
    }
    by_series.into_iter().map(move |(labels, mut samples)| {
        samples.sort_by_key(&t);
        (SeriesKey::from(&labels), samples)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_alerting::rules::Rule;

    fn group(exprs: &[&str]) -> RuleGroup {
        RuleGroup {
            name: "g".into(),
            rules: exprs
                .iter()
                .map(|e| Rule {
                    record: Some("r".into()),
                    expr: e.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn histograms_storage_would_refuse_are_not_written() {
        use tidemark_storage::histogram::{FloatHistogram, HistogramValue, Span};
        let h = |count: f64| HistogramSample {
            t: 1,
            h: HistogramValue::Float(FloatHistogram {
                count,
                positive_spans: vec![Span {
                    offset: 0,
                    length: 1,
                }],
                positive: vec![count],
                ..FloatHistogram::default()
            }),
        };
        let labels = |v: &str| Labels::from_pairs(&[("__name__", "r"), ("x", v)]);
        let writes =
            histogram_series_of(vec![(labels("ok"), h(2.0)), (labels("negative"), h(-1.0))]);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].key, SeriesKey::from(&labels("ok")));
    }

    #[test]
    fn later_rules_reads_decide_what_is_written_early() {
        let reads = Reads::of(&group(&[
            "time()",
            "time() - a:b",
            "rate({__name__=\"c\"}[5m])",
            "sum(ALERTS)",
        ]));
        assert!(reads.read_after(0, Some("a:b")));
        assert!(reads.read_after(0, Some("c")));
        assert!(reads.read_after(1, Some("ALERTS")));
        assert!(!reads.read_after(1, Some("a:b")), "only rules after it");
        assert!(!reads.read_after(3, Some("ALERTS")));
        assert!(!reads.read_after(0, Some("other")));
        // A selector without a name may read anything.
        let reads = Reads::of(&group(&["vector(1)", "count({job=\"x\"})"]));
        assert!(reads.read_after(0, Some("anything")));
    }
}
