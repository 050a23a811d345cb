//! Sealing a partition's chunks: once a `Seal` is applied, the next flush re-encodes every
//! series' data in the partition (head chunks, head out-of-order samples and whatever the backend
//! holds) into sealed chunks (`chunk/sealed.md`), one per series, which replace the partition's
//! XOR chunks in the same atomic write.
//!
//! A sealed partition takes no more samples, so its content is fixed: the flush gathers the
//! head's part under a read lock ([`Shard::seal_inputs`]), merges and encodes without the lock
//! ([`seal_series`], pure), and installs the result under the write lock. The content is the
//! merge reads would return (first applied value wins), so it depends only on the log.

use super::{Shard, merge_sources};
use crate::chunk::sealed::{self, SEALED_SAMPLES_MAX};
use crate::error::Result;
use crate::model::{Sample, SeriesId};
use crate::store::StoredChunks;
use crate::tombstones::remove_deleted;

/// The head's data of one series in a partition being sealed.
pub(crate) struct SeriesSealInput {
    pub id: SeriesId,
    /// In-order chunks of the partition held by the head.
    pub in_order: Vec<super::HeadChunk>,
    /// Out-of-order buffer samples in the partition.
    pub ooo: Vec<Sample>,
    /// The series' deleted intervals (`Command::Delete`): sealing leaves those samples out,
    /// which reads hide anyway, so the space comes back.
    pub deleted: Vec<(i64, i64)>,
}

/// The head's data of a partition being sealed: every series with a sample in it.
pub(crate) struct SealInput {
    pub partition: i64,
    pub series: Vec<SeriesSealInput>,
    /// Set when the partition's postings are no longer in memory (a partition sealed and
    /// flushed before, re-encoded by `CleanTombstones`): its series are then those of its
    /// stored postings, `series` is empty, and these are the deleted intervals of every series.
    pub from_store: Option<crate::tombstones::Tombstones>,
}

/// One sealed chunk with its time bounds.
#[derive(Clone, Debug)]
pub(crate) struct SealedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub bytes: Box<[u8]>,
}

/// The sealed chunks of one series in a partition (none when it has no sample there).
#[derive(Clone, Debug)]
pub(crate) struct SealedSeries {
    pub id: SeriesId,
    pub chunks: Vec<SealedChunk>,
}

/// Every series of a sealed partition, re-encoded: replaces all of the partition's chunks.
#[derive(Clone, Debug)]
pub(crate) struct SealedPartition {
    pub partition: i64,
    pub series: Vec<SealedSeries>,
}

impl Shard {
    /// The head's data of every partition sealed since the last flush (ascending), for
    /// [`seal_series`]. `only` limits it to the given partitions.
    pub fn seal_inputs(&self, only: Option<&[i64]>) -> Vec<SealInput> {
        self.seal_pending
            .iter()
            .copied()
            .filter(|p| only.is_none_or(|o| o.contains(p)))
            .map(|p| SealInput {
                partition: p,
                series: self
                    .partitions
                    .get(&p)
                    .map(|part| {
                        part.all
                            .iter()
                            .map(|id| self.series_seal_input(id, p))
                            .collect()
                    })
                    .unwrap_or_default(),
                from_store: (!self.partitions.contains_key(&p)).then(|| self.tombstones.clone()),
            })
            .collect()
    }

    fn series_seal_input(&self, id: SeriesId, partition: i64) -> SeriesSealInput {
        let mut input = SeriesSealInput {
            id,
            in_order: Vec::new(),
            ooo: Vec::new(),
            deleted: self.tombstones.of(id).to_vec(),
        };
        let Some(head) = self.heads.get(id as usize) else {
            return input;
        };
        let end = self.opts.partition_end(partition);
        // `seal` closed the partition's open chunk and no sample enters it since; included all
        // the same should one remain, so that nothing is lost.
        input.in_order = self.head_chunks(head, |_, _, p| p == partition);
        input.ooo = head
            .ooo
            .iter()
            .filter(|s| s.t >= partition && s.t < end)
            .copied()
            .collect();
        input
    }

