//! A shard's flush in two steps: [`Sharded::prepare_flush`] re-encodes partitions sealed since
//! the last flush and chunks cut since then, and computes pending rollups, without the shard's
//! write lock (and, in a node, before the state machine stops its applies); then
//! [`Sharded::flush_prepared`] keeps what still holds and writes everything in one batch.

use std::sync::atomic::Ordering;

use super::{RollupFlush, Sharded, read, write};
use crate::error::{Error, Result};
use crate::model::ShardId;
use crate::shard::{
    RecodeInput, Recoded, SealInput, SealedPartition, SeriesSealInput, Shard, recode, seal_series,
};
use crate::store::{Store, StoredChunks};

/// The encoding work of a shard's flush, done before the flush proper
/// ([`crate::Engine::prepare_flush`]) so that the shard's applies need not wait for it: the
/// partitions sealed since the last flush and pending rollups computed, the chunks cut since
/// then re-encoded. [`crate::Engine::flush_prepared`] checks each piece against the shard as
/// it is then and drops what changed meanwhile (left to a later flush, or done again); work
/// prepared on another instance of the shard (a snapshot installed since) is dropped whole.
pub struct PreparedFlush {
    shard: ShardId,
    /// The shard instance (`history.rs`) the work was read from; `None`: nothing prepared.
    instance: Option<u64>,
    /// [`crate::shard::Shard::backfills`], `deletes` and `flushes` when the seal inputs were
    /// taken.
    backfills: u64,
    deletes: u64,
    flushes: u64,
    sealed: Vec<SealedPartition>,
    abandoned: Vec<i64>,
    rollups: RollupFlush,
    recoded: Vec<Recoded>,
}

impl PreparedFlush {
    /// Nothing prepared: the flush does all of its work itself.
    pub fn none(shard: ShardId) -> PreparedFlush {
        PreparedFlush {
            shard,
            instance: None,
            backfills: 0,
            deletes: 0,
            flushes: 0,
            sealed: Vec::new(),
            abandoned: Vec::new(),
            rollups: RollupFlush::default(),
            recoded: Vec::new(),
        }
    }

    /// Keeps the work that still holds for `st` as it is now: no sealed partition or rollup
    /// when a flush finished since (it wrote them, or what they were computed from changed); no
    /// sealed partition when a `Delete` applied since (its encoding holds the deleted samples
    /// that sealing leaves out, and a `CleanTombstones` may be waiting for it); a sealed
    /// partition only while it is still to seal and not backfilled since. Returns false, and
    /// the caller drops it all, when `st` is another shard or instance of it (a snapshot
    /// installed since). Chunks re-encoded are checked one by one when they are installed.
    fn keep_current(&mut self, st: &Shard) -> bool {
        if self.shard != st.id || self.instance != Some(st.history.instance) {
            return false;
        }
        if self.flushes != st.flushes {
            self.sealed.clear();
            self.abandoned.clear();
            self.rollups = RollupFlush::default();
        }
        if self.deletes != st.deletes {
            self.sealed.clear();
        }
        let backfills = self.backfills;
        self.sealed.retain(|s| {
            st.seal_is_pending(s.partition) && st.backfill_generation(s.partition) <= backfills
        });
        self.abandoned.retain(|a| st.seal_is_pending(*a));
        true
    }

    /// The partitions `st` has to seal that this work lacks.
    fn missing_seals(&self, st: &Shard) -> Vec<i64> {
        st.seal_pending
            .iter()
            .copied()
            .filter(|p| {
                !self.sealed.iter().any(|s| s.partition == *p) && !self.abandoned.contains(p)
            })
            .collect()
    }
}

/// What [`Sharded::flush_prepared`] does when partitions were sealed (or backfilled after
/// their seal) since the preparation: their encoding is the longest work of a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LateSeals {
    /// Encode them in the flush.
    Encode,
    /// Flush nothing and hand the preparation back, to be completed with
    /// [`crate::Engine::prepare_flush`] while applies go on.
    Return,
}

/// The outcome of [`Sharded::flush_prepared`].
pub enum Flushed {
    /// Flushed up to this applied index.
    Index(u64),
    /// Nothing written: partitions to seal were not prepared ([`LateSeals::Return`]).
    Unprepared(PreparedFlush),
}

