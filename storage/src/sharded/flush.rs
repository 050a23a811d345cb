//! A shard's flush: partitions sealed since the last one re-encoded and pending rollups
//! computed without the write lock, then everything written in one batch.

use std::sync::atomic::Ordering;

use super::{Sharded, read, write};
use crate::error::{Error, Result};
use crate::model::ShardId;
use crate::shard::{
    RecodeInput, Recoded, SealInput, SealedPartition, SeriesSealInput, recode, seal_series,
};
use crate::store::{Store, StoredChunks};

impl<S: Store> Sharded<S> {
    #[tracing::instrument(level = "debug", skip_all, fields(shard))]
    pub fn flush(&self, shard: ShardId, sm_meta: &[u8]) -> Result<u64> {
        let cell = self.shard_or_create(shard);
        // Partitions sealed since the last flush are re-encoded without the write lock: their
        // content no longer changes (`shard/seal.rs`).
        let (inputs, backfills) = {
            let st = read(&cell);
            (st.seal_inputs(None), st.backfills)
        };
        let (mut sealed, mut abandoned) = self.seal_partitions(shard, inputs)?;
        // Pending rollups are computed without the lock too (`sharded/rollup.rs`).
        let jobs = read(&cell).rollup_jobs();
        let rollups = self.compute_rollups(&cell, shard, jobs)?;
        // Chunks cut since the last flush are re-encoded without the lock too (`shard/recode.rs`).
        let recoded = if self.store.durable() {
            let inputs = read(&cell).recode_inputs();
            self.recode_chunks(shard, inputs)?
        } else {
            Vec::new()
        };
        let mut st = write(&cell);
        let recoded = st.install_recoded(recoded);
        tracing::debug!(shard, recoded, "closed chunks re-encoded");
        // Meanwhile a partition may have expired or been re-encoded by a concurrent flush
        // (dropped here), or been sealed (re-encoded now, under the lock).
        // A backfill since the encoding makes it stale: encoded again, under the lock.
        sealed.retain(|s| {
            st.seal_is_pending(s.partition) && st.backfill_generation(s.partition) <= backfills
        });
        let late: Vec<i64> = st
            .seal_pending
            .iter()
            .copied()
            .filter(|p| !sealed.iter().any(|s| s.partition == *p) && !abandoned.contains(p))
            .collect();
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
        let mut rollups = rollups;
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
        Ok(st.applied)
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
