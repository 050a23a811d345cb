//! `RocksEngine`: the durable [`Engine`](crate::Engine) on one data RocksDB per node holding
//! every shard (layout in `rocks/layout.md`). The head and its logic are shared with
//! `MemEngine`; this backend persists flushes and recovers the flushed state at open.

mod keys;
pub mod memory;
mod migrate;
mod snapshot;
mod store;
mod tails;
mod time_columns;

pub use tails::set_merge_operator as set_chunk_merge_operator;

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, DBCompressionType, Options};

use crate::error::{Error, Result};
use crate::head::HeadSeries;
use crate::model::ShardId;
use crate::options::EngineOptions;
use crate::shard::Shard;
use crate::sharded::{Sharded, delegate_engine};
use crate::tier::Tier;
use crate::tombstones::Tombstones;
use crate::varint::Reader;
use keys::{CF_CHUNKS, CF_META, CF_POSTINGS, CF_SERIES, ShardMeta};
use memory::MemoryBudget;
use store::{RocksStore, io};

/// The RocksDB-backed storage engine.
pub struct RocksEngine {
    core: Sharded<RocksStore>,
}

delegate_engine!(RocksEngine, core);

/// Bytes RocksDB allocates on disk ahead of its MANIFEST's writes. Its default, 4 MiB, is
/// allocated at once by every instance (the data store and the Raft log: 8 MiB of an empty
/// node's data directory, more than half of it with a 10k x 6 h dataset); a MANIFEST takes a
/// few hundred bytes per flush or compaction, so this still covers many between two
/// allocations.
pub const MANIFEST_PREALLOCATION_BYTES: usize = 256 << 10;

/// File options every RocksDB instance of a node shares (the data store here, the Raft log in
/// the node).
pub fn set_file_options(opts: &mut Options) {
    opts.set_manifest_preallocation_size(MANIFEST_PREALLOCATION_BYTES);
}

impl RocksEngine {
    /// [`RocksEngine::open_with_budget`] with a budget of
    /// [`RocksEngine::MEMORY_BUDGET_BYTES_DEFAULT`].
    pub fn open(path: impl AsRef<Path>, opts: EngineOptions) -> Result<Self> {
        let budget = MemoryBudget::new(Self::MEMORY_BUDGET_BYTES_DEFAULT);
        Self::open_with_budget(path, opts, budget)
    }

    /// The memory budget of [`RocksEngine::open`].
    pub const MEMORY_BUDGET_BYTES_DEFAULT: usize = 64 << 20;

