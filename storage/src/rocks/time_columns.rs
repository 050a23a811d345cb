//! Shared time columns in the data store (`chunk/shared_times.rs` for the bytes): when a flush
//! writes sealed chunks of a partition (a sealed partition's, or the chunks the head cut in an
//! open one, `shard/recode.rs`), a time part that two or more of them hold is stored once,
//! under its column key (`keys::time_column_key`: in the partition's key range, so that
//! whatever deletes, re-seals or exports the partition takes its columns along; named by its
//! content, so that writing it again is harmless), and those chunks name it instead. A chunk
//! reader joins them again, so everything above the store sees self-contained sealed chunks.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::chunk::shared_times::{self, ColumnId};
use crate::error::{Error, Result};
use crate::model::ShardId;

/// The stored form of one partition's sealed chunks.
pub(super) struct StoredForm<'a> {
    /// The time columns to store: id and bytes.
    pub columns: Vec<(ColumnId, &'a [u8])>,
    /// Each chunk's stored bytes, in the order given.
    pub chunks: Vec<Cow<'a, [u8]>>,
}

/// What to store for sealed chunks of one partition (`chunks`): with `shared`, time parts held
/// by at least two of them become columns, the chunks that hold them name them; the rest stay
/// as they are.
pub(super) fn stored_form<'a>(chunks: &[&'a [u8]], shared: bool) -> StoredForm<'a> {
    if !shared {
        return StoredForm {
            columns: Vec::new(),
            chunks: chunks.iter().map(|c| Cow::Borrowed(*c)).collect(),
        };
    }
    // A chunk that does not split stays whole: it was just encoded, so this does not happen,
    // and storing it as it is loses nothing.
    let split: Vec<Option<(&[u8], &[u8])>> = chunks
        .iter()
        .map(|c| shared_times::split(c).ok().flatten())
        .collect();
    let mut uses: HashMap<&[u8], usize> = HashMap::new();
    for (times, _) in split.iter().flatten() {
        *uses.entry(times).or_default() += 1;
    }
    let mut columns: Vec<(ColumnId, &[u8])> = uses
        .iter()
        .filter(|(_, n)| **n >= 2)
        .map(|(times, _)| (shared_times::column_id(times), *times))
        .collect();
    columns.sort_unstable_by_key(|c| c.0);
    let ids: HashMap<&[u8], ColumnId> = columns.iter().map(|(id, t)| (*t, *id)).collect();
    let chunks = chunks
        .iter()
        .zip(split)
        .map(
            |(c, split)| match split.and_then(|(t, v)| Some((ids.get(t)?, v))) {
                Some((id, values)) => Cow::Owned(shared_times::naming(id, values)),
                None => Cow::Borrowed(*c),
            },
        )
        .collect();
    StoredForm { columns, chunks }
}

/// Time columns a chunk reader has fetched, by partition and id.
#[derive(Default)]
pub(super) struct ColumnCache {
    columns: HashMap<(i64, ColumnId), Vec<u8>>,
}

impl ColumnCache {
    /// `chunk` as a self-contained sealed chunk: joined with the time column it names (fetched
    /// by `fetch` once per reader), or as it is when it names none. A named column that is
    /// missing is corrupt data.
    pub fn resolve(
        &mut self,
        shard: ShardId,
        partition: i64,
        chunk: Vec<u8>,
        fetch: impl FnOnce(&ColumnId) -> Result<Option<Vec<u8>>>,
    ) -> Result<Vec<u8>> {
        let Some(id) = shared_times::named_column(&chunk) else {
            return Ok(chunk);
        };
        let times = match self.columns.entry((partition, id)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some(bytes) = fetch(&id)? else {
                    return Err(Error::Corrupt {
                        shard,
                        message: format!(
                            "the time column a sealed chunk of partition {partition} names is missing"
                        ),
                    });
                };
                e.insert(bytes)
            }
        };
        shared_times::join(&chunk, times)
    }
}

#[cfg(test)]
mod tests {
    use crate::SeriesSamples;
    use crate::chunk::shared_times::named_column;
    use crate::command::{Command, SeriesRef, WriteBatch};
    use crate::engine::Engine;
    use crate::model::{Labels, Matcher, Sample};
    use crate::rocks::keys::{self, CF_CHUNKS, TIER_RAW, TIME_COLUMNS_SERIES};
    use crate::{EngineOptions, MemEngine, RocksEngine};

    const SHARD: u32 = 1;

    fn select(e: &dyn Engine) -> crate::Result<Vec<SeriesSamples>> {
        e.select(SHARD, &[Matcher::equal("job", "j")], i64::MIN, i64::MAX)?
            .collect()
    }

    /// (column keys, chunks naming a column, other chunks) stored in partition `p`.
    fn stored(e: &RocksEngine, p: i64) -> (usize, usize, usize) {
        let store = &e.core.store;
        let prefix = keys::chunk_partition_prefix(SHARD, TIER_RAW, p);
        let columns = keys::chunk_series_prefix(SHARD, TIER_RAW, p, TIME_COLUMNS_SERIES);
        let mut counts = (0, 0, 0);
        for kv in store.db.prefix_iterator_cf(store.cf(CF_CHUNKS), &prefix) {
            let (k, v) = kv.unwrap();
            if !k.starts_with(&prefix) {
                break;
            }
            if k.starts_with(&columns) {
                counts.0 += 1;
            } else if named_column(&v).is_some() {
                counts.1 += 1;
            } else {
                counts.2 += 1;
            }
        }
        counts
    }

