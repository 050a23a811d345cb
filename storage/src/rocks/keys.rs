//! Key and value encodings of the RocksDB backend (layout in `layout.md`). Every key starts
//! with the big-endian shard id; signed times are stored with the sign bit flipped so that
//! big-endian byte order is numeric order.

use crate::error::{Error, Result};
use crate::model::{SeriesId, ShardId};
use crate::varint::{Reader, put_uvarint, put_varint};

/// Column family of the series registry.
pub const CF_SERIES: &str = "series";
/// Column family of postings.
pub const CF_POSTINGS: &str = "postings";
/// Column family of chunks.
pub const CF_CHUNKS: &str = "chunks";
/// Column family of shard metadata and per-series state.
pub const CF_META: &str = "meta";

/// Tier byte of raw chunks.
pub const TIER_RAW: u8 = 0;

/// The byte in a chunk key's tier position for raw native histogram chunks (`chunk/histogram.md`):
/// their own key space beside the raw float chunks, which a seal rewrites and histograms do
/// not take part in. They expire with raw data.
pub const TIER_HISTOGRAM: u8 = 0x10;

const SERIES_BY_HASH: u8 = 0;
const SERIES_LABELS: u8 = 1;
const META_SHARD: u8 = 0;
const META_SERIES_STATE: u8 = 1;
const META_EXPIRED_SERIES: u8 = 2;
const META_ROLLED: u8 = 3;
const META_HISTOGRAM_STATE: u8 = 4;
/// Version 4 says that chunks may carry tail records (merge operands, `chunk/xor.md`), which
/// builds before it cannot read: they refuse the store. Version 3 appends the partitions
/// dropped whole, version 2 the tombstones; versions 1 to 3 are still read.
const META_FORMAT_VERSION: u8 = 4;

/// Order-preserving encoding of a signed time.
pub fn time_be(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1u64 << 63)).to_be_bytes()
}

/// Inverse of [`time_be`].
pub fn time_from_be(b: &[u8]) -> Option<i64> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(a) ^ (1u64 << 63)) as i64)
}

