//! Migrations of a data directory written by an earlier build to the current layout
//! (`layout.md`), run by `RocksEngine::open` before anything reads it. Each is idempotent: a
//! crash halfway leaves keys of both layouts, and the next open finishes the work.

use rocksdb::{WriteBatch, WriteOptions};

use super::keys::{self, CF_POSTINGS};
use super::store::{RocksStore, io};
use crate::error::Result;

/// Keys rewritten per synced write batch.
const MIGRATION_BATCH_KEYS: usize = 10_000;

/// Layout 1 to 2: every postings key gains the tier byte (raw) after the shard id. Returns the
/// number of keys rewritten.
pub(crate) fn tier_postings(store: &RocksStore) -> Result<u64> {
    let cf = store.cf(CF_POSTINGS);
    // The iterator reads a snapshot taken at its creation: the keys written meanwhile (all of
    // them sorting before the old ones of their shard) are not seen again.
    let mut it = store.db.raw_iterator_cf(cf);
    it.seek_to_first();
    let mut batch = WriteBatch::default();
    let (mut pending, mut total) = (0usize, 0u64);
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if keys::is_untiered_postings_key(k) {
            batch.put_cf(cf, keys::tiered_postings_key(k), v);
            batch.delete_cf(cf, k);
            pending += 1;
            total += 1;
            if pending >= MIGRATION_BATCH_KEYS {
                store
                    .db
                    .write_opt(std::mem::take(&mut batch), &opts)
                    .map_err(io(0))?;
                pending = 0;
            }
        }
        it.next();
    }
    it.status().map_err(io(0))?;
    if pending > 0 {
        store.db.write_opt(batch, &opts).map_err(io(0))?;
    }
    if total > 0 {
        tracing::info!(keys = total, "postings keys migrated to the tiered layout");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, SeriesRef, WriteBatch as Batch};
    use crate::engine::Engine;
    use crate::model::{Labels, Sample};
    use crate::options::EngineOptions;
    use crate::rocks::RocksEngine;

    const H: i64 = 3_600_000;

    /// Rewrites every postings key back to layout 1, as an earlier build wrote them.
    fn untier(store: &RocksStore) {
        let cf = store.cf(CF_POSTINGS);
        let mut all = Vec::new();
        let mut it = store.db.raw_iterator_cf(cf);
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            all.push((k.to_vec(), v.to_vec()));
            it.next();
        }
        let mut batch = WriteBatch::default();
        for (k, v) in all {
            let mut old = k[..4].to_vec();
            old.extend_from_slice(&k[5..]);
            batch.delete_cf(cf, &k);
            batch.put_cf(cf, old, v);
        }
        store.db.write(batch).unwrap();
    }

    #[test]
    fn an_untiered_directory_is_migrated_on_open_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions::default();
        let (digest, names) = {
            let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
            let mut index = 0;
            for i in 0..50 {
                index += 1;
                let labels = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
                let samples = (0..200)
                    .map(|k| Sample::new(k * 60_000, k as f64))
                    .collect();
                e.apply(
                    7,
                    index,
                    &Command::Write(Batch {
                        histograms: Vec::new(),
                        new_series: vec![labels],
                        samples: vec![(SeriesRef::New(0), samples)],
                    }),
                )
                .unwrap();
            }
            e.apply(
                7,
                index + 1,
                &Command::Seal {
                    partition_start_ms: 0,
                },
            )
            .unwrap();
            e.flush(7, b"m").unwrap();
            untier(&e.core.store);
            (
                e.digest(7).unwrap(),
                e.label_values(7, "i", &[], 0, 2 * H).unwrap(),
            )
        };
        let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(e.digest(7).unwrap(), digest);
        assert_eq!(e.label_values(7, "i", &[], 0, 2 * H).unwrap(), names);
        assert_eq!(
            e.label_values(7, "i", &[], 2 * H, 4 * H).unwrap().len(),
            50,
            "the open partition's postings were recovered"
        );
        // Nothing left to migrate: a second open rewrites nothing.
        assert_eq!(tier_postings(&e.core.store).unwrap(), 0);
    }
}