    /// Three series of one scrape and one of another, sealed: one time column, three chunks
    /// naming it; reads, digests (against an engine that stores no columns), a reopen and a
    /// backfill that seals the partition again all see the samples written. A missing column
    /// is corrupt data.
    #[test]
    fn series_of_one_scrape_share_a_stored_time_column() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions::default();
        let p = 100 * opts.partition_ms;
        let scrape = |phase: i64, i: i64| p + phase + i * 15_000 + (i * 7) % 9 - 4;
        let names = ["a", "b", "c", "d"];
        let samples: Vec<Vec<Sample>> = names
            .iter()
            .enumerate()
            .map(|(k, _)| {
                let phase = if k == 3 { 3_000 } else { 1_000 };
                (0..400)
                    .map(|i| Sample::new(scrape(phase, i), ((i * (k as i64 + 3)) % 50) as f64))
                    .collect()
            })
            .collect();
        let write = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: names
                .iter()
                .map(|n| Labels::from_pairs(&[("__name__", n), ("job", "j")]))
                .collect(),
            samples: (0..4)
                .map(|k| (SeriesRef::New(k as u32), samples[k].clone()))
                .collect(),
        });
        let seal = Command::Seal {
            partition_start_ms: p,
        };
        let backfill = Command::Backfill(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(0), vec![Sample::new(p + 5, -1.0)])],
        });
        let mem = MemEngine::new(opts.clone());
        for (i, cmd) in [&write, &seal].into_iter().enumerate() {
            mem.apply(SHARD, i as u64 + 1, cmd).unwrap();
        }
        {
            let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
            e.set_shared_time_columns(true);
            e.apply(SHARD, 1, &write).unwrap();
            e.apply(SHARD, 2, &seal).unwrap();
            e.flush(SHARD, b"m").unwrap();
            assert_eq!(stored(&e, p), (1, 3, 1));
            assert_eq!(select(&e).unwrap(), select(&mem).unwrap());
            assert_eq!(e.digest(SHARD).unwrap(), mem.digest(SHARD).unwrap());
        }
        let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
        e.set_shared_time_columns(true);
        assert_eq!(select(&e).unwrap(), select(&mem).unwrap(), "reopened");
        // A backfill seals the partition again from the stored chunks (joined on read): the
        // changed series gets a time part of its own.
        e.apply(SHARD, 3, &backfill).unwrap();
        mem.apply(SHARD, 3, &backfill).unwrap();
        e.flush(SHARD, b"m").unwrap();
        assert_eq!(stored(&e, p), (1, 2, 2));
        let got = select(&e).unwrap();
        assert_eq!(got, select(&mem).unwrap());
        assert_eq!(got[0].samples[0], Sample::new(p + 5, -1.0));
        assert_eq!(e.digest(SHARD).unwrap(), mem.digest(SHARD).unwrap());
        // The column gone: the reads that need it fail as corruption.
        let store = &e.core.store;
        let columns = keys::chunk_series_prefix(SHARD, TIER_RAW, p, TIME_COLUMNS_SERIES);
        let to = crate::rocks::store::prefix_successor(&columns).unwrap();
        store
            .db
            .delete_range_cf(store.cf(CF_CHUNKS), columns, to)
            .unwrap();
        let err = select(&e).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }

    /// In an open partition, the chunks the head cut at the same scrape share time columns
    /// too (`shard/recode.rs`); sealing the partition replaces them and their columns.
    #[test]
    fn chunks_cut_at_one_scrape_share_time_columns() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions::default();
        let p = 100 * opts.partition_ms;
        let times: Vec<i64> = (0..300).map(|i| p + i * 15_000 + (i * 5) % 7).collect();
        let write = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: ["a", "b"]
                .iter()
                .map(|n| Labels::from_pairs(&[("__name__", n), ("job", "j")]))
                .collect(),
            samples: (0..2)
                .map(|k| {
                    let s = times
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| Sample::new(t, ((i + k) % 13) as f64))
                        .collect();
                    (SeriesRef::New(k as u32), s)
                })
                .collect(),
        });
        let seal = Command::Seal {
            partition_start_ms: p,
        };
        let mem = MemEngine::new(opts.clone());
        mem.apply(SHARD, 1, &write).unwrap();
        let e = RocksEngine::open(dir.path(), opts).unwrap();
        e.set_shared_time_columns(true);
        e.apply(SHARD, 1, &write).unwrap();
        e.flush(SHARD, b"m").unwrap();
        // Two cuts (samples 0-119, 120-239) per series, each pair sharing a column; the open
        // chunks (240-299) stay XOR.
        assert_eq!(stored(&e, p), (2, 4, 2));
        assert_eq!(select(&e).unwrap(), select(&mem).unwrap());
        assert_eq!(e.digest(SHARD).unwrap(), mem.digest(SHARD).unwrap());
        e.apply(SHARD, 2, &seal).unwrap();
        mem.apply(SHARD, 2, &seal).unwrap();
        e.flush(SHARD, b"m").unwrap();
        assert_eq!(stored(&e, p), (1, 2, 0));
        assert_eq!(select(&e).unwrap(), select(&mem).unwrap());
    }
}
