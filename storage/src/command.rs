//! The commands a shard's Raft log carries, and their binary encoding (see `command.md`).
//!
//! A command is built and validated by the shard leader; applying it on any replica depends only
//! on the command and the state left by earlier commands (DESIGN.md, "Determinism").

use crate::histogram::HistogramSample;
use crate::model::{Labels, Sample, SeriesId};
use crate::tier::Tier;

/// How a write refers to a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesRef {
    /// A series that existed in the registry when the leader built the command.
    Id(SeriesId),
    /// The k-th entry of `WriteBatch::new_series`: apply assigns its id (or finds the id that a
    /// concurrent earlier entry already assigned to the same labels).
    New(u32),
}

/// Samples for many series, proposed as one log entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    /// Label sets that the leader did not find in the registry: each enters the log once.
    pub new_series: Vec<Labels>,
    /// Samples per series, each list sorted by timestamp.
    pub samples: Vec<(SeriesRef, Vec<Sample>)>,
    /// Native histogram samples per series, each list sorted by timestamp (a series may have
    /// floats in `samples` too). Histograms never enter sealed partitions (a `Backfill` drops
    /// them as a `Write` does).
    pub histograms: Vec<(SeriesRef, Vec<HistogramSample>)>,
}

impl WriteBatch {
    /// Number of float samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.samples.iter().map(|(_, s)| s.len()).sum()
    }

    /// Number of histogram samples in the batch.
    pub fn histogram_count(&self) -> usize {
        self.histograms.iter().map(|(_, s)| s.len()).sum()
    }
}

/// One entry of a shard's log.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Append samples (and create series).
    Write(WriteBatch),
    /// Seal the time partition starting at `partition_start_ms`: its postings are written and
    /// dropped from memory, and no later sample may enter it (the leader enforces that).
    Seal { partition_start_ms: i64 },
    /// Drop every raw partition that ends at or before `before_ms`. Kept for logs written
    /// before tiers existed; the retention job proposes [`Command::ExpirePartition`].
    Expire { before_ms: i64 },
    /// Delete the samples of `series` (ids the leader resolved, ascending and unique) in
    /// `[mint_ms, maxt_ms]`: a tombstone hides them from every read.
    Delete {
        series: Vec<SeriesId>,
        mint_ms: i64,
        maxt_ms: i64,
    },
    /// Drop what tier `tier` holds in the partition starting at `partition_start_ms`: all of it,
    /// or only the series the leader resolved (a per-metric retention). Samples for what was
    /// dropped are not accepted again.
    ExpirePartition {
        tier: Tier,
        partition_start_ms: i64,
        scope: ExpireScope,
    },
    /// Roll up the day `[unit_start_ms, unit_start_ms + 1d)` into tier `tier`: every series
    /// with raw samples in it but `skip` (ascending; a per-metric policy keeps no such tier
    /// for them) gets its windows ending in `(day, day + 1d]`, computed by each replica from
    /// its own raw data. Proposed once no sample can enter that range any more; again (a
    /// recomputation) when samples reach it late.
    RollUp {
        tier: Tier,
        unit_start_ms: i64,
        skip: Vec<SeriesId>,
    },
    /// Re-encode every sealed partition holding deleted samples without them, at each
    /// replica's next flush (`clean_tombstones`): what reads return does not change, the space
    /// comes back.
    CleanTombstones,
    /// Samples for partitions already sealed, which the leader accepted as a backfill: applied
    /// as a `Write` is, and each sealed partition they enter is sealed again (with every series
    /// of it) at the next flush, the rolled-up days they fall in computed again. A `Write`
    /// drops such samples instead (the leader checked them before a `Seal` committed).
    Backfill(WriteBatch),
}

/// What an [`Command::ExpirePartition`] drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpireScope {
    /// The whole partition.
    All,
    /// These series (ascending, unique) of the partition.
    Series(Vec<SeriesId>),
}

impl Command {
    /// The cluster version a node must support to apply this command: commands added after
    /// the first release are proposed only once every replica of the group supports them.
    pub fn required_level(&self) -> u32 {
        match self {
            Command::Write(b) | Command::Backfill(b) if !b.histograms.is_empty() => 9,
            Command::Write(_)
            | Command::Seal { .. }
            | Command::Expire { .. }
            | Command::Delete { .. } => 1,
            Command::ExpirePartition { .. } | Command::CleanTombstones | Command::RollUp { .. } => {
                2
            }
            Command::Backfill(_) => 3,
        }
    }
}

/// The highest command level this build applies: of [`Command::required_level`] and of the
/// node's meta commands (level 4: API tokens). Levels 5 to 8 need no command: they say a node
/// reads series up to a limit (5), computes a range function's series for its shard (6),
/// tells its shards' history marks (7), which its peers ask of it only then, and reads sealed
/// chunks with shared time columns (8), which no node stores before every node reads them.
/// Level 9: writes carrying native histograms. Level 10: the meta group's metric metadata
/// (`SetMetadata`).
pub const COMMAND_LEVEL: u32 = 10;

mod codec;

pub use codec::COMMAND_FORMAT_VERSION;
