//! [`KeyIndex`]: finds the position of a [`SeriesKey`] among items the caller keeps in a `Vec`,
//! by the key's precomputed hash, without owning (cloning) the keys.

use std::collections::HashMap;

use crate::series_key::SeriesKey;

/// Positions by key hash; keys that share a hash with an earlier one are searched linearly
/// (a 64-bit collision within one request or batch practically never happens).
#[derive(Debug, Default)]
pub struct KeyIndex {
    first: HashMap<u64, usize, foldhash::fast::RandomState>,
    collided: Vec<usize>,
}

impl KeyIndex {
    pub fn with_capacity(n: usize) -> Self {
        KeyIndex {
            first: HashMap::with_capacity_and_hasher(n, Default::default()),
            collided: Vec::new(),
        }
    }

    /// The position of `key`; `key_at(i)` is the key at position `i`.
    pub fn find<'k>(
        &self,
        key: &SeriesKey,
        key_at: impl Fn(usize) -> &'k SeriesKey,
    ) -> Option<usize> {
        match self.first.get(&key.hash64()) {
            None => None,
            Some(&i) if key_at(i) == key => Some(i),
            Some(_) => self.collided.iter().copied().find(|&i| key_at(i) == key),
        }
    }

    /// Records that `key` (not yet present) is at position `i`.
    pub fn insert(&mut self, key: &SeriesKey, i: usize) {
        match self.first.entry(key.hash64()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.collided.push(i),
        }
    }
}
