//! The RocksDB [`Store`]: flushes as one synced write batch, reads chunks and sealed postings.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use rocksdb::{
    ColumnFamily, DB, DBRawIterator, ReadOptions, SnapshotWithThreadMode, WriteBatch, WriteOptions,
};

use super::keys::{
    self, CF_CHUNKS, CF_META, CF_POSTINGS, CF_SERIES, ShardMeta, TIER_HISTOGRAM, TIER_RAW,
};
use crate::chunk::ChunkTail;
use crate::error::{Error, Result};
use crate::model::{SeriesId, ShardId};
use crate::postings::{PartitionPostings, PostingsSource};
use crate::shard::{ExpiryFlush, FlushMeta, FlushSink, SealedPartition, Shard};
use crate::store::{ChunkReader, Store, StoredChunks};
use crate::tier::Tier;

/// A visitor of (key, value) pairs during a scan.
pub(crate) type KeyValueFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// One data RocksDB holding every shard of the node.
pub(crate) struct RocksStore {
    pub db: DB,
    /// What the instance's cache and memtables may hold (`/metrics`, `/api/v1/status/tsdb`).
    pub budget: super::MemoryBudget,
    /// Whether sealed partitions are written with shared time columns (`time_columns.rs`).
    pub shared_time_columns: std::sync::atomic::AtomicBool,
}

/// A RocksDB error as the engine's: a block whose checksum fails is corruption, the rest I/O.
pub(crate) fn io(shard: ShardId) -> impl Fn(rocksdb::Error) -> Error {
    move |e| match e.kind() {
        rocksdb::ErrorKind::Corruption => Error::Corrupt {
            shard,
            message: e.to_string(),
        },
        _ => Error::Io {
            shard,
            message: e.to_string(),
        },
    }
}

impl RocksStore {
    pub fn cf(&self, name: &str) -> &ColumnFamily {
        // Every column family is created at open; a missing one is a programming error that
        // `RocksEngine::open` already rejected.
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| unreachable!("column family {name} opened at start"))
    }

    /// Calls `f(key, value)` for every key of `cf` starting with `prefix`.
    pub fn scan_prefix(
        &self,
        shard: ShardId,
        cf: &str,
        prefix: &[u8],
        f: &mut KeyValueFn<'_>,
    ) -> Result<()> {
        let mut opts = ReadOptions::default();
        if let Some(upper) = prefix_successor(prefix) {
            opts.set_iterate_upper_bound(upper);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(cf), opts);
        it.seek(prefix);
        while it.valid() {
            match (it.key(), it.value()) {
                (Some(k), Some(v)) if k.starts_with(prefix) => f(k, v)?,
                _ => break,
            }
            it.next();
        }
        it.status().map_err(io(shard))
    }
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

pub(crate) fn bitmap(shard: ShardId, bytes: &[u8]) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| Error::Corrupt {
        shard,
        message: format!("postings bitmap: {e}"),
    })
}

impl Store for RocksStore {
    fn set_shared_time_columns(&self, on: bool) {
        self.shared_time_columns
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn durable(&self) -> bool {
        true
    }

    fn sealed_postings<'a>(
        &'a self,
        shard: ShardId,
        partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(RocksPostings {
            store: self,
            shard,
            tier: TIER_RAW,
            partition,
        })
    }

