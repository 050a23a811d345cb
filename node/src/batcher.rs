//! The per-shard write batcher: on the shard leader, coalesces queued writes into one
//! `WriteBatch` per Raft entry, proposes it and answers every waiter once the entry is
//! committed and applied.
//!
//! One entry is in flight per shard at a time; writes arriving meanwhile queue in the bounded
//! channel and form the next entry (group commit). That keeps label resolution exact: every
//! earlier entry is applied before the next batch resolves series ids and checks samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tidemark_storage::{
    Command, Engine, ExpireScope, Sample, SeriesKey, SeriesRef, ShardId, Tier, WriteBatch,
};
use tokio::sync::{mpsc, oneshot};

use crate::disk_guard::DiskGuard;
use crate::error::NodeError;
use crate::raft::state_machine::encode_command;
use crate::raft::{RaftGroup, Request, TypeConfig};
use crate::request::{DeleteRequest, HistogramWrite, SeriesWrite, WriteOutcome};
use crate::retention::{MaintenanceRun, ResolvedPolicy, ShardView, plan};
use crate::series_limits::{Admission, LimitHit, MetricCounts, SeriesLimits};
use tidemark_storage::KeyIndex;

/// One write request's part for one shard, with its waiter.
pub(crate) struct WriteJob {
    pub series: Vec<SeriesWrite>,
    pub samples: usize,
    pub reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
}

/// One write request's native histograms for one shard, with its waiter.
pub(crate) struct HistogramJob {
    pub series: Vec<HistogramWrite>,
    pub reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
}

/// A `delete_series` request for one shard, with its waiter (answered with the number of
/// series the delete named).
pub(crate) struct DeleteJob {
    pub request: DeleteRequest,
    pub reply: oneshot::Sender<Result<u64, NodeError>>,
}

/// A retention run for one shard (`retention.rs`), with its waiter.
pub(crate) struct RetentionJob {
    pub policy: Arc<ResolvedPolicy>,
    /// The leader's clock when the run was asked for.
    pub now_ms: i64,
    /// Whether this node holds more data than the policy's disk budget.
    pub over_budget: bool,
    pub reply: oneshot::Sender<Result<MaintenanceRun, NodeError>>,
}

/// A command to propose as it is (after the writes queued before it), with its waiter.
pub(crate) struct ProposeJob {
    pub cmd: Command,
    pub reply: oneshot::Sender<Result<(), NodeError>>,
}

/// What a shard's batcher is asked to do. Deletes and retention runs queue with writes, so they
/// resolve series against every entry proposed before them, and a write acknowledged before a
/// delete was asked for is deleted too.
pub(crate) enum Job {
    Write(WriteJob),
    /// Native histograms: proposed in an entry of their own (command level 9).
    WriteHistograms(HistogramJob),
    Delete(DeleteJob),
    Retention(RetentionJob),
    Propose(ProposeJob),
}

/// Bounds and settings of a batcher.
#[derive(Clone, Debug)]
pub(crate) struct BatcherConfig {
    /// Samples per Raft entry (soft: the first queued write is always taken whole).
    pub write_batch_samples_max: usize,
    /// Out-of-order window the leader enforces, in milliseconds.
    pub ooo_window_ms: i64,
    /// How long a proposal may take to commit and apply, in milliseconds.
    pub write_timeout_ms: u64,
    /// How old a sample may be and still be accepted (a backfill, into sealed partitions too),
    /// in milliseconds: the retention policy's longest once every node applies
    /// `Command::Backfill`; 0: only the out-of-order window (kept by `Retention`).
    pub backfill_ms: Arc<AtomicI64>,
    /// Refuses writes while the disk is below its reserve.
    pub disk: Arc<DiskGuard>,
    /// The cardinality limits new series are admitted under.
    pub series_limits: Arc<SeriesLimits>,
}

/// The batcher task of one shard.
pub(crate) struct Batcher {
    pub shard: ShardId,
    pub raft: RaftGroup,
    pub engine: Arc<dyn Engine>,
    pub rx: mpsc::Receiver<Job>,
    pub config: BatcherConfig,
    /// This shard's cached series counts per metric name.
    pub metric_counts: MetricCounts,
}

