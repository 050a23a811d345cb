//! Query results as PromQL defines them.

use tidemark_storage::{Labels, Sample};

/// A PromQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        s: String,
    },
    /// An instant vector: one sample per series, all at the evaluation time.
    Vector(Vec<(Labels, Sample)>),
    /// A range-vector or range-query result: samples per series, sorted by labels.
    Matrix(Vec<(Labels, Vec<Sample>)>),
}

/// A result with the annotations Prometheus returns beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub samples: SampleCounts,
}

/// What a query read, for `stats` (Prometheus' `data.stats.samples`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleCounts {
    /// Prometheus' `totalQueryableSamples`: per step, each series an instant-vector selector
    /// found a sample for, plus each sample in the windows a range function read.
    pub total_queryable: u64,
    /// The same per evaluation step, as `(timestamp ms, count)` (`stats=all`).
    pub per_step: Vec<(i64, u64)>,
    /// Samples loaded from storage plus the largest intermediate result (series x steps).
    /// Prometheus' `peakSamples` follows its step-by-step evaluation, so the two differ.
    pub peak: u64,
}
