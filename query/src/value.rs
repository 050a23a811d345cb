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
}
