//! Which series each rule wrote at the previous iteration, so that a series a rule no longer
//! returns gets a staleness marker (Prometheus' `Group.seriesInPreviousEval`).

use std::collections::BTreeSet;

use tidemark_storage::Labels;

use super::ByIdentity;

/// The series each rule of one group wrote at its last successful evaluation, by
/// [`crate::rules::Rule::identity`].
///
/// Kept in memory by the leader that evaluates the group, not replicated: a new leader starts
/// from an empty memo and so writes no staleness markers for series it did not see written
/// (Prometheus after a restart does the same).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesMemo {
    /// One entry per rule of the last iteration, in rule order.
    rules: Vec<(String, BTreeSet<Labels>)>,
}

impl SeriesMemo {
    /// An empty memo (a new leader).
    pub fn new() -> Self {
        SeriesMemo::default()
    }

    /// Whether it remembers nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.iter().all(|(_, series)| series.is_empty())
    }

    /// The series the first rule with `identity` wrote last time.
    pub fn series(&self, identity: &str) -> Option<&BTreeSet<Labels>> {
        self.rules
            .iter()
            .find(|(id, _)| id == identity)
            .map(|(_, series)| series)
    }

    /// Empties it, returning what it held, to be taken rule by rule.
    pub(super) fn take(&mut self) -> ByIdentity<BTreeSet<Labels>> {
        ByIdentity::new(std::mem::take(&mut self.rules))
    }

    /// Records what the next rule (in rule order) wrote.
    pub(super) fn insert(&mut self, identity: String, series: BTreeSet<Labels>) {
        self.rules.push((identity, series));
    }
}
