//! An in-memory [`Querier`] over a vector of series: the backing store of the script runner.

use std::collections::BTreeSet;

use tidemark_query::Querier;
use tidemark_query::QueryError;
use tidemark_query::querier::QuerySeriesIter;
use tidemark_storage::{Labels, Matcher, Sample, SeriesSamples};

/// Series with their samples sorted by time.
#[derive(Default)]
pub struct VecQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl VecQuerier {
    /// Adds samples to a series (created on first use), replacing samples at equal timestamps.
    pub fn add(&mut self, labels: Labels, samples: Vec<Sample>) {
        let idx = match self.series.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                self.series.push((labels, Vec::new()));
                self.series.len() - 1
            }
        };
        let s = &mut self.series[idx].1;
        for x in samples {
            s.retain(|y| y.t != x.t);
            s.push(x);
        }
        s.sort_by_key(|x| x.t);
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = &'a (Labels, Vec<Sample>)> + 'a {
        self.series
            .iter()
            .filter(move |(l, _)| matchers.iter().all(|m| m.matches_labels(l)))
    }
}

impl Querier for VecQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        let mut out = Vec::new();
        for (labels, samples) in self.matching(matchers) {
            let samples: Vec<Sample> = samples
                .iter()
                .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
                .copied()
                .collect();
            if !samples.is_empty() {
                out.push(Ok(SeriesSamples {
                    labels: labels.clone(),
                    samples,
                }));
            }
        }
        out.sort_by(|a: &Result<SeriesSamples, QueryError>, b| {
            a.as_ref()
                .map(|x| &x.labels)
                .ok()
                .cmp(&b.as_ref().map(|x| &x.labels).ok())
        });
        Ok(Box::new(out.into_iter()))
    }

    fn series(
        &self,
        matchers: &[Matcher],
        _mint_ms: i64,
        _maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        Ok(self.matching(matchers).map(|(l, _)| l.clone()).collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        _mint_ms: i64,
        _maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        Ok(self
            .matching(matchers)
            .flat_map(|(l, _)| l.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
            .collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        _mint_ms: i64,
        _maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        Ok(self
            .matching(matchers)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect())
    }
}