impl<S: Store> Sharded<S> {
    pub fn flush(&self, shard: ShardId, sm_meta: &[u8]) -> Result<u64> {
        let prepared = self.prepare_flush(shard, None)?;
        match self.flush_prepared(shard, prepared, sm_meta, LateSeals::Encode)? {
            Flushed::Index(index) => Ok(index),
            Flushed::Unprepared(_) => unreachable!("late seals are encoded"),
        }
    }

    /// Encodes what the next flush of `shard` writes, holding the shard's lock only to copy
    /// its inputs: applies go on meanwhile. With `earlier` (handed back by
    /// [`Sharded::flush_prepared`]), its work that still holds is kept and only the rest done.
    #[tracing::instrument(level = "debug", skip_all, fields(shard))]
    pub fn prepare_flush(
        &self,
        shard: ShardId,
        earlier: Option<PreparedFlush>,
    ) -> Result<PreparedFlush> {
        let Some(cell) = self.shard(shard) else {
            return Ok(PreparedFlush::none(shard));
        };
        // Partitions sealed since the last flush: their content no longer changes
        // (`shard/seal.rs`) unless a backfill writes into them.
        let (inputs, mut prepared) = {
            let st = read(&cell);
            let mut p = earlier
                .and_then(|mut e| e.keep_current(&st).then_some(e))
                .unwrap_or_else(|| PreparedFlush::none(shard));
            let missing = p.missing_seals(&st);
            // What was kept holds at the counts now (`keep_current`).
            p.instance = Some(st.history.instance);
            p.backfills = st.backfills;
            p.deletes = st.deletes;
            p.flushes = st.flushes;
            (st.seal_inputs(Some(&missing)), p)
        };
        let (sealed, abandoned) = self.seal_partitions(shard, inputs)?;
        prepared.sealed.extend(sealed);
        prepared.sealed.sort_by_key(|s| s.partition);
        prepared.abandoned.extend(abandoned);
        // Pending rollups (`sharded/rollup.rs`), unless the work kept holds some: a completion
        // leaves new ones to the next flush.
        if prepared.rollups.units.is_empty() {
            let jobs = read(&cell).rollup_jobs();
            prepared.rollups = self.compute_rollups(&cell, shard, jobs)?;
        }
        // Chunks cut since the last flush (`shard/recode.rs`), but those already re-encoded.
        if self.store.durable() {
            let done: std::collections::HashSet<(u32, i64)> =
                prepared.recoded.iter().map(|r| (r.id, r.start)).collect();
            let mut inputs = read(&cell).recode_inputs();
            inputs.retain(|i| !done.contains(&(i.id, i.start)));
            let recoded = self.recode_chunks(shard, inputs)?;
            prepared.recoded.extend(recoded);
        }
        Ok(prepared)
    }

    /// Persists `shard` with the work of `prepared` where it still holds, under the shard's
    /// write lock. Partitions to seal that `prepared` lacks are encoded now, or with
    /// [`LateSeals::Return`] handed back before anything is written.
    #[tracing::instrument(level = "debug", skip_all, fields(shard))]
    pub fn flush_prepared(
        &self,
        shard: ShardId,
        prepared: PreparedFlush,
        sm_meta: &[u8],
        late_seals: LateSeals,
    ) -> Result<Flushed> {
        let cell = self.shard_or_create(shard);
        let mut st = write(&cell);
        let mut prepared = prepared;
        if !prepared.keep_current(&st) {
            prepared = PreparedFlush::none(shard);
        }
        // Meanwhile a partition may have expired or been re-encoded by a concurrent flush
        // (dropped by `keep_current`), or been sealed (to encode).
        let late = prepared.missing_seals(&st);
        if !late.is_empty() && late_seals == LateSeals::Return {
            return Ok(Flushed::Unprepared(prepared));
        }
        let PreparedFlush {
            mut sealed,
            mut abandoned,
            mut rollups,
            recoded,
            ..
        } = prepared;
        let recoded = st.install_recoded(recoded);
        tracing::debug!(shard, recoded, "closed chunks re-encoded");
        if !late.is_empty() {
            let inputs = st.seal_inputs(Some(&late));
            let (more, failed) = self.seal_partitions(shard, inputs)?;
            sealed.extend(more);
            sealed.sort_by_key(|s| s.partition);
            abandoned.extend(failed);
        }
        for p in &abandoned {
            st.seal_pending.remove(p);
        }
        rollups
            .units
            .retain(|u| st.rollup_pending_at(u.tier, u.unit, u.generation));
        for (u, postings) in st.rollups.unpersisted.values() {
            rollups.units.push(u.clone());
            rollups.postings.extend(postings.iter().cloned());
        }
        rollups.merge_postings();
        self.store.write_flush(&st, &sealed, &rollups, sm_meta)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        // Computed rollups become readable now, not when their command applied.
        if !rollups.units.is_empty() {
            st.history.changes += 1;
        }
        st.finish_rollups(rollups, self.store.durable());
        st.finish_flush(sm_meta, self.store.durable(), sealed);
        Ok(Flushed::Index(st.applied))
    }

