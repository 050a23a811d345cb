//! The per-shard write batcher: on the shard leader, coalesces queued writes into one
//! `WriteBatch` per Raft entry, proposes it and answers every waiter once the entry is
//! committed and applied.
//!
//! One entry is in flight per shard at a time; writes arriving meanwhile queue in the bounded
//! channel and form the next entry (group commit). That keeps label resolution exact: every
//! earlier entry is applied before the next batch resolves series ids and checks samples.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tidemark_storage::{Command, Engine, Labels, Sample, SeriesRef, ShardId, WriteBatch};
use tokio::sync::{mpsc, oneshot};

use super::{SeriesWrite, WriteOutcome};
use crate::error::NodeError;
use crate::raft::state_machine::encode_command;
use crate::raft::{RaftGroup, Request, TypeConfig};

/// One write request's part for one shard, with its waiter.
pub(crate) struct WriteJob {
    pub series: Vec<SeriesWrite>,
    pub samples: usize,
    pub reply: oneshot::Sender<Result<WriteOutcome, NodeError>>,
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
}

/// The batcher task of one shard.
pub(crate) struct Batcher {
    pub shard: ShardId,
    pub raft: RaftGroup,
    pub engine: Arc<dyn Engine>,
    pub rx: mpsc::Receiver<WriteJob>,
    pub config: BatcherConfig,
}

impl Batcher {
    /// Runs until every sender is dropped.
    pub async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut samples = first.samples;
            let mut jobs = vec![first];
            while samples < self.config.write_batch_samples_max {
                match self.rx.try_recv() {
                    Ok(job) => {
                        samples += job.samples;
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.process(jobs).await;
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(shard = self.shard, jobs = jobs.len()))]
    async fn process(&mut self, jobs: Vec<WriteJob>) {
        let shard = self.shard;
        if !self.raft.is_leader() {
            let leader = self.raft.current_leader().await;
            for job in jobs {
                let _ = job.reply.send(Err(no_leader(shard, leader)));
            }
            return;
        }
        let parts: Vec<&[SeriesWrite]> = jobs.iter().map(|j| j.series.as_slice()).collect();
        let (batch, outcomes) = build_batch(
            self.engine.as_ref(),
            shard,
            &parts,
            self.config.ooo_window_ms,
        );
        let result = if batch.samples.is_empty() {
            Ok(())
        } else {
            self.propose(batch).await
        };
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let answer = match &result {
                Ok(()) => Ok(outcome),
                Err(e) => Err(clone_error(e)),
            };
            let _ = job.reply.send(answer);
        }
    }

    async fn propose(&self, batch: WriteBatch) -> Result<(), NodeError> {
        let shard = self.shard;
        let bytes = encode_command(&Command::Write(batch));
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
        RaftError::Fatal(f) => NodeError::Internal(format!("shard {shard}: raft stopped: {f}")),
    }
}

fn clone_error(e: &NodeError) -> NodeError {
    match e {
        NodeError::BadRequest(m) => NodeError::BadRequest(m.clone()),
        NodeError::NoLeader { shard, message } => NodeError::NoLeader {
            shard: *shard,
            message: message.clone(),
        },
        NodeError::Overloaded { shard, message } => NodeError::Overloaded {
            shard: *shard,
            message: message.clone(),
        },
        NodeError::Timeout(m) => NodeError::Timeout(m.clone()),
        NodeError::Internal(m) => NodeError::Internal(m.clone()),
        NodeError::NotImplemented(m) => NodeError::NotImplemented(m.clone()),
    }
}

/// A series of the batch being built.
struct Slot {
    labels: Labels,
    id: Option<u32>,
    /// Samples accepted so far, by timestamp (detects duplicates and conflicts within the batch).
    samples: BTreeMap<i64, f64>,
}

/// Builds one `WriteBatch` from the parts of several writes of one shard, checking every
/// sample against the stored head (`Engine::check_append`) and against earlier parts of the same
/// batch. Returns the batch and one outcome per part. Only reads the engine.
pub(crate) fn build_batch(
    engine: &dyn Engine,
    shard: ShardId,
    parts: &[&[SeriesWrite]],
    ooo_window_ms: i64,
) -> (WriteBatch, Vec<WriteOutcome>) {
    let mut slots: Vec<Slot> = Vec::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut outcomes = Vec::with_capacity(parts.len());
    for part in parts {
        let mut outcome = WriteOutcome::default();
        for sw in part.iter() {
            let slot_ix = *by_labels.entry(sw.labels.clone()).or_insert_with(|| {
                slots.push(Slot {
                    labels: sw.labels.clone(),
                    id: engine.series_id(shard, &sw.labels),
                    samples: BTreeMap::new(),
                });
                slots.len() - 1
            });
            let slot = &mut slots[slot_ix];
            let check = engine.check_append(shard, slot.id, &sw.samples, ooo_window_ms);
            let mut written = check.duplicates;
            outcome.too_old += check.too_old;
            outcome.conflicting += check.conflicting;
            for s in check.accepted {
                match slot.samples.get(&s.t) {
                    Some(v) if v.to_bits() == s.v.to_bits() => written += 1,
                    Some(_) => outcome.conflicting += 1,
                    None => {
                        slot.samples.insert(s.t, s.v);
                        written += 1;
                    }
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
    for slot in slots {
        if slot.samples.is_empty() {
            continue;
        }
        let series_ref = match slot.id {
            Some(id) => SeriesRef::Id(id),
            None => {
                batch.new_series.push(slot.labels);
                SeriesRef::New((batch.new_series.len() - 1) as u32)
            }
        };
        let samples = slot
            .samples
            .into_iter()
            .map(|(t, v)| Sample::new(t, v))
            .collect();
        batch.samples.push((series_ref, samples));
    }
    (batch, outcomes)
}