fn u32_from_be(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// `shard | 0x00 | labels hash | id` (value empty): the hash index, collisions side by side.
pub fn series_hash_key(shard: ShardId, hash: u64, id: SeriesId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(SERIES_BY_HASH);
    k.extend_from_slice(&hash.to_be_bytes());
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of `shard | 0x01 | id -> canonical labels`.
pub fn series_labels_prefix(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(SERIES_LABELS);
    k
}

/// `shard | 0x01 | id`.
pub fn series_labels_key(shard: ShardId, id: SeriesId) -> Vec<u8> {
    let mut k = series_labels_prefix(shard);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The id in a `series_labels_key`.
pub fn series_id_of_labels_key(key: &[u8]) -> Option<SeriesId> {
    u32_from_be(key.get(5..)?)
}

/// Prefix of one partition's postings: `shard | tier | partition`.
pub fn postings_partition_prefix(shard: ShardId, tier: u8, partition: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(tier);
    k.extend_from_slice(&time_be(partition));
    k
}

/// `shard | tier | partition | name | 0xff | value` (name and value empty: every series).
pub fn postings_key(shard: ShardId, tier: u8, partition: i64, name: &str, value: &str) -> Vec<u8> {
    let mut k = postings_partition_prefix(shard, tier, partition);
    k.extend_from_slice(name.as_bytes());
    k.push(0xff);
    k.extend_from_slice(value.as_bytes());
    k
}

/// Splits a postings key into (tier, partition, name, value).
pub fn parse_postings_key(key: &[u8]) -> Option<(u8, i64, &str, &str)> {
    let tier = *key.get(4)?;
    let p = time_from_be(key.get(5..13)?)?;
    let rest = key.get(13..)?;
    let sep = rest.iter().position(|&b| b == 0xff)?;
    let name = std::str::from_utf8(&rest[..sep]).ok()?;
    let value = std::str::from_utf8(&rest[sep + 1..]).ok()?;
    Some((tier, p, name, value))
}

/// Whether `key` is a postings key of layout 1 (`shard | partition | name 0xff value`, before
/// postings carried the tier), which `migrate` rewrites. Its fifth byte is the first of an
/// order-preserving time, 0x03 or more for every time after about 285 million years BC; a
/// key of layout 2 has a tier byte (0 to 2) there.
pub fn is_untiered_postings_key(key: &[u8]) -> bool {
    key.len() >= 13 && key[4] >= 3
}

/// A layout 1 postings key in layout 2 (a raw tier byte after the shard).
pub fn tiered_postings_key(untiered: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(untiered.len() + 1);
    k.extend_from_slice(&untiered[..4]);
    k.push(TIER_RAW);
    k.extend_from_slice(&untiered[4..]);
    k
}

/// `shard | tier | partition`: the prefix of every chunk of one partition.
pub fn chunk_partition_prefix(shard: ShardId, tier: u8, partition: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(tier);
    k.extend_from_slice(&time_be(partition));
    k
}

/// `shard | tier | partition | id`: the prefix of one series' chunks in one partition.
pub fn chunk_series_prefix(shard: ShardId, tier: u8, partition: i64, id: SeriesId) -> Vec<u8> {
    let mut k = chunk_partition_prefix(shard, tier, partition);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `shard | tier | partition | id | start` for in-order chunks, followed by `| ooo_seq` (the
/// applied index of the flush that wrote it) for out-of-order chunks.
pub fn chunk_key(
    shard: ShardId,
    tier: u8,
    partition: i64,
    id: SeriesId,
    start_ms: i64,
    ooo_seq: Option<u64>,
) -> Vec<u8> {
    let mut k = chunk_series_prefix(shard, tier, partition, id);
    k.extend_from_slice(&time_be(start_ms));
    if let Some(seq) = ooo_seq {
        k.extend_from_slice(&seq.to_be_bytes());
    }
    k
}

/// Series id reserved in chunk keys for a partition's shared time columns (`time_columns.rs`):
/// no series gets it (a shard would need 2^32 - 1 series before).
pub const TIME_COLUMNS_SERIES: SeriesId = SeriesId::MAX;

/// `shard | tier | partition | TIME_COLUMNS_SERIES | column id`: a shared time column.
pub fn time_column_key(shard: ShardId, tier: u8, partition: i64, column: &[u8; 16]) -> Vec<u8> {
    let mut k = chunk_series_prefix(shard, tier, partition, TIME_COLUMNS_SERIES);
    k.extend_from_slice(column);
    k
}

/// Length of an in-order chunk key (an out-of-order key has 8 more bytes).
pub const CHUNK_KEY_LEN: usize = 4 + 1 + 8 + 4 + 8;

/// (start, ooo_seq) of a chunk key.
pub fn parse_chunk_key(key: &[u8]) -> Option<(i64, Option<u64>)> {
    let start = time_from_be(key.get(17..25)?)?;
    match key.len() {
        CHUNK_KEY_LEN => Some((start, None)),
        l if l == CHUNK_KEY_LEN + 8 => Some((
            start,
            Some(u64::from_be_bytes(key[25..33].try_into().ok()?)),
        )),
        _ => None,
    }
}

/// `shard | 0x00`: the shard's metadata record.
pub fn meta_shard_key(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(META_SHARD);
    k
}

/// The shard of a `meta_shard_key`, `None` for other meta keys.
pub fn shard_of_meta_key(key: &[u8]) -> Option<ShardId> {
    (key.len() == 5 && key[4] == META_SHARD)
        .then(|| u32_from_be(key))
        .flatten()
}

/// Prefix of `shard | 0x01 | id -> series state`.
pub fn series_state_prefix(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(META_SERIES_STATE);
    k
}

/// `shard | 0x01 | id`.
pub fn series_state_key(shard: ShardId, id: SeriesId) -> Vec<u8> {
    let mut k = series_state_prefix(shard);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of `shard | 0x04 | id -> largest in-order histogram timestamp` (time_be).
pub fn histogram_state_prefix(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(META_HISTOGRAM_STATE);
    k
}

/// `shard | 0x04 | id`: a series' histogram state.
pub fn histogram_state_key(shard: ShardId, id: SeriesId) -> Vec<u8> {
    let mut k = histogram_state_prefix(shard);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The id of a `series_state_key` or `histogram_state_key`.
pub fn series_id_of_state_key(key: &[u8]) -> Option<SeriesId> {
    u32_from_be(key.get(5..)?)
}

/// Prefix of `shard | 0x02 | tier | partition -> roaring bitmap`: the series retention dropped
/// from a partition that keeps others.
pub fn expired_series_prefix(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(META_EXPIRED_SERIES);
    k
}

/// `shard | 0x02 | tier | partition`.
pub fn expired_series_key(shard: ShardId, tier: u8, partition: i64) -> Vec<u8> {
    let mut k = expired_series_prefix(shard);
    k.push(tier);
    k.extend_from_slice(&time_be(partition));
    k
}

/// (tier, partition) of an `expired_series_key`.
pub fn parse_expired_series_key(key: &[u8]) -> Option<(u8, i64)> {
    (key.len() == 14).then_some(())?;
    Some((key[5], time_from_be(&key[6..])?))
}

/// Prefix of `shard | 0x03 | tier | unit -> roaring bitmap`: a day rolled up into a tier, with
/// the series it skips.
pub fn rolled_prefix(shard: ShardId) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(META_ROLLED);
    k
}

/// `shard | 0x03 | tier | unit`.
pub fn rolled_key(shard: ShardId, tier: u8, unit: i64) -> Vec<u8> {
    let mut k = rolled_prefix(shard);
    k.push(tier);
    k.extend_from_slice(&time_be(unit));
    k
}

/// The shard metadata record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardMeta {
    pub applied: u64,
    pub next_series_id: u32,
    pub horizon_ms: i64,
    pub min_t: Option<i64>,
    pub max_t: Option<i64>,
    pub sealed: Vec<i64>,
    pub sm_meta: Vec<u8>,
    /// Encoded tombstones (`Tombstones::encode`); empty in version 1 records.
    pub tombstones: Vec<u8>,
    /// (tier byte, partition) dropped whole above the horizon; empty before version 3.
    pub expired_whole: Vec<(u8, i64)>,
}

impl ShardMeta {
    /// `version:u8 applied:uvarint next_id:uvarint horizon:varint time_flags:u8 [min_t:varint
    /// max_t:varint] n_sealed:uvarint sealed:varint* sm_meta_len:uvarint sm_meta
    /// tombstones_len:uvarint tombstones n_whole:uvarint (tier:u8 partition:varint){n_whole}`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![META_FORMAT_VERSION];
        put_uvarint(&mut out, self.applied);
        put_uvarint(&mut out, u64::from(self.next_series_id));
        put_varint(&mut out, self.horizon_ms);
        match (self.min_t, self.max_t) {
            (Some(lo), Some(hi)) => {
                out.push(1);
                put_varint(&mut out, lo);
                put_varint(&mut out, hi);
            }
            _ => out.push(0),
        }
        put_uvarint(&mut out, self.sealed.len() as u64);
        for p in &self.sealed {
            put_varint(&mut out, *p);
        }
        put_uvarint(&mut out, self.sm_meta.len() as u64);
        out.extend_from_slice(&self.sm_meta);
        put_uvarint(&mut out, self.tombstones.len() as u64);
        out.extend_from_slice(&self.tombstones);
        put_uvarint(&mut out, self.expired_whole.len() as u64);
        for (tier, p) in &self.expired_whole {
            out.push(*tier);
            put_varint(&mut out, *p);
        }
        out
    }

    /// Decodes a record written by [`ShardMeta::encode`].
    pub fn decode(shard: ShardId, b: &[u8]) -> Result<Self> {
        let corrupt = |e: Error| Error::Corrupt {
            shard,
            message: format!("shard metadata: {e}"),
        };
        let mut r = Reader::new(b);
        let v = r.u8().map_err(corrupt)?;
        if !(1..=META_FORMAT_VERSION).contains(&v) {
            return Err(Error::Corrupt {
                shard,
                message: format!("unknown metadata version {v}"),
            });
        }
        let inner = |r: &mut Reader<'_>| -> Result<ShardMeta> {
            let applied = r.uvarint()?;
            let next = u32::try_from(r.uvarint()?)
                .map_err(|_| Error::Decode("next id overflows".into()))?;
            let horizon_ms = r.varint()?;
            let (min_t, max_t) = if r.u8()? == 1 {
                (Some(r.varint()?), Some(r.varint()?))
            } else {
                (None, None)
            };
            let n = r.len(1)?;
            let mut sealed = Vec::with_capacity(n);
            for _ in 0..n {
                sealed.push(r.varint()?);
            }
            let m = r.len(1)?;
            let sm_meta = r.bytes(m)?.to_vec();
            let tombstones = if v >= 2 {
                let k = r.len(1)?;
                r.bytes(k)?.to_vec()
            } else {
                Vec::new()
            };
            let mut expired_whole = Vec::new();
            if v >= 3 {
                let n = r.len(2)?;
                for _ in 0..n {
                    expired_whole.push((r.u8()?, r.varint()?));
                }
            }
            Ok(ShardMeta {
                applied,
                next_series_id: next,
                horizon_ms,
                min_t,
                max_t,
                sealed,
                sm_meta,
                tombstones,
                expired_whole,
            })
        };
        inner(&mut r).map_err(corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sort_as_bytes() {
        let ts = [i64::MIN, -7_200_000, -1, 0, 1, 7_200_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(time_be(w[0]) < time_be(w[1]));
            assert_eq!(time_from_be(&time_be(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn keys_parse_back() {
        let k = postings_key(3, 1, -7_200_000, "job", "a\u{e9}");
        assert_eq!(
            parse_postings_key(&k),
            Some((1, -7_200_000, "job", "a\u{e9}"))
        );
        assert_eq!(
            parse_postings_key(&postings_key(3, 0, 0, "", "")),
            Some((0, 0, "", ""))
        );
        assert!(!is_untiered_postings_key(&k));
        let mut old = 3u32.to_be_bytes().to_vec();
        old.extend_from_slice(&time_be(0));
        old.extend_from_slice(b"job\xffa");
        assert!(is_untiered_postings_key(&old));
        let mut old_negative = 3u32.to_be_bytes().to_vec();
        old_negative.extend_from_slice(&time_be(-7_200_000));
        old_negative.extend_from_slice(b"\xff");
        assert!(is_untiered_postings_key(&old_negative));
        let c = chunk_key(1, TIER_RAW, 0, 9, 15, None);
        assert_eq!(parse_chunk_key(&c), Some((15, None)));
        let o = chunk_key(1, TIER_RAW, 0, 9, -15, Some(77));
        assert_eq!(parse_chunk_key(&o), Some((-15, Some(77))));
        assert!(c.starts_with(&chunk_series_prefix(1, TIER_RAW, 0, 9)));
        assert!(c.starts_with(&chunk_partition_prefix(1, TIER_RAW, 0)));
        assert!(!c.starts_with(&chunk_partition_prefix(1, TIER_RAW, 1)));
        assert_eq!(shard_of_meta_key(&meta_shard_key(42)), Some(42));
        assert_eq!(shard_of_meta_key(&series_state_key(42, 1)), None);
        let e = expired_series_key(42, 1, -7_200_000);
        assert!(e.starts_with(&expired_series_prefix(42)));
        assert_eq!(parse_expired_series_key(&e), Some((1, -7_200_000)));
        assert_eq!(shard_of_meta_key(&e), None);
    }

    #[test]
    fn meta_round_trips_and_rejects_garbage() {
        let m = ShardMeta {
            applied: 99,
            next_series_id: 7,
            horizon_ms: -5,
            min_t: Some(1),
            max_t: Some(1000),
            sealed: vec![0, 7_200_000],
            sm_meta: b"raft".to_vec(),
            tombstones: vec![1, 2, 3],
            expired_whole: vec![(0, 7_200_000), (1, -86_400_000)],
        };
        let enc = m.encode();
        assert_eq!(ShardMeta::decode(0, &enc).unwrap(), m);
        for cut in 0..enc.len() {
            assert!(ShardMeta::decode(0, &enc[..cut]).is_err());
        }
    }
}
