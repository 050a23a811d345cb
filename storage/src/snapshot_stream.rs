//! The byte stream of a shard snapshot, written and read without a database (layout in
//! `rocks/layout.md`, "Shard snapshot"): a magic with the format version, the shard, records of
//! (column family, key, value), an end mark and the xxh3 checksum of every byte before it.
//! `rocks/snapshot.rs` fills it from a RocksDB snapshot and installs what it reads; the fuzz
//! target `snapshot_decode` feeds it corrupted bytes.

use std::io::{Read, Write};

use crate::error::{Error, Result};
use crate::model::ShardId;

/// First bytes of a shard snapshot; the last byte is the format version.
pub const MAGIC: &[u8; 8] = b"TMSHARD2";
/// Snapshots of layout 1 (postings keys without a tier byte), still read.
pub const MAGIC_V1: &[u8; 8] = b"TMSHARD1";
/// Column families a record may name (0 = series, 1 = postings, 2 = chunks, 3 = meta).
pub const COLUMN_FAMILIES: u8 = 4;
/// Marks the end of the records.
pub const END: u8 = 0xff;
/// Largest key accepted, in bytes.
pub const MAX_KEY_BYTES: u64 = 64 * 1024;
/// Largest value accepted (a sealed chunk of 2^20 samples is far smaller), in bytes.
pub const MAX_VALUE_BYTES: u64 = 256 * 1024 * 1024;

/// The format of a stream read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Layout 1: postings keys without a tier byte.
    V1,
    /// Layout 2.
    V2,
}

/// A snapshot error naming `shard`: corrupt data.
pub(crate) fn corrupt(shard: ShardId, message: impl Into<String>) -> Error {
    Error::Corrupt {
        shard,
        message: format!("shard snapshot: {}", message.into()),
    }
}

/// Writes a snapshot stream of one shard, record by record.
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    hash: xxhash_rust::xxh3::Xxh3,
    shard: ShardId,
}

impl<'a> Writer<'a> {
    /// Starts the stream of `shard` (layout 2) on `out`.
    pub fn new(out: &'a mut dyn Write, shard: ShardId) -> Result<Self> {
        let mut w = Writer {
            out,
            hash: xxhash_rust::xxh3::Xxh3::new(),
            shard,
        };
        w.put(MAGIC)?;
        w.put(&shard.to_be_bytes())?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(|e| Error::Io {
            shard: self.shard,
            message: format!("writing a shard snapshot: {e}"),
        })
    }

    fn put_uvarint(&mut self, v: u64) -> Result<()> {
        let mut buf = Vec::with_capacity(10);
        crate::varint::put_uvarint(&mut buf, v);
        self.put(&buf)
    }

    /// One record: `key` (starting with the shard's id) and `value` of column family `cf`.
    pub fn record(&mut self, cf: u8, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(&[cf])?;
        self.put_uvarint(key.len() as u64)?;
        self.put(key)?;
        self.put_uvarint(value.len() as u64)?;
        self.put(value)
    }

    /// Ends the stream: the end mark and the checksum.
    pub fn finish(mut self) -> Result<()> {
        self.put(&[END])?;
        let sum = self.hash.digest();
        let io = |e: std::io::Error| Error::Io {
            shard: self.shard,
            message: format!("writing a shard snapshot: {e}"),
        };
        self.out.write_all(&sum.to_le_bytes()).map_err(io)?;
        self.out.flush().map_err(io)
    }
}

/// A reader that hashes what it reads and maps failures to shard errors.
struct Checked<'a> {
    inner: &'a mut dyn Read,
    hash: xxhash_rust::xxh3::Xxh3,
    shard: ShardId,
}

