//! The series registry of one shard: label sets <-> dense u32 series ids.
//!
//! Label sets are held in their canonical encoding (`Labels::canonical_bytes`: `name 0xff value
//! 0xff` per label), one boxed byte string per series, so an idle series costs its bytes plus a
//! hash-map slot. Lookups go by `xxh3_64` of that encoding; hash collisions are kept in a
//! separate (normally empty) map and resolved by comparing the bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, Result};
use crate::model::{Labels, SeriesId, ShardId, decode_pairs};
use crate::series_key::SeriesKey;

/// Label sets of one shard by id, and ids by label hash.
#[derive(Default)]
pub(crate) struct Registry {
    /// Canonical label bytes, indexed by series id (ids are dense from 0).
    labels: Vec<Box<[u8]>>,
    /// The first id registered under each hash.
    by_hash: HashMap<u64, SeriesId, Prehashed>,
    /// Further ids whose labels share a hash with another series.
    collisions: HashMap<u64, Vec<SeriesId>>,
}

/// The maps keyed by `xxh3_64` use the key as its own hash: hashing it again costs time and
/// spreads nothing.
type Prehashed = BuildHasherDefault<PrehashedU64>;

/// A [`Hasher`] for keys that already are a well-mixed 64-bit hash.
#[derive(Default)]
pub(crate) struct PrehashedU64(u64);

impl Hasher for PrehashedU64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; fold anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Registry {
    /// Number of series; also the next id to assign.
    pub fn len(&self) -> u32 {
        self.labels.len() as u32
    }

    /// The id of the series `key` names, if registered.
    pub fn get_key(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.get_canonical(key.canonical(), key.hash64())
    }

    fn get_canonical(&self, bytes: &[u8], h: u64) -> Option<SeriesId> {
        let first = *self.by_hash.get(&h)?;
        if self.canonical(first) == Some(bytes) {
            return Some(first);
        }
        self.collisions
            .get(&h)?
            .iter()
            .copied()
            .find(|&id| self.canonical(id) == Some(bytes))
    }

    /// The id of `labels`, registering them under the next id if they are new. Returns the id
    /// and whether it was created.
    pub fn get_or_insert(&mut self, labels: &Labels) -> (SeriesId, bool) {
        let bytes = labels.canonical_bytes();
        let h = hash(&bytes);
        if let Some(id) = self.get_canonical(&bytes, h) {
            return (id, false);
        }
        (self.push(bytes.into_boxed_slice(), h), true)
    }

    /// Appends a series read back from storage; its id must be the next one.
    pub fn push_recovered(&mut self, shard: ShardId, id: SeriesId, bytes: Box<[u8]>) -> Result<()> {
        if id != self.len() {
            return Err(Error::Corrupt {
                shard,
                message: format!("series id {id} out of sequence (expected {})", self.len()),
            });
        }
        if decode_pairs(&bytes).any(|p| p.is_none()) {
            return Err(Error::Corrupt {
                shard,
                message: format!("labels of series {id} are not valid"),
            });
        }
        let h = hash(&bytes);
        self.push(bytes, h);
        Ok(())
    }

    fn push(&mut self, bytes: Box<[u8]>, h: u64) -> SeriesId {
        let id = self.len();
        self.labels.push(bytes);
        match self.by_hash.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(h).or_default().push(id)
            }
        }
        id
    }

    /// The canonical label bytes of `id`.
    pub fn canonical(&self, id: SeriesId) -> Option<&[u8]> {
        self.labels.get(id as usize).map(|b| &b[..])
    }

    /// The hash the registry files `id` under.
    pub fn hash_of(&self, id: SeriesId) -> Option<u64> {
        self.canonical(id).map(hash)
    }

    /// The label set of `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        self.canonical(id).map(Labels::from_canonical)
    }

    /// The (name, value) pairs of `id`, without allocating.
    pub fn pairs(&self, id: SeriesId) -> impl Iterator<Item = (&str, &str)> {
        decode_pairs(self.canonical(id).unwrap_or(&[])).flatten()
    }

    /// Heap bytes held (approximate, for statistics).
    pub fn heap_bytes(&self) -> usize {
        self.labels.iter().map(|b| b.len()).sum::<usize>()
            + self.labels.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.by_hash.capacity() * (std::mem::size_of::<(u64, SeriesId)>() + 1)
    }
}

/// The registry's hash of canonical label bytes (the same as `Labels::hash64`).
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_lookups_round_trip() {
        let mut r = Registry::default();
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs(&[("__name__", "up"), ("job", "b")]);
        assert_eq!(r.get_or_insert(&a), (0, true));
        assert_eq!(r.get_or_insert(&b), (1, true));
        assert_eq!(r.get_or_insert(&a), (0, false));
        assert_eq!(r.get_key(&SeriesKey::from(&b)), Some(1));
        assert_eq!(r.labels(1), Some(b));
        let unknown = Labels::from_pairs(&[("x", "y")]);
        assert_eq!(r.get_key(&SeriesKey::from(&unknown)), None);
        assert_eq!(r.labels(0).unwrap(), a);
    }

    #[test]
    fn hash_collisions_are_resolved_by_bytes() {
        let mut r = Registry::default();
        // Force a collision by filing two different label sets under one hash.
        let a = Labels::from_pairs(&[("a", "1")])
            .canonical_bytes()
            .into_boxed_slice();
        let b = Labels::from_pairs(&[("b", "2")])
            .canonical_bytes()
            .into_boxed_slice();
        r.push(a.clone(), 42);
        r.push(b.clone(), 42);
        assert_eq!(r.get_canonical(&a, 42), Some(0));
        assert_eq!(r.get_canonical(&b, 42), Some(1));
        assert_eq!(r.get_canonical(b"c\xff3\xff", 42), None);
    }

    #[test]
    fn empty_label_set_is_a_series() {
        let mut r = Registry::default();
        let (id, _) = r.get_or_insert(&Labels::default());
        assert_eq!(r.labels(id), Some(Labels::default()));
    }

    #[test]
    fn recovered_labels_are_validated() {
        let mut r = Registry::default();
        assert!(
            r.push_recovered(0, 0, b"a\xff1\xff".to_vec().into_boxed_slice())
                .is_ok()
        );
        assert!(
            r.push_recovered(0, 5, b"a\xff1\xff".to_vec().into_boxed_slice())
                .is_err()
        );
        assert!(
            r.push_recovered(0, 1, b"a\xff\xc3\x28\xff".to_vec().into_boxed_slice())
                .is_err()
        );
    }
}