    /// Whether partition `p` still waits for its sealed chunks (not expired, not yet written).
    pub fn seal_is_pending(&self, p: i64) -> bool {
        self.seal_pending.contains(&p) && p >= self.horizon_ms
    }
}

/// Merges one series' data in a sealed partition (the head's part and what the backend stores
/// for the whole partition) as reads do, and encodes it into sealed chunks of at most
/// [`SEALED_SAMPLES_MAX`] samples.
pub(crate) fn seal_series(
    input: SeriesSealInput,
    mut stored: StoredChunks,
    partition: i64,
    partition_end: i64,
) -> Result<SealedSeries> {
    let in_order = super::in_order_chunks(input.in_order, stored.in_order)?;
    let mut samples = merge_sources(
        &in_order,
        &mut stored.ooo,
        &input.ooo,
        partition,
        partition_end.saturating_sub(1),
    )?;
    remove_deleted(&input.deleted, &mut samples);
    let chunks = samples
        .chunks(SEALED_SAMPLES_MAX)
        .map(|part| {
            Ok(SealedChunk {
                min_t: part[0].t,
                max_t: part[part.len() - 1].t,
                bytes: sealed::encode(part)?.into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SealedSeries {
        id: input.id,
        chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{XorChunk, decode_range};

    fn xor(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c.bytes().to_vec()
    }

    /// A whole chunk of the head in partition [0, 100).
    fn head(samples: &[(i64, f64)]) -> crate::shard::HeadChunk {
        crate::shard::HeadChunk {
            start: samples[0].0,
            partition: (0, 100),
            dropped: 0,
            count: samples.len() as u16,
            bytes: xor(samples),
        }
    }

    #[test]
    fn merges_all_sources_first_applied_wins() {
        let input = SeriesSealInput {
            id: 7,
            in_order: vec![head(&[(30, 3.0), (40, 4.0)])],
            ooo: vec![
                Sample::new(5, 0.5),
                Sample::new(30, 9.0),
                Sample::new(35, 3.5),
            ],
            deleted: vec![],
        };
        let stored = StoredChunks {
            in_order: vec![(10, xor(&[(10, 1.0), (20, 2.0)]))],
            ooo: vec![(9, xor(&[(15, 9.0), (20, 9.0)])), (3, xor(&[(15, 1.5)]))],
            ..StoredChunks::default()
        };
        let sealed = seal_series(input, stored, 0, 100).unwrap();
        assert_eq!(sealed.id, 7);
        assert_eq!(sealed.chunks.len(), 1);
        let c = &sealed.chunks[0];
        assert_eq!((c.min_t, c.max_t), (5, 40));
        let mut got = Vec::new();
        decode_range(&c.bytes, i64::MIN, i64::MAX, &mut got).unwrap();
        let want: Vec<Sample> = [
            (5, 0.5),
            (10, 1.0),
            (15, 1.5),
            (20, 2.0),
            (30, 3.0),
            (35, 3.5),
            (40, 4.0),
        ]
        .iter()
        .map(|&(t, v)| Sample::new(t, v))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn deleted_samples_are_left_out() {
        let input = SeriesSealInput {
            id: 2,
            in_order: vec![head(&[(10, 1.0), (20, 2.0), (30, 3.0)])],
            ooo: vec![],
            deleted: vec![(15, 25)],
        };
        let sealed = seal_series(input, StoredChunks::default(), 0, 100).unwrap();
        let mut got = Vec::new();
        decode_range(&sealed.chunks[0].bytes, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_eq!(got, vec![Sample::new(10, 1.0), Sample::new(30, 3.0)]);
    }

    #[test]
    fn a_series_without_samples_seals_to_nothing() {
        let input = SeriesSealInput {
            id: 1,
            in_order: vec![],
            ooo: vec![],
            deleted: vec![],
        };
        let sealed = seal_series(input, StoredChunks::default(), 0, 100).unwrap();
        assert!(sealed.chunks.is_empty());
    }
}
