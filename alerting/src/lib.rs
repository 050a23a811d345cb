//! Alerting's pure logic, without I/O (STYLE.md, "Logic without I/O"): the ruler in the node
//! (`node/src/ruler/`) does the I/O around it.
//!
//! - [`rules`]: rule groups in Prometheus' rule-file YAML, parsed and validated (the ruler's
//!   API and `rule_files` accept exactly what Prometheus and Mimir accept).
//! - [`schedule`]: when a group is evaluated (Prometheus' per-group offset and alignment, the
//!   query offset).
//! - [`state`]: the alert state machine of one alerting rule (pending, firing, inactive; `for`,
//!   `keep_firing_for`, `limit`), deterministic and serialisable: its state lives in the ruler's
//!   Raft group.
//! - [`template`]: Prometheus' template language for annotations and labels.
//!
//! Seams: [`QueryFn`] is how rules and templates read data; the node implements it over the
//! cluster's query path, tests over fixed data.

pub mod eval;
pub mod notify;
pub mod rules;
pub mod schedule;
pub mod state;
pub mod template;

use tidemark_storage::histogram::{FloatHistogram, HistogramSample};
use tidemark_storage::{Labels, Sample};

/// An instant vector of floats: what [`QueryFn::instant`] answers.
pub type Vector = Vec<(Labels, f64)>;

/// One element of a rule's result: a float, or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum Element {
    Float(f64),
    Histogram(Box<RuleHistogram>),
}

/// A native histogram a rule's query answered.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleHistogram {
    /// The histogram (PromQL evaluates float histograms).
    pub h: FloatHistogram,
    /// How Go prints it (`FloatHistogram.String()`): what `$value` shows in an alert's
    /// templates.
    pub text: String,
}

/// An instant vector as a rule reads it.
pub type Elements = Vec<(Labels, Element)>;

/// What one rule of an iteration wrote: float samples and native histograms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Written {
    pub samples: Vec<(Labels, Sample)>,
    pub histograms: Vec<(Labels, HistogramSample)>,
}

/// How rules and templates read data: a PromQL instant query at a time.
pub trait QueryFn {
    /// Evaluates `expr` at `t_ms`; a scalar answer is one element with no labels, an error is
    /// its message.
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vector, String>;

    /// Evaluates a rule's `expr` at `t_ms`: [`QueryFn::instant`] with native histogram
    /// elements kept (an implementation that reads none need not provide it).
    fn elements(&self, expr: &str, t_ms: i64) -> Result<Elements, String> {
        Ok(self
            .instant(expr, t_ms)?
            .into_iter()
            .map(|(l, v)| (l, Element::Float(v)))
            .collect())
    }

    /// Called after rule `rule_index` of an iteration succeeded, with what it produced, before
    /// the next rule queries. Prometheus commits each rule's samples before the next rule
    /// runs, so a rule reads what an earlier rule of its group wrote in the same iteration: an
    /// implementation whose reads would not see them otherwise writes them here.
    fn rule_written(&self, rule_index: usize, written: &Written) {
        let _ = (rule_index, written);
    }
}
