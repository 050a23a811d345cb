//! The commands a shard's Raft log carries, and their binary encoding (see `command.md`).
//!
//! A command is built and validated by the shard leader; applying it on any replica depends only
//! on the command and the state left by earlier commands (DESIGN.md, "Determinism").

use crate::model::{Labels, Sample, SeriesId};

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
}

impl WriteBatch {
    /// Number of samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.samples.iter().map(|(_, s)| s.len()).sum()
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
    /// Drop every partition that ends at or before `before_ms` (retention), in every tier.
    Expire { before_ms: i64 },
    /// Delete the samples of `series` (ids the leader resolved, ascending and unique) in
    /// `[mint_ms, maxt_ms]`: a tombstone hides them from every read.
    Delete {
        series: Vec<SeriesId>,
        mint_ms: i64,
        maxt_ms: i64,
    },
}

mod codec;

pub use codec::COMMAND_FORMAT_VERSION;