    fn tier_postings<'a>(
        &'a self,
        shard: ShardId,
        tier: Tier,
        partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(RocksPostings {
            store: self,
            shard,
            tier: tier.byte(),
            partition,
        })
    }

    fn chunk_reader<'a>(&'a self, shard: ShardId) -> Box<dyn ChunkReader + 'a> {
        Box::new(RocksChunkReader::new(self, shard))
    }

    fn write_flush(
        &self,
        shard: &Shard,
        sealed: &[SealedPartition],
        rollups: &crate::sharded::RollupFlush,
        sm_meta: &[u8],
    ) -> Result<()> {
        let mut sink = RocksSink {
            store: self,
            shard: shard.id,
            batch: WriteBatch::default(),
            min_t: shard.min_t,
            max_t: shard.max_t,
            scratch: Vec::new(),
            cut: Default::default(),
        };
        shard.collect_flush(&mut sink, sealed, rollups, sm_meta);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(sink.batch, &opts).map_err(io(shard.id))
    }

    fn partition_bytes(&self, shard: ShardId, tier: Tier, partition: i64) -> u64 {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = key_spaces(tier)
            .into_iter()
            .filter_map(|space| {
                let from = keys::chunk_partition_prefix(shard, space, partition);
                let to = prefix_successor(&from)?;
                Some((from, to))
            })
            .collect();
        let ranges: Vec<rocksdb::Range<'_>> = ranges
            .iter()
            .map(|(from, to)| rocksdb::Range::new(&from[..], &to[..]))
            .collect();
        self.db
            .get_approximate_sizes_cf(self.cf(CF_CHUNKS), &ranges)
            .iter()
            .sum()
    }

    fn compact(&self) -> Result<()> {
        for name in [CF_SERIES, CF_POSTINGS, CF_CHUNKS, CF_META] {
            let cf = self.cf(name);
            self.db.flush_cf(cf).map_err(io(0))?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    fn stats(&self) -> crate::engine::StoreStats {
        use rocksdb::properties as p;
        // A property RocksDB does not know reads as 0 rather than failing a scrape.
        let of_cf = |name: &str, property: &p::PropName| -> u64 {
            let cf = self.cf(name);
            let value = self.db.property_int_value_cf(cf, property);
            value.ok().flatten().unwrap_or(0)
        };
        let families = [CF_SERIES, CF_POSTINGS, CF_CHUNKS, CF_META];
        let per_cf = |property: &p::PropName| -> u64 {
            families.iter().map(|name| of_cf(name, property)).sum()
        };
        let db = |property: &p::PropName| -> u64 {
            self.db
                .property_int_value(property)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let memory = self.budget.usage();
        let sst_bytes_by_column_family: Vec<(&'static str, u64)> = families
            .iter()
            .map(|&name| (name, of_cf(name, p::LIVE_SST_FILES_SIZE)))
            .collect();
        crate::engine::StoreStats {
            memory_budget_bytes: memory.budget_bytes,
            block_cache_bytes: memory.cache_bytes,
            block_cache_pinned_bytes: memory.pinned_bytes,
            sst_bytes: sst_bytes_by_column_family.iter().map(|f| f.1).sum(),
            sst_bytes_by_column_family,
            memtable_bytes: per_cf(p::CUR_SIZE_ALL_MEM_TABLES),
            table_readers_bytes: per_cf(p::ESTIMATE_TABLE_READERS_MEM),
            pending_compaction_bytes: per_cf(p::ESTIMATE_PENDING_COMPACTION_BYTES),
            running_compactions: db(p::NUM_RUNNING_COMPACTIONS),
            running_flushes: db(p::NUM_RUNNING_FLUSHES),
            write_stopped: db(p::IS_WRITE_STOPPED) != 0,
            delayed_write_rate: db(p::ACTUAL_DELAYED_WRITE_RATE),
            background_errors: db(p::BACKGROUND_ERRORS),
            // Counted by the engine, which sees the reads (`Sharded::store_stats`).
            corruptions: 0,
            shared_time_columns: self
                .shared_time_columns
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// Iterators over the chunks column family, positioned by a seek per series and partition, kept
/// for the whole select: opening an iterator costs about as much as reading a short series.
struct RocksChunkReader<'a> {
    store: &'a RocksStore,
    shard: ShardId,
    /// One iterator per partition read (up to [`PARTITION_ITERATORS_MAX`]): series come in id
    /// order, so each partition's iterator only seeks forward, mostly within the data block it
    /// is on, where one iterator for all partitions jumped between them at every series and
    /// searched the index each time.
    by_partition: HashMap<i64, DBRawIterator<'a>>,
    /// Rollup windows, and partitions beyond the per-partition iterators.
    it: DBRawIterator<'a>,
    /// Shared time columns read so far.
    columns: super::time_columns::ColumnCache,
    /// What every iterator of this reader reads at, so that they agree with each other and
    /// with the heads snapshotted beside the reader, however late one is opened. Declared last:
    /// dropped after the iterators.
    snapshot: SnapshotWithThreadMode<'a, DB>,
}

/// Partitions a chunk reader keeps an iterator for (a day and a half of 2-hour partitions);
/// longer ranges share one iterator beyond that.
const PARTITION_ITERATORS_MAX: usize = 16;

impl<'a> RocksChunkReader<'a> {
    fn new(store: &'a RocksStore, shard: ShardId) -> Self {
        let snapshot = store.db.snapshot();
        let it = store
            .db
            .raw_iterator_cf_opt(store.cf(CF_CHUNKS), at_snapshot(&snapshot));
        RocksChunkReader {
            store,
            shard,
            by_partition: HashMap::new(),
            it,
            columns: Default::default(),
            snapshot,
        }
    }

    /// The iterator that reads partition `p`.
    fn iterator(&mut self, p: i64) -> &mut DBRawIterator<'a> {
        if self.by_partition.len() >= PARTITION_ITERATORS_MAX && !self.by_partition.contains_key(&p)
        {
            return &mut self.it;
        }
        let (store, snapshot) = (self.store, &self.snapshot);
        self.by_partition.entry(p).or_insert_with(|| {
            store
                .db
                .raw_iterator_cf_opt(store.cf(CF_CHUNKS), at_snapshot(snapshot))
        })
    }
}

/// Appends one series' chunks of one partition and key space (under `prefix`) that may
/// overlap `[mint_ms, maxt_ms]`: in-order ones with their starts, out-of-order ones with their
/// flush sequences.
fn series_chunks(
    it: &mut DBRawIterator<'_>,
    shard: ShardId,
    prefix: &[u8],
    mint_ms: i64,
    maxt_ms: i64,
    in_order: &mut Vec<(i64, Vec<u8>)>,
    ooo: &mut Vec<(u64, Vec<u8>)>,
) -> Result<()> {
    // The last in-order chunk seen, held back until the next one's start shows whether it
    // reaches the range: in-order chunks of a series never overlap, so a chunk ends before the
    // next one starts, and one followed by a start <= `mint_ms` holds nothing for the range
    // (an instant query then decodes one chunk, not all of them).
    let mut held: Option<(i64, Vec<u8>)> = None;
    it.seek(prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(prefix) {
            break;
        }
        let Some((start, seq)) = keys::parse_chunk_key(k) else {
            return Err(Error::Corrupt {
                shard,
                message: "malformed chunk key".into(),
            });
        };
        // Keys ascend by start; chunks starting after the range hold nothing for it.
        if start > maxt_ms {
            break;
        }
        match seq {
            None => {
                if let Some(prev) = held.take()
                    && start > mint_ms
                {
                    in_order.push(prev);
                }
                held = Some((start, v.to_vec()));
            }
            Some(seq) => ooo.push((seq, v.to_vec())),
        }
        it.next();
    }
    it.status().map_err(io(shard))?;
    in_order.extend(held);
    Ok(())
}

/// Read options at `snapshot` (which must outlive what reads with them).
fn at_snapshot(snapshot: &SnapshotWithThreadMode<'_, DB>) -> ReadOptions {
    let mut options = ReadOptions::default();
    options.set_snapshot(snapshot);
    options
}

impl ChunkReader for RocksChunkReader<'_> {
    fn read(
        &mut self,
        series: SeriesId,
        partitions: &[i64],
        mint_ms: i64,
        maxt_ms: i64,
        out: &mut StoredChunks,
    ) -> Result<()> {
        let shard = self.shard;
        for &p in partitions {
            let first = out.in_order.len();
            let prefix = keys::chunk_series_prefix(shard, TIER_RAW, p, series);
            let it = self.iterator(p);
            series_chunks(
                it,
                shard,
                &prefix,
                mint_ms,
                maxt_ms,
                &mut out.in_order,
                &mut out.ooo,
            )?;
            // Sealed chunks that name a shared time column, joined with it.
            let (store, snapshot) = (self.store, &self.snapshot);
            for (_, chunk) in &mut out.in_order[first..] {
                let fetch = |id: &[u8; 16]| {
                    let key = keys::time_column_key(shard, TIER_RAW, p, id);
                    store
                        .db
                        .get_cf_opt(store.cf(CF_CHUNKS), key, &at_snapshot(snapshot))
                        .map_err(io(shard))
                };
                *chunk = self
                    .columns
                    .resolve(shard, p, std::mem::take(chunk), fetch)?;
            }
        }
        Ok(())
    }

    fn read_histograms(
        &mut self,
        series: SeriesId,
        partitions: &[i64],
        mint_ms: i64,
        maxt_ms: i64,
        out: &mut StoredChunks,
    ) -> Result<()> {
        let shard = self.shard;
        for &p in partitions {
            // The shared iterator: the partitions' own stay in the float key space they walk.
            let prefix = keys::chunk_series_prefix(shard, TIER_HISTOGRAM, p, series);
            let (in_order, ooo) = (&mut out.histograms, &mut out.histograms_ooo);
            series_chunks(
                &mut self.it,
                shard,
                &prefix,
                mint_ms,
                maxt_ms,
                in_order,
                ooo,
            )?;
        }
        Ok(())
    }

    fn read_rollup(
        &mut self,
        series: SeriesId,
        tier: Tier,
        partition: i64,
        unit: i64,
    ) -> Result<Option<Vec<u8>>> {
        let key = keys::chunk_key(self.shard, tier.byte(), partition, series, unit, None);
        self.it.seek(&key);
        let found = match (self.it.key(), self.it.value()) {
            (Some(k), Some(v)) if k == key.as_slice() => Some(v.to_vec()),
            _ => None,
        };
        self.it.status().map_err(io(self.shard))?;
        Ok(found)
    }
}

/// Turns a shard's flush into one write batch.
struct RocksSink<'a> {
    store: &'a RocksStore,
    shard: ShardId,
    batch: WriteBatch,
    min_t: Option<i64>,
    max_t: Option<i64>,
    scratch: Vec<u8>,
    /// Re-encoded chunks the head cut, by partition.
    cut: std::collections::BTreeMap<i64, Vec<KeyedChunk>>,
}

/// A chunk's key and bytes.
type KeyedChunk = (Vec<u8>, Vec<u8>);

impl RocksSink<'_> {
    /// Puts sealed chunks of partition `p` (key and bytes), sharing their time parts when the
    /// store may (`time_columns.rs`).
    fn put_sealed(&mut self, p: i64, all: &[(Vec<u8>, impl AsRef<[u8]>)]) {
        let chunks = self.store.cf(CF_CHUNKS);
        let shared = self
            .store
            .shared_time_columns
            .load(std::sync::atomic::Ordering::Relaxed);
        let bytes: Vec<&[u8]> = all.iter().map(|(_, b)| b.as_ref()).collect();
        let stored = super::time_columns::stored_form(&bytes, shared);
        for (id, times) in &stored.columns {
            let key = keys::time_column_key(self.shard, TIER_RAW, p, id);
            self.batch.put_cf(chunks, key, times);
        }
        for ((key, _), bytes) in all.iter().zip(&stored.chunks) {
            self.batch.put_cf(chunks, key, bytes);
        }
    }
}

impl FlushSink for RocksSink<'_> {
    fn series(&mut self, id: SeriesId, hash: u64, canonical: &[u8]) {
        let series = self.store.cf(CF_SERIES);
        self.batch
            .put_cf(series, keys::series_hash_key(self.shard, hash, id), []);
        self.batch
            .put_cf(series, keys::series_labels_key(self.shard, id), canonical);
    }

    fn chunk(
        &mut self,
        partition: i64,
        id: SeriesId,
        start_ms: i64,
        ooo_seq: Option<u64>,
        chunk: ChunkTail<'_>,
    ) {
        let key = keys::chunk_key(self.shard, TIER_RAW, partition, id, start_ms, ooo_seq);
        let chunks = self.store.cf(CF_CHUNKS);
        if chunk.dropped == 0 && chunk.bytes.first() == Some(&crate::chunk::ENCODING_SEALED) {
            // A chunk the head cut, re-encoded: written with the others of its partition in
            // `chunks_done`, where they may share time columns.
            self.cut
                .entry(partition)
                .or_default()
                .push((key, chunk.bytes.to_vec()));
        } else if chunk.dropped == 0 {
            self.batch.put_cf(chunks, key, chunk.bytes);
        } else {
            self.batch.merge_cf(chunks, key, chunk.encode());
        }
    }

    fn histogram_chunk(
        &mut self,
        partition: i64,
        id: SeriesId,
        start_ms: i64,
        ooo_seq: Option<u64>,
        bytes: &[u8],
    ) {
        let key = keys::chunk_key(self.shard, TIER_HISTOGRAM, partition, id, start_ms, ooo_seq);
        self.batch.put_cf(self.store.cf(CF_CHUNKS), key, bytes);
    }

    fn histogram_last_t(&mut self, id: SeriesId, last_t: i64) {
        self.batch.put_cf(
            self.store.cf(CF_META),
            keys::histogram_state_key(self.shard, id),
            keys::time_be(last_t),
        );
    }

    fn chunks_done(&mut self) {
        for (p, cut) in std::mem::take(&mut self.cut) {
            self.put_sealed(p, &cut);
        }
    }

    fn sealed_partition(&mut self, sealed: &SealedPartition) {
        let chunks = self.store.cf(CF_CHUNKS);
        let p = sealed.partition;
        let from = keys::chunk_partition_prefix(self.shard, TIER_RAW, p);
        // The prefix holds the tier byte (< 0xff), so it always has a successor.
        if let Some(to) = prefix_successor(&from) {
            // One range delete per partition: every series with a chunk in it is in its
            // postings and so among `sealed.series`. Later puts in the batch win over it.
            self.batch.delete_range_cf(chunks, from, to);
        }
        let all: Vec<(Vec<u8>, &[u8])> = sealed
            .series
            .iter()
            .flat_map(|s| s.chunks.iter().map(|c| (s.id, c)))
            .map(|(id, c)| {
                let key = keys::chunk_key(self.shard, TIER_RAW, p, id, c.min_t, None);
                (key, &c.bytes[..])
            })
            .collect();
        self.put_sealed(p, &all);
    }

    fn last_t(&mut self, id: SeriesId, last_t: i64) {
        self.batch.put_cf(
            self.store.cf(CF_META),
            keys::series_state_key(self.shard, id),
            keys::time_be(last_t),
        );
    }

    fn postings(&mut self, partition: i64, name: &str, value: &str, bitmap: &RoaringBitmap) {
        self.scratch.clear();
        // Serializing into a Vec cannot fail.
        let _ = bitmap.serialize_into(&mut self.scratch);
        let key = keys::postings_key(self.shard, TIER_RAW, partition, name, value);
        self.batch
            .put_cf(self.store.cf(CF_POSTINGS), key, &self.scratch);
    }

    fn rollups(
        &mut self,
        computed: &crate::sharded::RollupFlush,
        records: &[crate::shard::RolledRecord<'_>],
    ) {
        let (chunks, postings, meta) = (
            self.store.cf(CF_CHUNKS),
            self.store.cf(CF_POSTINGS),
            self.store.cf(CF_META),
        );
        for u in &computed.units {
            let partition = u.tier.partition_of(u.unit);
            for (id, bytes) in &u.chunks {
                let key = keys::chunk_key(self.shard, u.tier.byte(), partition, *id, u.unit, None);
                match bytes {
                    Some(b) => self.batch.put_cf(chunks, key, b),
                    None => self.batch.delete_cf(chunks, key),
                }
            }
        }
        for p in &computed.postings {
            for (name, value, bm) in &p.keys {
                self.scratch.clear();
                let _ = bm.serialize_into(&mut self.scratch);
                let key = keys::postings_key(self.shard, p.tier.byte(), p.partition, name, value);
                self.batch.put_cf(postings, key, &self.scratch);
            }
        }
        for r in records {
            let key = keys::rolled_key(self.shard, r.tier.byte(), r.unit);
            match r.skip {
                Some(skip) => {
                    self.scratch.clear();
                    self.scratch.push(u8::from(r.pending));
                    let _ = skip.serialize_into(&mut self.scratch);
                    self.batch.put_cf(meta, key, &self.scratch);
                }
                None => self.batch.delete_cf(meta, key),
            }
        }
    }

    fn expiry(&mut self, e: &ExpiryFlush<'_>) {
        let (chunks, postings, meta) = (
            self.store.cf(CF_CHUNKS),
            self.store.cf(CF_POSTINGS),
            self.store.cf(CF_META),
        );
        for &(tier, p) in &e.dropped {
            for key_space in key_spaces(tier) {
                let from = keys::chunk_partition_prefix(self.shard, key_space, p);
                // The prefix holds the tier byte (< 0xff), so it always has a successor.
                if let Some(to) = prefix_successor(&from) {
                    self.batch.delete_range_cf(chunks, from, to);
                }
            }
            let from = keys::postings_partition_prefix(self.shard, tier.byte(), p);
            if let Some(to) = prefix_successor(&from) {
                self.batch.delete_range_cf(postings, from, to);
            }
            self.batch
                .delete_cf(meta, keys::expired_series_key(self.shard, tier.byte(), p));
        }
        for &(tier, p, ids) in &e.dropped_series {
            // One range delete per run of consecutive ids.
            for (lo, hi) in id_runs(ids) {
                for space in key_spaces(tier) {
                    let from = keys::chunk_series_prefix(self.shard, space, p, lo);
                    let to = match hi.checked_add(1) {
                        Some(next) => keys::chunk_series_prefix(self.shard, space, p, next),
                        None => {
                            prefix_successor(&keys::chunk_partition_prefix(self.shard, space, p))
                                .unwrap_or_default()
                        }
                    };
                    self.batch.delete_range_cf(chunks, from, to);
                }
            }
        }
        for &(tier, p, record) in &e.records {
            let key = keys::expired_series_key(self.shard, tier.byte(), p);
            match record {
                Some(bm) => {
                    self.scratch.clear();
                    let _ = bm.serialize_into(&mut self.scratch);
                    self.batch.put_cf(meta, key, &self.scratch);
                }
                None => self.batch.delete_cf(meta, key),
            }
        }
    }

    fn meta(&mut self, m: &FlushMeta<'_>) {
        if let Some(before) = m.expire_before_ms {
            // The horizon cuts the raw tier; rollups outlive raw data.
            let chunks = self.store.cf(CF_CHUNKS);
            for space in [TIER_RAW, TIER_HISTOGRAM] {
                let from = keys::chunk_series_prefix(self.shard, space, i64::MIN, 0);
                let to = keys::chunk_series_prefix(self.shard, space, before, 0);
                self.batch.delete_range_cf(chunks, from, to);
            }
            let from = keys::postings_partition_prefix(self.shard, TIER_RAW, i64::MIN);
            let to = keys::postings_partition_prefix(self.shard, TIER_RAW, before);
            self.batch
                .delete_range_cf(self.store.cf(CF_POSTINGS), from, to);
        }
        let record = ShardMeta {
            applied: m.applied,
            next_series_id: m.next_series_id,
            horizon_ms: m.horizon_ms,
            min_t: self.min_t,
            max_t: self.max_t,
            sealed: m.sealed.clone(),
            sm_meta: m.sm_meta.to_vec(),
            tombstones: m.tombstones.clone(),
            expired_whole: m
                .expired_whole
                .iter()
                .map(|(t, p)| (t.byte(), *p))
                .collect(),
        };
        self.batch.put_cf(
            self.store.cf(CF_META),
            keys::meta_shard_key(self.shard),
            record.encode(),
        );
    }
}

/// Runs of consecutive ids in `ids` as inclusive (first, last) pairs.
fn id_runs(ids: &RoaringBitmap) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for id in ids {
        match runs.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(id) => *hi = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

/// Postings of a partition no longer in memory (a sealed raw one, or a rollup tier's), read
/// from RocksDB on demand.
pub(crate) struct RocksPostings<'a> {
    pub store: &'a RocksStore,
    pub shard: ShardId,
    pub tier: u8,
    pub partition: i64,
}

impl PostingsSource for RocksPostings<'_> {
    fn all(&self) -> Result<RoaringBitmap> {
        self.get("", "")
    }

    fn get(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        let key = keys::postings_key(self.shard, self.tier, self.partition, name, value);
        match self
            .store
            .db
            .get_pinned_cf(self.store.cf(CF_POSTINGS), key)
            .map_err(io(self.shard))?
        {
            Some(v) => bitmap(self.shard, &v),
            None => Ok(RoaringBitmap::new()),
        }
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) -> Result<()> {
        let mut prefix = keys::postings_partition_prefix(self.shard, self.tier, self.partition);
        prefix.extend_from_slice(name.as_bytes());
        prefix.push(0xff);
        let shard = self.shard;
        self.store
            .scan_prefix(shard, CF_POSTINGS, &prefix, &mut |k, v| {
                let value =
                    std::str::from_utf8(&k[prefix.len()..]).map_err(|_| Error::Corrupt {
                        shard,
                        message: "postings value is not UTF-8".into(),
                    })?;
                f(value, &bitmap(shard, v)?);
                Ok(())
            })
    }

    fn names(&self) -> Result<Vec<String>> {
        let prefix = keys::postings_partition_prefix(self.shard, self.tier, self.partition);
        let mut names: Vec<String> = Vec::new();
        self.store
            .scan_prefix(self.shard, CF_POSTINGS, &prefix, &mut |k, _| {
                if let Some((_, _, name, _)) = keys::parse_postings_key(k)
                    && !name.is_empty()
                    && names.last().is_none_or(|l| l != name)
                {
                    names.push(name.to_string());
                }
                Ok(())
            })?;
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// Loads the postings of an open partition key by key into memory (recovery).
pub(crate) fn load_postings_entry(
    shard: ShardId,
    part: &mut PartitionPostings,
    name: &str,
    value: &str,
    v: &[u8],
) -> Result<()> {
    let bm = bitmap(shard, v)?;
    if name.is_empty() {
        part.all = bm;
    } else {
        part.by_label
            .entry(name.into())
            .or_default()
            .insert(value.into(), bm);
    }
    Ok(())
}

/// The chunk key spaces of `tier`: raw data is float and histogram chunks.
fn key_spaces(tier: Tier) -> Vec<u8> {
    match tier {
        Tier::Raw => vec![TIER_RAW, TIER_HISTOGRAM],
        other => vec![other.byte()],
    }
}