impl Batcher {
    /// Runs until every sender is dropped.
    pub async fn run(mut self) {
        let mut next = None;
        loop {
            let first = match next.take() {
                Some(job) => job,
                None => match self.rx.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            let first = match first {
                Job::Delete(d) => {
                    self.delete(d).await;
                    continue;
                }
                Job::Retention(r) => {
                    self.retention(r).await;
                    continue;
                }
                Job::Propose(p) => {
                    let answer = if self.raft.is_leader() {
                        self.propose(&p.cmd).await
                    } else {
                        Err(no_leader(self.shard, self.raft.current_leader().await))
                    };
                    let _ = p.reply.send(answer);
                    continue;
                }
                Job::WriteHistograms(h) => {
                    self.process_histograms(h).await;
                    self.seal_ready().await;
                    continue;
                }
                Job::Write(w) => w,
            };
            let mut samples = first.samples;
            let mut jobs = vec![first];
            while samples < self.config.write_batch_samples_max {
                match self.rx.try_recv() {
                    Ok(Job::Write(job)) => {
                        samples += job.samples;
                        jobs.push(job);
                    }
                    // A delete or a retention run waits for the writes queued before it.
                    Ok(other) => {
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.process(jobs).await;
            self.seal_ready().await;
        }
    }

    /// Resolves a delete's selectors against the applied state (every earlier entry of this
    /// leader is applied by now) and proposes one `Command::Delete` naming the series found.
    async fn delete(&self, job: DeleteJob) {
        let shard = self.shard;
        let answer = async {
            if !self.raft.is_leader() {
                return Err(no_leader(shard, self.raft.current_leader().await));
            }
            let req = &job.request;
            let mut series: Vec<u32> = Vec::new();
            for selector in req.selectors()? {
                let ids = self
                    .engine
                    .matching_series(shard, &selector, req.mint_ms, req.maxt_ms)
                    .map_err(NodeError::storage(shard))?;
                series.extend(ids);
            }
            series.sort_unstable();
            series.dedup();
            if series.is_empty() {
                return Ok(0);
            }
            let n = series.len() as u64;
            self.propose(&Command::Delete {
                series,
                mint_ms: req.mint_ms,
                maxt_ms: req.maxt_ms,
            })
            .await?;
            Ok(n)
        }
        .await;
        let _ = job.reply.send(answer);
    }

    /// Plans the retention commands due (`retention/plan.rs`) against the applied state (every
    /// earlier entry of this leader is applied by now) and proposes them one by one.
    async fn retention(&self, job: RetentionJob) {
        let shard = self.shard;
        let answer = async {
            if !self.raft.is_leader() {
                return Err(no_leader(shard, self.raft.current_leader().await));
            }
            let engine = &self.engine;
            let partitions = engine
                .partitions(shard)
                .map_err(NodeError::storage(shard))?;
            let rolled = [Tier::Rollup1m, Tier::Rollup1h]
                .into_iter()
                .map(|t| (t, engine.rolled_units(shard, t).into_iter().collect()))
                .collect();
            let closed = [Tier::Rollup1m, Tier::Rollup1h]
                .into_iter()
                .map(|t| (t, engine.closed_partitions(shard, t).into_iter().collect()))
                .collect();
            let view = ShardView {
                partitions: &partitions,
                rolled: &rolled,
                closed: &closed,
                raw_partition_ms: tidemark_storage::EngineOptions::default().partition_ms,
                pending_rollups: engine.pending_rollups(shard),
            };
            let series_of = |tier: Tier, p: i64, sets: &[Vec<tidemark_storage::Matcher>]| {
                if sets.is_empty() {
                    return engine.partition_series(shard, tier, p, &[]);
                }
                let mut ids = Vec::new();
                for set in sets {
                    ids.extend(engine.partition_series(shard, tier, p, set)?);
                }
                ids.sort_unstable();
                ids.dedup();
                Ok(ids)
            };
            let cmds = plan(&job.policy, job.now_ms, &view, job.over_budget, series_of)
                .map_err(NodeError::storage(shard))?;
            let mut run = MaintenanceRun::default();
            for cmd in cmds {
                self.propose(&cmd).await?;
                match &cmd {
                    Command::ExpirePartition {
                        tier,
                        partition_start_ms,
                        scope: ExpireScope::All,
                    } => {
                        run.partitions_expired += 1;
                        tracing::info!(shard, %tier, partition_start_ms, "partition expired");
                    }
                    Command::ExpirePartition {
                        tier,
                        partition_start_ms,
                        scope: ExpireScope::Series(ids),
                    } => {
                        run.series_expired += ids.len() as u64;
                        tracing::info!(
                            shard,
                            %tier,
                            partition_start_ms,
                            series = ids.len(),
                            "series expired from a partition"
                        );
                    }
                    Command::RollUp {
                        tier,
                        unit_start_ms,
                        skip,
                    } => {
                        run.days_rolled_up += 1;
                        tracing::info!(
                            shard,
                            %tier,
                            day_ms = unit_start_ms,
                            skipped = skip.len(),
                            "day rolled up"
                        );
                    }
                    _ => {}
                }
            }
            Ok(run)
        }
        .await;
        let _ = job.reply.send(answer);
    }

    /// Proposes `Seal` for every partition no sample can enter any more (all of it older than
    /// the out-of-order window). Runs between batches, so the next batch is checked against the
    /// sealed state: a seal never races an accepted sample.
    async fn seal_ready(&self) {
        if !self.raft.is_leader() {
            return;
        }
        let shard = self.shard;
        for start in self
            .engine
            .sealable_partitions(shard, self.config.ooo_window_ms)
        {
            let seal = Command::Seal {
                partition_start_ms: start,
            };
            if let Err(e) = self.propose(&seal).await {
                // Retried after the next batch: sealing late costs memory, not correctness.
                tracing::warn!(shard, partition_start_ms = start, error = %e, "seal not proposed");
                return;
            }
            tracing::debug!(shard, partition_start_ms = start, "partition sealed");
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(shard = self.shard, jobs = jobs.len()))]
    async fn process(&mut self, jobs: Vec<WriteJob>) {
        let shard = self.shard;
        let (parts, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.series, j.reply)).unzip();
        if let Err(e) = self.ready_to_write().await {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
        let backfill_from_ms = match self.config.backfill_ms.load(Ordering::Relaxed) {
            ms if ms > 0 => crate::clock::now_ms().saturating_sub(ms),
            _ => i64::MAX,
        };
        let ooo_window_ms = self.config.ooo_window_ms;
        let (batch, backfill, outcomes) = self.admitting(|engine, admit| {
            build_batch(engine, shard, parts, ooo_window_ms, backfill_from_ms, admit)
        });
        let mut result = if batch.samples.is_empty() {
            Ok(())
        } else {
            self.propose(&Command::Write(batch)).await
        };
        if result.is_ok() && !backfill.samples.is_empty() {
            result = self.propose(&Command::Backfill(backfill)).await;
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let answer = match &result {
                Ok(()) => Ok(outcome),
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(answer);
        }
    }

    /// Runs `build` with the engine and the admission of new series under the cardinality
    /// limits, as of now.
    fn admitting<R>(
        &mut self,
        build: impl FnOnce(&dyn Engine, &mut dyn FnMut(&SeriesKey) -> Result<(), LimitHit>) -> R,
    ) -> R {
        let shard = self.shard;
        let engine = self.engine.as_ref();
        let limits = &self.config.series_limits;
        let count_of = |name: &str| metric_series(engine, shard, name);
        let held = if limits.is_off() {
            0
        } else {
            engine.series_count(shard)
        };
        let now = std::time::Instant::now();
        let mut admission = Admission::new(limits, held, &mut self.metric_counts, &count_of, now);
        build(engine, &mut |key| admission.admit(key))
    }

    /// Whether this replica may take writes now: it leads the shard and the disk is above
    /// its reserve.
    async fn ready_to_write(&self) -> Result<(), NodeError> {
        if !self.raft.is_leader() {
            return Err(no_leader(self.shard, self.raft.current_leader().await));
        }
        match self.config.disk.refusal() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks one request's native histograms for this shard and proposes what is accepted in
    /// one entry.
    async fn process_histograms(&mut self, job: HistogramJob) {
        let shard = self.shard;
        if let Err(e) = self.ready_to_write().await {
            let _ = job.reply.send(Err(e));
            return;
        }
        let ooo_window_ms = self.config.ooo_window_ms;
        let (batch, outcome) = self.admitting(|engine, admit| {
            build_histogram_batch(engine, shard, job.series, ooo_window_ms, admit)
        });
        let result = if batch.histograms.is_empty() {
            Ok(())
        } else {
            self.propose(&Command::Write(batch)).await
        };
        let _ = job.reply.send(result.map(|()| outcome));
    }

    async fn propose(&self, cmd: &Command) -> Result<(), NodeError> {
        let shard = self.shard;
        let bytes = encode_command(cmd);
        let timeout = Duration::from_millis(self.config.write_timeout_ms);
        match tokio::time::timeout(timeout, self.raft.client_write(Request::Shard(bytes))).await {
            Err(_) => Err(NodeError::Timeout(format!(
                "shard {shard}: entry not applied within write_timeout_ms={}",
                self.config.write_timeout_ms
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(write_error(shard, e)),
        }
    }
}

/// How many series of `shard` have metric name `name` (0 when the shard cannot say).
fn metric_series(engine: &dyn Engine, shard: ShardId, name: &str) -> u64 {
    let matcher = tidemark_storage::Matcher::equal("__name__", name);
    engine
        .matching_series(shard, &[matcher], i64::MIN, i64::MAX)
        .map_or(0, |ids| ids.len() as u64)
}

fn no_leader(shard: ShardId, leader: Option<u64>) -> NodeError {
    let message = match leader {
        Some(id) => format!("node {id} leads the shard"),
        None => "election in progress".into(),
    };
    NodeError::NoLeader { shard, message }
}

fn write_error(
    shard: ShardId,
    e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
) -> NodeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => no_leader(shard, f.leader_id),
        // Any other API error: the entry may or may not commit.
        RaftError::APIError(other) => {
            NodeError::Timeout(format!("shard {shard}: outcome unknown: {other}"))
        }
        RaftError::Fatal(f) => NodeError::Raft {
            group: crate::raft::shard_group(shard),
            message: format!("raft stopped: {f}"),
        },
    }
}

/// A series of the batch being built.
struct Slot {
    id: Option<u32>,
    /// A new series a cardinality limit kept out: its samples are counted, not written.
    limited: bool,
    key: SeriesKey,
    /// Samples accepted so far, sorted by timestamp, unique (detects duplicates and conflicts
    /// within the batch).
    samples: Vec<Sample>,
    /// Samples accepted for sealed partitions (the backfill batch), likewise.
    backfill: Vec<Sample>,
}

/// Adds `s` to `samples` (sorted, unique); `Ok(true)` when new, `Ok(false)` for an identical
/// duplicate, `Err` when another value is already taken at its timestamp.
fn add_sample(samples: &mut Vec<Sample>, s: Sample) -> Result<bool, ()> {
    // Samples of one write arrive sorted: appending is the common case.
    if samples.last().is_none_or(|last| last.t < s.t) {
        samples.push(s);
        return Ok(true);
    }
    match samples.binary_search_by_key(&s.t, |x| x.t) {
        Ok(i) if samples[i].v.to_bits() == s.v.to_bits() => Ok(false),
        Ok(_) => Err(()),
        Err(i) => {
            samples.insert(i, s);
            Ok(true)
        }
    }
}

/// Builds one `WriteBatch` from the parts of several writes of one shard, checking every
/// sample against the stored head (`Engine::check_writes`, samples from `backfill_from_ms` on
/// accepted however old) and against earlier parts of the same batch. Returns the batch, the
/// batch of samples for sealed partitions (a `Command::Backfill`), and one outcome per part.
/// A new series is created only when `admit` lets it (`series_limits.rs`). Only reads the
/// engine.
pub(crate) fn build_batch(
    engine: &dyn Engine,
    shard: ShardId,
    parts: Vec<Vec<SeriesWrite>>,
    ooo_window_ms: i64,
    backfill_from_ms: i64,
    admit: &mut dyn FnMut(&SeriesKey) -> Result<(), LimitHit>,
) -> (WriteBatch, WriteBatch, Vec<WriteOutcome>) {
    let series_max: usize = parts.iter().map(Vec::len).sum();
    // Every series looked up and checked under one hold of the shard's lock, in order.
    let writes: Vec<(&SeriesKey, &[Sample])> = parts
        .iter()
        .flatten()
        .map(|sw| (&sw.key, sw.samples.as_slice()))
        .collect();
    let mut checks = engine
        .check_writes(shard, &writes, ooo_window_ms, backfill_from_ms)
        .into_iter();
    let mut slots: Vec<Slot> = Vec::with_capacity(series_max);
    let mut by_key = KeyIndex::with_capacity(series_max);
    let mut outcomes = Vec::with_capacity(parts.len());
    for part in parts {
        let mut outcome = WriteOutcome::default();
        for sw in part {
            let (id, mut check) = checks.next().expect("check_writes answers once per series");
            let slot_ix = match by_key.find(&sw.key, |i| &slots[i].key) {
                Some(ix) => ix,
                None => {
                    by_key.insert(&sw.key, slots.len());
                    let limited = match id {
                        Some(_) => false,
                        None => match admit(&sw.key) {
                            Ok(()) => false,
                            Err(hit) => {
                                tracing::debug!(shard, ?hit, "new series beyond a limit");
                                true
                            }
                        },
                    };
                    slots.push(Slot {
                        id,
                        limited,
                        key: sw.key,
                        samples: Vec::new(),
                        backfill: Vec::new(),
                    });
                    slots.len() - 1
                }
            };
            let slot = &mut slots[slot_ix];
            if slot.limited {
                outcome.series_limited += 1;
                outcome.samples_limited += sw.samples.len();
                continue;
            }
            let mut written = check.duplicates;
            outcome.too_old += check.too_old;
            outcome.conflicting += check.conflicting;
            if slot.samples.is_empty() && check.accepted.is_sorted_by(|a, b| a.t < b.t) {
                // The series' first part: taken whole when sorted and unique (a write's are).
                written += check.accepted.len();
                slot.samples = std::mem::take(&mut check.accepted);
            }
            let accepted = check.accepted.into_iter().map(|s| (s, false));
            for (s, late) in accepted.chain(check.backfill.into_iter().map(|s| (s, true))) {
                let list = if late {
                    &mut slot.backfill
                } else {
                    &mut slot.samples
                };
                match add_sample(list, s) {
                    Ok(_) => written += 1,
                    Err(()) => outcome.conflicting += 1,
                }
            }
            outcome.samples_written += written;
            if written > 0 {
                outcome.series_written += 1;
            }
        }
        outcomes.push(outcome);
    }
    let mut batch = WriteBatch::default();
    let mut backfill = WriteBatch::default();
    for slot in slots.into_iter().filter(|s| !s.limited) {
        for (b, samples) in [(&mut batch, slot.samples), (&mut backfill, slot.backfill)] {
            if samples.is_empty() {
                continue;
            }
            let series_ref = match slot.id {
                Some(id) => SeriesRef::Id(id),
                // Created by whichever batch applies first (the other finds it by its labels).
                None => {
                    b.new_series.push(slot.key.labels());
                    SeriesRef::New((b.new_series.len() - 1) as u32)
                }
            };
            b.samples.push((series_ref, samples));
        }
    }
    (batch, backfill, outcomes)
}

/// Builds the entry of one request's native histograms for one shard: each series' samples
/// (runs of one series that a shard-map change split are merged first) checked against the
/// stored head (`Engine::check_histograms`), a new series created only when it has samples to
/// write and `admit` lets it. Returns the batch and what the request's histograms did
/// (`samples_written` counts histograms; identical duplicates count as written). Only reads
/// the engine.
pub(crate) fn build_histogram_batch(
    engine: &dyn Engine,
    shard: ShardId,
    series: Vec<HistogramWrite>,
    ooo_window_ms: i64,
    admit: &mut dyn FnMut(&SeriesKey) -> Result<(), LimitHit>,
) -> (WriteBatch, WriteOutcome) {
    let mut merged: Vec<HistogramWrite> = Vec::with_capacity(series.len());
    let mut by_key = KeyIndex::with_capacity(series.len());
    for hw in series {
        match by_key.find(&hw.key, |i| &merged[i].key) {
            Some(i) => {
                merged[i].samples.extend(hw.samples);
                merged[i].samples.sort_by_key(|s| s.t);
            }
            None => {
                by_key.insert(&hw.key, merged.len());
                merged.push(hw);
            }
        }
    }
    let writes: Vec<(&SeriesKey, &[tidemark_storage::histogram::HistogramSample])> = merged
        .iter()
        .map(|hw| (&hw.key, hw.samples.as_slice()))
        .collect();
    let checks = engine.check_histograms(shard, &writes, ooo_window_ms);
    let mut outcome = WriteOutcome::default();
    let mut batch = WriteBatch::default();
    for (hw, (id, check)) in merged.iter().zip(checks) {
        let series_ref = match id {
            Some(id) => Some(SeriesRef::Id(id)),
            // Nothing to write: a new series is not created for it.
            None if check.accepted.is_empty() => None,
            None => match admit(&hw.key) {
                Ok(()) => {
                    batch.new_series.push(hw.key.labels());
                    Some(SeriesRef::New((batch.new_series.len() - 1) as u32))
                }
                Err(hit) => {
                    // As for floats: every sample of a series kept out is counted as limited.
                    tracing::debug!(shard, ?hit, "new histogram series beyond a limit");
                    outcome.series_limited += 1;
                    outcome.samples_limited += hw.samples.len();
                    continue;
                }
            },
        };
        outcome.too_old += check.too_old;
        outcome.conflicting += check.conflicting;
        let written = check.duplicates + check.accepted.len();
        outcome.samples_written += written;
        if written > 0 {
            outcome.series_written += 1;
        }
        if let Some(series_ref) = series_ref.filter(|_| !check.accepted.is_empty()) {
            batch.histograms.push((series_ref, check.accepted));
        }
    }
    (batch, outcome)
}