    /// Opens (or creates) the data RocksDB at `path`, its block cache, memtables and index
    /// blocks within `budget`, and recovers every shard in it: registry, next series id,
    /// postings of open partitions, sealed partitions, expiry horizon, and applied index :=
    /// flushed index. The head starts empty: the caller replays each shard's log from its
    /// flushed index.
    pub fn open_with_budget(
        path: impl AsRef<Path>,
        opts: EngineOptions,
        budget: MemoryBudget,
    ) -> Result<Self> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        budget.apply_to_db(&mut db_opts);
        set_file_options(&mut db_opts);
        let cf = |name: &str, compression: DBCompressionType| {
            let mut o = Options::default();
            budget.apply_to_cf(&mut o);
            o.set_compression_type(compression);
            if name == CF_CHUNKS {
                tails::set_merge_operator(&mut o);
            }
            ColumnFamilyDescriptor::new(name, o)
        };
        let cfs = vec![
            cf(CF_SERIES, DBCompressionType::Lz4),
            cf(CF_POSTINGS, DBCompressionType::Lz4),
            // Chunks are already compressed; LZ4 only costs CPU there.
            cf(CF_CHUNKS, DBCompressionType::None),
            cf(CF_META, DBCompressionType::None),
        ];
        let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(io(0))?;
        let store = RocksStore {
            db,
            budget,
            shared_time_columns: Default::default(),
        };
        migrate::tier_postings(&store)?;
        let mut shards: Vec<(ShardId, ShardMeta)> = Vec::new();
        store.scan_prefix(0, CF_META, &[], &mut |k, v| {
            if let Some(shard) = keys::shard_of_meta_key(k) {
                shards.push((shard, ShardMeta::decode(shard, v)?));
            }
            Ok(())
        })?;
        let engine = RocksEngine {
            core: Sharded::new(opts, store),
        };
        for (id, meta) in shards {
            let shard = engine.recover_shard(id, meta)?;
            engine.core.insert_shard(shard);
        }
        Ok(engine)
    }

    fn recover_shard(&self, id: ShardId, meta: ShardMeta) -> Result<Shard> {
        let store = &self.core.store;
        let mut shard = Shard::new(id, self.core.opts.clone());
        shard.applied = meta.applied;
        shard.horizon_ms = meta.horizon_ms;
        shard.persisted_horizon_ms = meta.horizon_ms;
        shard.sealed = meta.sealed.iter().copied().collect();
        shard.min_t = meta.min_t;
        shard.max_t = meta.max_t;
        for &(b, p) in &meta.expired_whole {
            let tier = Tier::from_byte(b).ok_or_else(|| Error::Corrupt {
                shard: id,
                message: format!("unknown tier {b} in shard metadata"),
            })?;
            shard.expired.whole.insert((tier, p));
        }
        let expired = &mut shard.expired.series;
        store.scan_prefix(
            id,
            CF_META,
            &keys::expired_series_prefix(id),
            &mut |k, v| {
                let key = keys::parse_expired_series_key(k)
                    .and_then(|(b, p)| Some((Tier::from_byte(b)?, p)))
                    .ok_or_else(|| Error::Corrupt {
                        shard: id,
                        message: "malformed expired-series key".into(),
                    })?;
                expired.insert(key, store::bitmap(id, v)?);
                Ok(())
            },
        )?;
        let mut rolled = Vec::new();
        store.scan_prefix(id, CF_META, &keys::rolled_prefix(id), &mut |k, v| {
            // Same shape as an expired-series key: shard, kind, tier, time.
            let key = keys::parse_expired_series_key(k)
                .and_then(|(b, u)| Some((Tier::from_byte(b)?, u)))
                .filter(|_| v.len() > 1 && v[0] <= 1)
                .ok_or_else(|| Error::Corrupt {
                    shard: id,
                    message: "malformed rolled-day record".into(),
                })?;
            rolled.push((key, v[0] == 1, store::bitmap(id, &v[1..])?));
            Ok(())
        })?;
        for ((tier, unit), pending, skip) in rolled {
            shard.rollups.rolled.insert((tier, unit), skip);
            if pending {
                shard.mark_pending(tier, unit);
            }
        }
        shard.rollups.dirty.clear();
        if !meta.tombstones.is_empty() {
            shard.tombstones =
                Tombstones::decode(&mut Reader::new(&meta.tombstones)).map_err(|e| {
                    Error::Corrupt {
                        shard: id,
                        message: format!("tombstones: {e}"),
                    }
                })?;
        }
        let registry = &mut shard.registry;
        store.scan_prefix(
            id,
            CF_SERIES,
            &keys::series_labels_prefix(id),
            &mut |k, v| {
                let sid = keys::series_id_of_labels_key(k).ok_or_else(|| Error::Corrupt {
                    shard: id,
                    message: "malformed series key".into(),
                })?;
                registry.push_recovered(id, sid, v)
            },
        )?;
        if shard.registry.len() != meta.next_series_id {
            return Err(Error::Corrupt {
                shard: id,
                message: format!(
                    "{} series stored but next id is {}",
                    shard.registry.len(),
                    meta.next_series_id
                ),
            });
        }
        shard.persisted_series = shard.registry.len();
        shard.heads = vec![HeadSeries::default(); shard.registry.len() as usize];
        let heads = &mut shard.heads;
        store.scan_prefix(id, CF_META, &keys::series_state_prefix(id), &mut |k, v| {
            let sid = keys::series_id_of_state_key(k);
            let last_t = keys::time_from_be(v);
            match (sid.and_then(|s| heads.get_mut(s as usize)), last_t) {
                (Some(h), Some(t)) => {
                    h.last_t = t;
                    Ok(())
                }
                _ => Err(Error::Corrupt {
                    shard: id,
                    message: "malformed series state".into(),
                }),
            }
        })?;
        let histograms = &mut shard.histograms;
        let state = keys::histogram_state_prefix(id);
        store.scan_prefix(id, CF_META, &state, &mut |k, v| match (
            keys::series_id_of_state_key(k),
            keys::time_from_be(v),
        ) {
            (Some(sid), Some(t)) => {
                histograms.insert(
                    sid,
                    crate::head::HistogramHead {
                        last_t: t,
                        ..Default::default()
                    },
                );
                Ok(())
            }
            _ => Err(Error::Corrupt {
                shard: id,
                message: "malformed histogram series state".into(),
            }),
        })?;
        let (sealed, horizon, whole) = (&shard.sealed, shard.horizon_ms, &shard.expired.whole);
        let partitions = &mut shard.partitions;
        let raw_prefix = keys::postings_partition_prefix(id, keys::TIER_RAW, i64::MIN);
        store.scan_prefix(id, CF_POSTINGS, &raw_prefix[..5], &mut |k, v| {
            let (_, p, name, value) =
                keys::parse_postings_key(k).ok_or_else(|| Error::Corrupt {
                    shard: id,
                    message: "malformed postings key".into(),
                })?;
            if p < horizon || sealed.contains(&p) || whole.contains(&(Tier::Raw, p)) {
                return Ok(());
            }
            let part = partitions.entry(p).or_default();
            store::load_postings_entry(id, part, name, value, v)
        })?;
        shard.flushed = Some((meta.applied, meta.sm_meta));
        Ok(shard)
    }

    /// Approximate bytes of memory held for `shard` (registry, postings, head): the figure
    /// the per-series memory budget is measured with.
    pub fn memory_bytes(&self, shard: ShardId) -> u64 {
        self.core.memory_bytes(shard)
    }

    /// [`RocksEngine::memory_bytes`] by component.
    pub fn memory_breakdown(&self, shard: ShardId) -> crate::MemoryBreakdown {
        self.core.memory_breakdown(shard)
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.core.opts
    }

    fn export_shard_impl(
        &self,
        shard: ShardId,
        out: &mut dyn std::io::Write,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        snapshot::export(&self.core.store, shard, out)
    }

    fn drop_shard_impl(&self, shard: ShardId) -> Result<()> {
        self.core
            .remove_shard(shard, || snapshot::clear(&self.core.store, shard))
    }

    fn import_shard_impl(
        &self,
        shard: ShardId,
        input: &mut dyn std::io::Read,
    ) -> Result<(u64, Vec<u8>)> {
        // Under the shard's write lock: no read sees the old head over the new store.
        let mut flushed = (0, Vec::new());
        self.core.replace_shard(shard, || {
            let meta = snapshot::import(&self.core.store, shard, input)?;
            flushed = (meta.applied, meta.sm_meta.clone());
            self.recover_shard(shard, meta)
        })?;
        Ok(flushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, SeriesRef, WriteBatch};
    use crate::engine::Engine;
    use crate::model::{Labels, Sample};
    use crate::sharded::{RollupFlush, write};
    use crate::store::Store;
    use crate::tier::ROLLUP_UNIT_MS;

    /// A `RollUp` applied while a flush computed (so that flush wrote no windows for it, yet
    /// persisted an applied index past it) is pending again after a restart.
    #[test]
    fn a_rollup_the_flush_did_not_compute_is_pending_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let day = 10 * ROLLUP_UNIT_MS;
        let samples: Vec<Sample> = (0..2 * 1440)
            .map(|i| Sample::new(day + i * 60_000, i as f64))
            .collect();
        {
            let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
            e.apply(
                1,
                1,
                &Command::Write(WriteBatch {
                    histograms: Vec::new(),
                    new_series: vec![Labels::from_pairs(&[("__name__", "c")])],
                    samples: vec![(SeriesRef::New(0), samples)],
                }),
            )
            .unwrap();
            e.flush(1, b"m").unwrap();
            e.apply(
                1,
                2,
                &Command::RollUp {
                    tier: Tier::Rollup1h,
                    unit_start_ms: day,
                    skip: vec![],
                },
            )
            .unwrap();
            // The flush's write, as if its computation started before the RollUp applied.
            let cell = e.core.shard(1).unwrap();
            let mut st = write(&cell);
            e.core
                .store
                .write_flush(&st, &[], &RollupFlush::default(), b"m")
                .unwrap();
            st.finish_rollups(RollupFlush::default(), true);
            st.finish_flush(b"m", true, Vec::new());
        }
        let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
        assert_eq!(e.applied_index(1), 2, "the flush covered the RollUp");
        assert_eq!(e.rolled_units(1, Tier::Rollup1h), vec![day]);
        let got = e
            .select_windows(1, Tier::Rollup1h, &[], day, day + ROLLUP_UNIT_MS)
            .unwrap();
        assert_eq!(
            got[0].windows.len(),
            24,
            "computed from the raw data: still pending"
        );
        e.flush(1, b"m").unwrap();
        let again = e
            .select_windows(1, Tier::Rollup1h, &[], day, day + ROLLUP_UNIT_MS)
            .unwrap();
        assert_eq!(again, got);
    }

    /// A chunk whose bytes are not what was written (RocksDB's checksum is fine: the value
    /// itself was overwritten) fails the read that meets it, which is counted, instead of
    /// answering wrong samples.
    #[test]
    fn a_corrupt_chunk_fails_the_read_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let samples: Vec<Sample> = (0..500).map(|i| Sample::new(i * 1_000, i as f64)).collect();
        {
            let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
            e.apply(
                1,
                1,
                &Command::Write(WriteBatch {
                    histograms: Vec::new(),
                    new_series: vec![Labels::from_pairs(&[("__name__", "c")])],
                    samples: vec![(SeriesRef::New(0), samples)],
                }),
            )
            .unwrap();
            e.flush(1, b"m").unwrap();
            let store = &e.core.store;
            let cf = store.cf(CF_CHUNKS);
            let keys: Vec<Box<[u8]>> = store
                .db
                .iterator_cf(cf, rocksdb::IteratorMode::Start)
                .map(|kv| kv.unwrap().0)
                .collect();
            assert!(!keys.is_empty(), "the flush stored chunks");
            for k in keys {
                store.db.put_cf(cf, k, b"\xfe\x00 not a chunk").unwrap();
            }
        }
        // Reopened, the head is empty: the samples come from the stored chunks.
        let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
        assert_eq!(e.store_stats().corruptions, 0);
        let matchers = [crate::model::Matcher::equal("__name__", "c")];
        let err = e
            .select(1, &matchers, 0, i64::MAX)
            .unwrap()
            .find_map(|r| r.err())
            .expect("a read of a corrupt chunk fails");
        assert!(err.is_corruption(), "{err}");
        assert!(
            err.to_string().starts_with("corrupt data on shard 1"),
            "{err}"
        );
        assert_eq!(e.store_stats().corruptions, 1);
    }

    /// Chunks cut in an open partition are stored re-encoded by the flush after the cut
    /// (`shard/recode.rs`), whether the head held them whole or only their tail (the front
    /// stored while the chunk was open); the open chunk stays XOR. Reads see the same samples
    /// before and after each flush, after a reopen and once the partition is sealed.
    #[test]
    fn cut_chunks_of_an_open_partition_are_stored_re_encoded() {
        use crate::chunk::{ENCODING_SEALED, ENCODING_XOR};
        let dir = tempfile::tempdir().unwrap();
        let opts = EngineOptions::default();
        let p = 100 * opts.partition_ms;
        let samples: Vec<Sample> = (0..420)
            .map(|i| Sample::new(p + i * 15_000 + (i * 7) % 5, (i * 37 % 1000) as f64 / 100.0))
            .collect();
        let matchers = [crate::model::Matcher::equal("__name__", "c")];
        let read_all = |e: &RocksEngine| -> Vec<Sample> {
            let mut got: Vec<_> = e.select(1, &matchers, 0, i64::MAX).unwrap().collect();
            assert_eq!(got.len(), 1);
            got.remove(0).unwrap().samples
        };
        let stored = |e: &RocksEngine| -> Vec<u8> {
            let mut out = crate::store::StoredChunks::default();
            let mut r = e.core.store.chunk_reader(1);
            r.read(0, &[p], i64::MIN, i64::MAX, &mut out).unwrap();
            assert!(out.ooo.is_empty());
            out.in_order.iter().map(|(_, b)| b[0]).collect()
        };
        let write_some = |e: &RocksEngine, index: u64, from: usize, to: usize| {
            let series = if from == 0 {
                SeriesRef::New(0)
            } else {
                SeriesRef::Id(0)
            };
            let new_series = if from == 0 {
                vec![Labels::from_pairs(&[("__name__", "c")])]
            } else {
                vec![]
            };
            e.apply(
                1,
                index,
                &Command::Write(WriteBatch {
                    histograms: Vec::new(),
                    new_series,
                    samples: vec![(series, samples[from..to].to_vec())],
                }),
            )
            .unwrap();
        };
        {
            let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
            write_some(&e, 1, 0, 50);
            e.flush(1, b"m").unwrap();
            assert_eq!(stored(&e), [ENCODING_XOR], "the open chunk's front");
            // The first chunk is cut at 120 with its front stored, the second whole in the
            // head; the third is open.
            write_some(&e, 2, 50, 300);
            assert_eq!(read_all(&e), samples[..300]);
            e.flush(1, b"m").unwrap();
            assert_eq!(stored(&e), [ENCODING_SEALED, ENCODING_SEALED, ENCODING_XOR]);
            assert_eq!(read_all(&e), samples[..300]);
            // The open chunk is flushed again while it grows, then cut.
            write_some(&e, 3, 300, 330);
            e.flush(1, b"m").unwrap();
            write_some(&e, 4, 330, 420);
            e.flush(1, b"m").unwrap();
            assert_eq!(
                stored(&e),
                [
                    ENCODING_SEALED,
                    ENCODING_SEALED,
                    ENCODING_SEALED,
                    ENCODING_XOR
                ]
            );
            assert_eq!(read_all(&e), samples);
        }
        let e = RocksEngine::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(read_all(&e), samples, "reopened");
        // A replica that kept XOR chunks (the in-memory engine does not re-encode) holds the
        // same samples, and its digest says so.
        let mem = crate::MemEngine::new(opts);
        mem.apply(
            1,
            1,
            &Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![Labels::from_pairs(&[("__name__", "c")])],
                samples: vec![(SeriesRef::New(0), samples.clone())],
            }),
        )
        .unwrap();
        assert_eq!(e.digest(1).unwrap(), mem.digest(1).unwrap());
        e.apply(
            1,
            5,
            &Command::Seal {
                partition_start_ms: p,
            },
        )
        .unwrap();
        e.flush(1, b"m").unwrap();
        assert_eq!(
            stored(&e),
            [ENCODING_SEALED],
            "one chunk for the sealed partition"
        );
        assert_eq!(read_all(&e), samples, "sealed");
    }

    /// The MANIFEST of a data store takes [`MANIFEST_PREALLOCATION_BYTES`] of disk, not
    /// RocksDB's default 4 MiB (blocks allocated, as `du` counts them).
    #[test]
    fn the_manifest_is_preallocated_small() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
        e.flush(1, b"m").unwrap();
        let manifests: Vec<u64> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap())
            .filter(|f| f.file_name().to_string_lossy().starts_with("MANIFEST-"))
            .map(|f| f.metadata().unwrap().blocks() * 512)
            .collect();
        assert_eq!(manifests.len(), 1);
        // RocksDB's default would be 4 MiB.
        assert!(
            manifests[0] <= 256 << 10,
            "{} bytes allocated",
            manifests[0]
        );
    }

    /// Replicas compare digests: a shard one replica never created (nothing applied, never
    /// flushed) and one another flushed empty and reopened hold the same, and say so.
    #[test]
    fn an_empty_shard_digests_alike_created_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let never = {
            let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
            let never = e.digest(2).unwrap();
            e.flush(2, b"m").unwrap();
            assert_eq!(e.digest(2).unwrap(), never, "flushed empty");
            never
        };
        let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
        assert_eq!(e.digest(2).unwrap(), never, "reopened");
    }
}
