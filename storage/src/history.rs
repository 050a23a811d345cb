//! What a results cache needs to know of a shard: whether what reads return for times already
//! past has changed since it last looked ([`HistoryMark`]).
//!
//! A replica counts the log entries that change the past (deletes, backfills, expiry, rollups,
//! and writes of samples older than its newest one by more than [`SETTLE_MS`]) and the
//! flushes that install computed rollups. Samples within [`SETTLE_MS`] of the newest are the
//! ordinary arrival of scrapes sent at different moments and do not count: a cache keeps no
//! result for times after [`HistoryMark::settled_ms`], so they cannot change one it keeps.
//!
//! The count is the replica's own (flushes are timed locally), so a mark also names the
//! replica state it was read from: a node's engine instance and the shard's instance in it. A
//! reader compares marks read before reading data: equal marks mean nothing counted changed
//! in between; a change applied during a read shows in the next mark, so a result computed
//! then is dropped later rather than kept stale.

use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

use crate::command::Command;

/// How far behind a shard's newest sample a write may land without counting as a change of
/// the past: remote-write queues deliver scrapes of many targets within seconds of each other
/// and within a few minutes when catching up. A constant of the node, not configuration: a
/// cache on another node reads the bound with the mark.
pub const SETTLE_MS: i64 = 5 * 60 * 1000;

/// One shard replica's history mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryMark {
    /// The replica state: the engine instance (random per process) and the shard's instance
    /// within it (a new one after a snapshot is installed or the shard is dropped).
    pub replica: (u64, u64),
    /// Changes of the past counted so far in this replica state.
    pub changes: u64,
    /// Results at times up to and including this one stay as they are until `changes` moves;
    /// `i64::MAX` for a shard that holds no sample yet (its first write counts as a change).
    pub settled_ms: i64,
}

impl HistoryMark {
    /// Whether `self` and `other` say the same about the past (the settled bound moves with
    /// every write and is not compared).
    pub fn same_history(&self, other: &HistoryMark) -> bool {
        self.replica == other.replica && self.changes == other.changes
    }
}

/// The history counters a shard keeps beside its state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct History {
    /// The shard's instance within its engine (set by the engine when it installs the shard).
    pub instance: u64,
    /// Changes of the past counted so far.
    pub changes: u64,
}

impl History {
    /// Counts `cmd`, applied to a shard whose newest sample before it was `newest_ms`.
    pub fn count(&mut self, cmd: &Command, newest_ms: Option<i64>) {
        let changes = match cmd {
            Command::Write(batch) => {
                let floats = batch.samples.iter().flat_map(|(_, s)| s).map(|s| s.t);
                let histograms = batch.histograms.iter().flat_map(|(_, s)| s).map(|s| s.t);
                let mut times = floats.chain(histograms);
                match newest_ms {
                    None => times.next().is_some(),
                    Some(newest) => times.any(|t| t <= newest.saturating_sub(SETTLE_MS)),
                }
            }
            Command::Seal { .. } | Command::CleanTombstones => false,
            Command::Expire { .. }
            | Command::Delete { .. }
            | Command::ExpirePartition { .. }
            | Command::RollUp { .. }
            | Command::Backfill(_) => true,
        };
        if changes {
            self.changes += 1;
        }
    }

    /// The mark of this shard in engine instance `engine`, whose newest sample is `newest_ms`.
    pub fn mark(&self, engine: u64, newest_ms: Option<i64>) -> HistoryMark {
        HistoryMark {
            replica: (engine, self.instance),
            changes: self.changes,
            settled_ms: newest_ms.map_or(i64::MAX, |t| t.saturating_sub(SETTLE_MS)),
        }
    }
}

/// A number no other engine instance (in this process or another) is likely to draw: the
/// standard library's per-process random hash keys.
pub(crate) fn random_instance() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x7469_6465_6d61_726b);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{SeriesRef, WriteBatch};
    use crate::model::Sample;

    fn write(ts: &[i64]) -> Command {
        Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: Vec::new(),
            samples: vec![(
                SeriesRef::Id(0),
                ts.iter().map(|&t| Sample::new(t, 1.0)).collect(),
            )],
        })
    }

    #[test]
    fn writes_within_the_settling_time_of_the_newest_sample_do_not_count() {
        let mut h = History::default();
        let newest = 10 * SETTLE_MS;
        h.count(&write(&[newest + 1_000]), Some(newest));
        h.count(&write(&[newest - SETTLE_MS + 1]), Some(newest));
        assert_eq!(h.changes, 0);
        h.count(&write(&[newest + 5, newest - SETTLE_MS]), Some(newest));
        assert_eq!(h.changes, 1, "one sample at the settled bound counts");
    }

    #[test]
    fn a_histogram_written_into_the_settled_past_counts() {
        let mut h = History::default();
        let newest = 10 * SETTLE_MS;
        let histogram = |t| {
            Command::Write(WriteBatch {
                histograms: vec![(
                    SeriesRef::Id(0),
                    vec![crate::histogram::HistogramSample {
                        t,
                        h: crate::histogram::HistogramValue::Int(Default::default()),
                    }],
                )],
                new_series: Vec::new(),
                samples: Vec::new(),
            })
        };
        h.count(&histogram(newest), Some(newest));
        assert_eq!(h.changes, 0);
        h.count(&histogram(newest - SETTLE_MS), Some(newest));
        assert_eq!(h.changes, 1);
        let mut empty = History::default();
        empty.count(&histogram(1), None);
        assert_eq!(empty.changes, 1, "the first write of an empty shard");
    }

    #[test]
    fn the_first_write_of_an_empty_shard_counts() {
        let mut h = History::default();
        h.count(&write(&[1]), None);
        assert_eq!(h.changes, 1);
        h.count(&write(&[]), None);
        assert_eq!(h.changes, 1, "a write without samples changes nothing");
        assert_eq!(h.mark(7, None).settled_ms, i64::MAX);
        assert_eq!(h.mark(7, Some(SETTLE_MS + 3)).settled_ms, 3);
    }

    #[test]
    fn commands_that_change_the_past_count_and_seals_do_not() {
        let mut h = History::default();
        h.count(
            &Command::Seal {
                partition_start_ms: 0,
            },
            Some(0),
        );
        h.count(&Command::CleanTombstones, Some(0));
        assert_eq!(h.changes, 0);
        h.count(
            &Command::Delete {
                series: vec![0],
                mint_ms: 0,
                maxt_ms: 1,
            },
            Some(0),
        );
        h.count(&Command::Expire { before_ms: 0 }, Some(0));
        assert_eq!(h.changes, 2);
    }

    #[test]
    fn marks_of_two_engine_instances_differ() {
        assert_ne!(random_instance(), random_instance());
        let h = History::default();
        let (a, b) = (h.mark(1, Some(0)), h.mark(2, Some(0)));
        assert!(!a.same_history(&b));
        assert!(a.same_history(&h.mark(1, Some(99))));
    }
}
