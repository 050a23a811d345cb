//! Time columns shared by the sealed chunks of one partition: the series of one scrape target
//! have the same timestamps, so a store keeps their time part once and each chunk names it.
//! Byte layout in `sealed.md`, "Shared time columns". Pure functions, no I/O: the store keeps
//! the columns (`rocks/time_columns.rs`).

use super::ENCODING_SEALED;
use super::columns::skip_int_column;
use super::sealed::{SEALED_VERSION, header};
use crate::error::{Error, Result};
use crate::varint::Reader;

/// Layout version of a sealed chunk whose time part is a shared column.
pub const SHARED_TIMES_VERSION: u8 = 2;

/// Names a time column: the xxh3-128 hash of its bytes, big-endian.
pub type ColumnId = [u8; 16];

/// Bytes of a chunk that names its time column, before its values.
const HEADER_LEN: usize = 2 + 16;

fn corrupt(what: &str) -> Error {
    Error::Decode(format!("sealed chunk with a shared time column: {what}"))
}

/// The id of a time column's bytes.
pub fn column_id(times: &[u8]) -> ColumnId {
    xxhash_rust::xxh3::xxh3_128(times).to_be_bytes()
}

/// A sealed chunk (version 1) split into its time part (`count t0 interval times`) and its
/// values; `None` when it has fewer than two samples (nothing worth sharing).
pub fn split(chunk: &[u8]) -> Result<Option<(&[u8], &[u8])>> {
    let mut r = Reader::new(chunk);
    let count = header(&mut r)?;
    if count < 2 {
        return Ok(None);
    }
    r.varint()?;
    r.varint()?;
    skip_int_column(&mut r, count - 1)?;
    let values_at = chunk.len() - r.remaining();
    Ok(Some((&chunk[2..values_at], &chunk[values_at..])))
}

/// The chunk that names time column `column` instead of holding it, followed by `values`.
pub fn naming(column: &ColumnId, values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + values.len());
    out.extend_from_slice(&[ENCODING_SEALED, SHARED_TIMES_VERSION]);
    out.extend_from_slice(column);
    out.extend_from_slice(values);
    out
}

/// The time column a chunk names, when it is one that does.
pub fn named_column(chunk: &[u8]) -> Option<ColumnId> {
    match chunk {
        [ENCODING_SEALED, SHARED_TIMES_VERSION, rest @ ..] if rest.len() >= 16 => {
            rest[..16].try_into().ok()
        }
        _ => None,
    }
}

/// The self-contained sealed chunk (version 1) of a chunk that names a time column, given that
/// column's bytes, which must be the ones it names.
pub fn join(chunk: &[u8], times: &[u8]) -> Result<Vec<u8>> {
    let Some(named) = named_column(chunk) else {
        return Err(corrupt("does not name a time column"));
    };
    if column_id(times) != named {
        return Err(corrupt("the time column found is not the one named"));
    }
    let values = &chunk[HEADER_LEN..];
    let mut out = Vec::with_capacity(2 + times.len() + values.len());
    out.extend_from_slice(&[ENCODING_SEALED, SEALED_VERSION]);
    out.extend_from_slice(times);
    out.extend_from_slice(values);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::sealed::{decode, encode};
    use crate::model::Sample;

    fn series(t0: i64, n: usize, f: impl Fn(usize) -> f64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample::new(t0 + 15_000 * i as i64 + (i as i64 * 7) % 9 - 4, f(i)))
            .collect()
    }

    #[test]
    fn two_series_with_one_scrape_share_their_time_part() {
        let a = encode(&series(1_000, 480, |i| i as f64 * 0.25)).unwrap();
        let b = encode(&series(1_000, 480, |i| (i % 7) as f64)).unwrap();
        let (ta, va) = split(&a).unwrap().unwrap();
        let (tb, vb) = split(&b).unwrap().unwrap();
        assert_eq!(ta, tb, "same timestamps, same time part");
        assert_ne!(va, vb);
        for (chunk, values) in [(&a, va), (&b, vb)] {
            let named = naming(&column_id(ta), values);
            assert_eq!(named_column(&named), Some(column_id(ta)));
            assert_eq!(named.len(), 18 + values.len());
            assert_eq!(&join(&named, tb).unwrap(), chunk);
        }
        // Another scrape: another column.
        let c = encode(&series(2_000, 480, |i| i as f64)).unwrap();
        let (tc, _) = split(&c).unwrap().unwrap();
        assert_ne!(column_id(tc), column_id(ta));
    }

    #[test]
    fn joining_with_the_wrong_column_or_a_plain_chunk_fails() {
        let a = encode(&series(1_000, 100, |i| i as f64)).unwrap();
        let c = encode(&series(2_000, 100, |i| i as f64)).unwrap();
        let (ta, va) = split(&a).unwrap().unwrap();
        let (tc, _) = split(&c).unwrap().unwrap();
        let named = naming(&column_id(ta), va);
        assert!(join(&named, tc).is_err());
        assert!(join(&a, ta).is_err(), "a version 1 chunk names no column");
        assert_eq!(named_column(&a), None);
        // Read alone, a chunk that names a column is refused, not misread.
        assert!(decode(&named).is_err());
        assert!(named_column(&named[..10]).is_none());
    }

    #[test]
    fn short_or_malformed_chunks_are_not_split() {
        assert!(split(&encode(&[]).unwrap()).unwrap().is_none());
        assert!(
            split(&encode(&[Sample::new(5, 1.0)]).unwrap())
                .unwrap()
                .is_none()
        );
        let a = encode(&series(1_000, 100, |i| i as f64)).unwrap();
        for cut in 0..a.len().min(12) {
            let _ = split(&a[..cut]);
        }
        assert!(split(&[ENCODING_SEALED, SHARED_TIMES_VERSION, 0]).is_err());
    }
}
