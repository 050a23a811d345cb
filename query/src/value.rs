//! Query results as PromQL defines them.

use tidemark_storage::{Labels, Sample};

use crate::histogram::HistogramPoint;

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
    /// An instant vector: one element per series, all at the evaluation time.
    Vector(Vec<(Labels, Point)>),
    /// A range-vector or range-query result: points per series, sorted by labels.
    Matrix(Vec<MatrixSeries>),
}

/// An element of an instant vector: a float or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum Point {
    Float(Sample),
    Histogram(HistogramPoint),
}

impl Point {
    /// The element's timestamp.
    pub fn t(&self) -> i64 {
        match self {
            Point::Float(s) => s.t,
            Point::Histogram(h) => h.t,
        }
    }

    /// The element's value if it is a float.
    pub fn float(&self) -> Option<f64> {
        match self {
            Point::Float(s) => Some(s.v),
            Point::Histogram(_) => None,
        }
    }
}

/// One series of a matrix: its floats and its histograms, each sorted by time (a series may
/// have both, at different times).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatrixSeries {
    pub labels: Labels,
    pub floats: Vec<Sample>,
    pub histograms: Vec<HistogramPoint>,
}

impl MatrixSeries {
    /// A series of floats only.
    pub fn floats(labels: Labels, floats: Vec<Sample>) -> Self {
        MatrixSeries {
            labels,
            floats,
            histograms: Vec::new(),
        }
    }

    /// Points of both kinds.
    pub fn len(&self) -> usize {
        self.floats.len() + self.histograms.len()
    }

    /// Whether the series has no point.
    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty()
    }
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
