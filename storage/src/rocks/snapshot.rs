//! Shard snapshots: a shard's flushed state as one byte stream, so that a new or lagging
//! replica can take it from another node (format in `layout.md`, "Shard snapshot").
//!
//! Export reads a RocksDB snapshot, so it sees exactly one flush (every flush is one atomic
//! write batch, shard record included). Import checks the whole stream (shard prefix of every
//! key, one shard record, checksum) before it writes anything, then replaces the shard's key
//! range in one synced write batch: a crash leaves either the old shard or the new one.

use std::io::{Read, Write};

use rocksdb::{ReadOptions, WriteBatch, WriteOptions};

use super::keys::{self, CF_CHUNKS, CF_META, CF_POSTINGS, CF_SERIES, ShardMeta};
use super::store::{RocksStore, io, prefix_successor};
use crate::error::Result;
use crate::model::ShardId;
use crate::snapshot_stream::{self, Version, Writer, corrupt};

/// Column families in the order of their index in a record.
const CFS: [&str; 4] = [CF_SERIES, CF_POSTINGS, CF_CHUNKS, CF_META];

/// What a snapshot holds: the flushed index and `sm_meta` of its shard record.
pub(crate) type FlushedState = (u64, Vec<u8>);

/// Writes the flushed state of `shard` to `out`; `None` (and nothing written) when the shard
/// was never flushed.
pub(crate) fn export(
    store: &RocksStore,
    shard: ShardId,
    out: &mut dyn Write,
) -> Result<Option<FlushedState>> {
    let snap = store.db.snapshot();
    let record = snap
        .get_cf(store.cf(CF_META), keys::meta_shard_key(shard))
        .map_err(io(shard))?;
    let Some(record) = record else {
        return Ok(None);
    };
    let meta = ShardMeta::decode(shard, &record)?;
    let prefix = shard.to_be_bytes();
    let mut w = Writer::new(out, shard)?;
    for (i, name) in CFS.iter().enumerate() {
        let mut opts = ReadOptions::default();
        if let Some(upper) = prefix_successor(&prefix) {
            opts.set_iterate_upper_bound(upper);
        }
        let mut it = snap.raw_iterator_cf_opt(store.cf(name), opts);
        it.seek(prefix);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !k.starts_with(&prefix) {
                break;
            }
            w.record(i as u8, k, v)?;
            it.next();
        }
        it.status().map_err(io(shard))?;
    }
    w.finish()?;
    Ok(Some((meta.applied, meta.sm_meta)))
}

/// Replaces everything stored for `shard` with the snapshot read from `input` and returns its
/// shard record. Nothing is written unless the whole stream checks out.
pub(crate) fn import(
    store: &RocksStore,
    shard: ShardId,
    input: &mut dyn Read,
) -> Result<ShardMeta> {
    let mut batch = WriteBatch::default();
    delete_shard_keys(store, shard, &mut batch);
    let record_key = keys::meta_shard_key(shard);
    let mut record: Option<ShardMeta> = None;
    let mut untiered_postings = Vec::new();
    let version = snapshot_stream::read(shard, input, |cf, key, value| {
        let name = CFS[usize::from(cf)];
        if name == CF_META && key == record_key {
            record = Some(ShardMeta::decode(shard, &value)?);
        }
        if name == CF_POSTINGS && keys::is_untiered_postings_key(&key) {
            // Migrated once the version is known (the stream's end says it is checked).
            untiered_postings.push((key, value));
            return Ok(());
        }
        batch.put_cf(store.cf(name), key, value);
        Ok(())
    })?;
    // Version 1 snapshots come from builds whose postings keys had no tier byte: they are
    // migrated as they are imported.
    for (key, value) in untiered_postings {
        let key = match version {
            Version::V1 => keys::tiered_postings_key(&key),
            Version::V2 => key,
        };
        batch.put_cf(store.cf(CF_POSTINGS), key, value);
    }
    let record = record.ok_or_else(|| corrupt(shard, "no shard record"))?;
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    store.db.write_opt(batch, &opts).map_err(io(shard))?;
    Ok(record)
}

/// Adds to `batch` the deletion of every key of `shard`, in every column family.
fn delete_shard_keys(store: &RocksStore, shard: ShardId, batch: &mut WriteBatch) {
    let prefix = shard.to_be_bytes();
    let upper = prefix_successor(&prefix).unwrap_or_else(|| vec![0xff; 8]);
    for name in CFS {
        batch.delete_range_cf(store.cf(name), &prefix[..], &upper[..]);
    }
}

/// Deletes everything stored for `shard` in one synced write: afterwards the shard was never
/// flushed.
pub(crate) fn clear(store: &RocksStore, shard: ShardId) -> Result<()> {
    let mut batch = WriteBatch::default();
    delete_shard_keys(store, shard, &mut batch);
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    store.db.write_opt(batch, &opts).map_err(io(shard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, SeriesRef, WriteBatch as Batch};
    use crate::engine::Engine;
    use crate::model::{Labels, Sample};
    use crate::options::EngineOptions;
    use crate::rocks::RocksEngine;
    use crate::snapshot_stream::{END, MAGIC_V1};
    use crate::varint::Reader;

    /// A version 1 snapshot of what `v2` holds, as an earlier build wrote it: its postings keys
    /// without the tier byte.
    fn as_version_1(v2: &[u8]) -> Vec<u8> {
        let mut out = MAGIC_V1.to_vec();
        let mut r = Reader::new(&v2[8..]);
        out.extend_from_slice(r.bytes(4).unwrap());
        loop {
            let cf = r.u8().unwrap();
            if cf == END {
                break;
            }
            let n = r.uvarint().unwrap() as usize;
            let mut key = r.bytes(n).unwrap().to_vec();
            let m = r.uvarint().unwrap() as usize;
            let value = r.bytes(m).unwrap();
            if CFS[usize::from(cf)] == CF_POSTINGS {
                key.remove(4);
            }
            out.push(cf);
            crate::varint::put_uvarint(&mut out, key.len() as u64);
            out.extend_from_slice(&key);
            crate::varint::put_uvarint(&mut out, value.len() as u64);
            out.extend_from_slice(value);
        }
        out.push(END);
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    #[test]
    fn a_version_1_snapshot_is_imported_with_its_postings_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let a = RocksEngine::open(dir.path().join("a"), EngineOptions::default()).unwrap();
        for i in 0..10u32 {
            let labels = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            a.apply(
                2,
                u64::from(i) + 1,
                &Command::Write(Batch {
                    histograms: Vec::new(),
                    new_series: vec![labels],
                    samples: vec![(SeriesRef::New(0), vec![Sample::new(1000, 1.0)])],
                }),
            )
            .unwrap();
        }
        a.flush(2, b"m").unwrap();
        let mut v2 = Vec::new();
        a.export_shard(2, &mut v2).unwrap();
        let b = RocksEngine::open(dir.path().join("b"), EngineOptions::default()).unwrap();
        b.import_shard(2, &mut &as_version_1(&v2)[..]).unwrap();
        assert_eq!(b.digest(2).unwrap(), a.digest(2).unwrap());
        assert_eq!(
            b.label_values(2, "i", &[], 0, 2000).unwrap(),
            a.label_values(2, "i", &[], 0, 2000).unwrap()
        );
        let c = RocksEngine::open(dir.path().join("c"), EngineOptions::default()).unwrap();
        c.import_shard(2, &mut &v2[..]).unwrap();
        assert_eq!(c.digest(2).unwrap(), a.digest(2).unwrap());
    }
}