impl Checked<'_> {
    fn read_exact_unhashed(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt(self.shard, "truncated")
            } else {
                Error::Io {
                    shard: self.shard,
                    message: format!("reading a shard snapshot: {e}"),
                }
            }
        })
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; n];
        self.read_exact_unhashed(&mut buf)?;
        self.hash.update(&buf);
        Ok(buf)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn uvarint(&mut self) -> Result<u64> {
        let shard = self.shard;
        crate::varint::read_uvarint(|| self.u8()).map_err(|e| match e {
            Error::Decode(m) => corrupt(shard, m),
            other => other,
        })
    }

    fn sized(&mut self, max: u64, what: &str) -> Result<Vec<u8>> {
        let n = self.uvarint()?;
        if n > max {
            return Err(corrupt(
                self.shard,
                format!("{what} of {n} bytes (at most {max})"),
            ));
        }
        self.bytes(n as usize)
    }
}

/// Reads the snapshot stream of `shard` from `input`, handing each record (column family,
/// key, value) to `record` in order. The whole stream is checked (magic, shard, every key in
/// the shard's range, sizes, end mark, checksum): the caller must not act on the records
/// before this returns `Ok`.
pub fn read(
    shard: ShardId,
    input: &mut dyn Read,
    mut record: impl FnMut(u8, Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<Version> {
    let mut r = Checked {
        inner: input,
        hash: xxhash_rust::xxh3::Xxh3::new(),
        shard,
    };
    let magic = r.bytes(MAGIC.len())?;
    let version = if magic == MAGIC {
        Version::V2
    } else if magic == MAGIC_V1 {
        Version::V1
    } else {
        return Err(corrupt(
            shard,
            "not a Tidemark shard snapshot (version 1 or 2)",
        ));
    };
    let prefix = shard.to_be_bytes();
    let from = r.bytes(4)?;
    if from != prefix {
        return Err(corrupt(
            shard,
            format!(
                "snapshot of shard {} offered for shard {shard}",
                u32::from_be_bytes([from[0], from[1], from[2], from[3]])
            ),
        ));
    }
    loop {
        let cf = r.u8()?;
        if cf == END {
            break;
        }
        if cf >= COLUMN_FAMILIES {
            return Err(corrupt(shard, format!("column family {cf}")));
        }
        let key = r.sized(MAX_KEY_BYTES, "key")?;
        let value = r.sized(MAX_VALUE_BYTES, "value")?;
        if !key.starts_with(&prefix) {
            return Err(corrupt(shard, "a key outside the shard"));
        }
        record(cf, key, value)?;
    }
    let want = r.hash.digest();
    let mut sum = [0u8; 8];
    r.read_exact_unhashed(&mut sum)?;
    if u64::from_le_bytes(sum) != want {
        return Err(corrupt(shard, "checksum mismatch"));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Records = Vec<(u8, Vec<u8>, Vec<u8>)>;

    fn stream(shard: ShardId, records: &Records) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, shard).unwrap();
        for (cf, k, v) in records {
            w.record(*cf, k, v).unwrap();
        }
        w.finish().unwrap();
        out
    }

    fn records_of(shard: ShardId, bytes: &[u8]) -> Result<Records> {
        let mut got = Vec::new();
        read(shard, &mut &bytes[..], |cf, k, v| {
            got.push((cf, k, v));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn a_stream_reads_back_and_every_flipped_bit_is_caught() {
        let key = |s: &str| [&7u32.to_be_bytes()[..], s.as_bytes()].concat();
        let records: Records = vec![
            (0, key("series"), b"labels".to_vec()),
            (2, key("chunk"), vec![0xab; 300]),
            (3, key("meta"), vec![]),
        ];
        let bytes = stream(7, &records);
        assert_eq!(records_of(7, &bytes).unwrap(), records);
        assert!(records_of(8, &bytes).is_err(), "another shard's snapshot");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let err = records_of(7, &bad).expect_err("a flipped bit is caught");
                assert!(err.is_corruption(), "byte {i} bit {bit}: {err}");
            }
        }
        for n in 0..bytes.len() {
            assert!(records_of(7, &bytes[..n]).is_err(), "truncated to {n}");
        }
    }
}
