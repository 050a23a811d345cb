//! What the write path routes: one series' samples of one kind, floats ([`SeriesWrite`]) or
//! native histograms ([`HistogramWrite`]). Both are split by shard and time the same way and
//! reach the shard's batcher on this node or on its leader; each kind has its own queued job
//! and its own call between nodes (histograms took a new one, so that the float call stays
//! what every earlier build speaks).

use tidemark_storage::SeriesKey;
use tidemark_storage::ShardId;
use tokio::sync::oneshot;

use crate::batcher::{HistogramJob, Job, WriteJob};
use crate::error::NodeError;
use crate::peer::Call;
use crate::request::{HistogramWrite, SeriesWrite, WriteOutcome};

/// One series' samples of one kind, sorted by timestamp.
pub(crate) trait WritePart: Clone + Send + Sync + Sized + 'static {
    /// The series.
    fn key(&self) -> &SeriesKey;
    /// Samples held.
    fn len(&self) -> usize;
    /// Timestamp of the `i`-th sample.
    fn t(&self, i: usize) -> i64;
    /// Keeps the first `n` samples, returns the others (same series).
    fn split_off(&mut self, n: usize) -> Self;
    /// The queued job of a shard part.
    fn job(
        part: Vec<Self>,
        samples: usize,
        reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
    ) -> Job;
    /// The call that sends a shard part to its leader on another node.
    fn call(shard: ShardId, part: Vec<Self>) -> Call;

    /// Timestamp of the first sample.
    fn first_t(&self) -> Option<i64> {
        (self.len() > 0).then(|| self.t(0))
    }

    /// Timestamp of the last sample.
    fn last_t(&self) -> Option<i64> {
        self.len().checked_sub(1).map(|i| self.t(i))
    }

    /// Samples before `t`.
    fn count_before(&self, t: i64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.t(mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Drops the samples after `t_max`, returning how many.
    fn drop_after(&mut self, t_max: i64) -> usize {
        let keep = self.count_before(t_max.saturating_add(1));
        let dropped = self.len() - keep;
        if dropped > 0 {
            self.split_off(keep);
        }
        dropped
    }
}

impl WritePart for SeriesWrite {
    fn key(&self) -> &SeriesKey {
        &self.key
    }
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn t(&self, i: usize) -> i64 {
        self.samples[i].t
    }
    fn split_off(&mut self, n: usize) -> Self {
        SeriesWrite {
            key: self.key.clone(),
            samples: self.samples.split_off(n),
        }
    }
    fn job(
        series: Vec<Self>,
        samples: usize,
        reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
    ) -> Job {
        Job::Write(WriteJob {
            series,
            samples,
            reply,
        })
    }
    fn call(shard: ShardId, part: Vec<Self>) -> Call {
        Call::Write { shard, part }
    }
}

impl WritePart for HistogramWrite {
    fn key(&self) -> &SeriesKey {
        &self.key
    }
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn t(&self, i: usize) -> i64 {
        self.samples[i].t
    }
    fn split_off(&mut self, n: usize) -> Self {
        HistogramWrite {
            key: self.key.clone(),
            samples: self.samples.split_off(n),
        }
    }
    fn job(
        series: Vec<Self>,
        _samples: usize,
        reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
    ) -> Job {
        Job::WriteHistograms(HistogramJob { series, reply })
    }
    fn call(shard: ShardId, part: Vec<Self>) -> Call {
        Call::WriteHistograms { shard, part }
    }
}