    /// Re-encodes closed chunks (`shard/recode.rs`), reading the fronts the head no longer holds
    /// from the store. A chunk that does not decode keeps its XOR form and is logged (its
    /// reads will report it); I/O errors fail the flush, which the next one retries.
    fn recode_chunks(&self, shard: ShardId, inputs: Vec<RecodeInput>) -> Result<Vec<Recoded>> {
        let mut reader = None;
        let mut out = Vec::with_capacity(inputs.len());
        let mut stored = StoredChunks::default();
        for input in inputs {
            let mut front = None;
            if input.dropped > 0 {
                let reader = reader.get_or_insert_with(|| self.store.chunk_reader(shard));
                stored.in_order.clear();
                stored.ooo.clear();
                reader.read(
                    input.id,
                    &[input.partition],
                    input.start,
                    input.start,
                    &mut stored,
                )?;
                front = stored
                    .in_order
                    .iter()
                    .position(|(start, _)| *start == input.start)
                    .map(|i| stored.in_order.swap_remove(i).1);
            }
            match recode(&input, front) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => tracing::error!(
                    shard,
                    series = input.id,
                    start = input.start,
                    error = %e,
                    "a closed chunk keeps its XOR form"
                ),
            }
        }
        Ok(out)
    }

    /// Merges and encodes the series of sealed partitions (head data in `inputs`, the rest read
    /// from the store). A partition whose data cannot be decoded (or encoded) keeps its XOR
    /// chunks: it is returned among the abandoned ones and logged, rather than failing every
    /// flush from now on. I/O errors fail the flush, which the next one retries.
    fn seal_partitions(
        &self,
        shard: ShardId,
        inputs: Vec<SealInput>,
    ) -> Result<(Vec<SealedPartition>, Vec<i64>)> {
        let mut sealed = Vec::with_capacity(inputs.len());
        let mut abandoned = Vec::new();
        for input in inputs {
            let p = input.partition;
            let end = self.opts.partition_end(p);
            // One reader for the partition's series, made after their head data was taken: it
            // sees whatever a flush moved out of the head before that (a sealed partition
            // takes no new samples).
            let mut reader = self.store.durable().then(|| self.store.chunk_reader(shard));
            let mut inputs = input.series;
            if let Some(tombstones) = &input.from_store {
                // Re-encoding a partition sealed and flushed before: its series are in its
                // stored postings, its data all in the store.
                let ids = self.store.sealed_postings(shard, p).all()?;
                inputs = ids
                    .iter()
                    .map(|id| SeriesSealInput {
                        id,
                        in_order: Vec::new(),
                        ooo: Vec::new(),
                        deleted: tombstones.of(id).to_vec(),
                    })
                    .collect();
            }
            let series = inputs
                .into_iter()
                .map(|s| {
                    let mut stored = StoredChunks::default();
                    if let Some(r) = reader.as_mut() {
                        r.read(s.id, &[p], i64::MIN, i64::MAX, &mut stored)?;
                    }
                    seal_series(s, stored, p, end)
                })
                .collect::<Result<Vec<_>>>();
            match series {
                Ok(series) => sealed.push(SealedPartition {
                    partition: p,
                    series,
                }),
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => {
                    tracing::error!(shard, partition = p, error = %e, "sealed partition keeps its XOR chunks");
                    abandoned.push(p);
                }
            }
        }
        Ok((sealed, abandoned))
    }
}
