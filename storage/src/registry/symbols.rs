//! The strings of one shard's label sets, each held once: label names and values are interned
//! and a series refers to them by dense `u32` ids (Prometheus' index keeps one symbol table for
//! the same reason). Symbols are never removed; the registry never forgets a series either.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Interned strings by id, and ids by string.
#[derive(Default)]
pub(crate) struct Symbols {
    /// Every symbol's bytes, back to back: one allocation instead of one per string.
    bytes: String,
    /// The end of each symbol in `bytes`, by id; a symbol starts where the previous one ends.
    ends: Vec<usize>,
    /// Symbol ids, placed by the hash of their string.
    by_hash: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Symbols {
    /// Number of symbols.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string of symbol `id`.
    ///
    /// Panics if `id` was not returned by [`Symbols::intern`] of this table.
    pub fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The id of `s`, if interned.
    #[cfg(test)]
    pub fn find(&self, s: &str) -> Option<u32> {
        self.find_hashed(s, self.hasher.hash_one(s))
    }

    fn find_hashed(&self, s: &str, h: u64) -> Option<u32> {
        self.by_hash.find(h, |&id| self.get(id) == s).copied()
    }

    /// The id of `s`, interning it if it is new.
    pub fn intern(&mut self, s: &str) -> u32 {
        let h = self.hasher.hash_one(s);
        if let Some(id) = self.find_hashed(s, h) {
            return id;
        }
        // A shard holds at most 2^32 series of a few labels each; 2^32 distinct strings would
        // need far more memory than a node has before this could fail.
        let id = u32::try_from(self.ends.len()).expect("fewer than 2^32 symbols per shard");
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        let (bytes, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.by_hash.insert_unique(h, id, |&other| {
            let i = other as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            hasher.hash_one(&bytes[start..ends[i]])
        });
        id
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.by_hash.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_is_kept_once_under_a_dense_id() {
        let mut s = Symbols::default();
        assert_eq!(s.intern("job"), 0);
        assert_eq!(s.intern("api"), 1);
        assert_eq!(s.intern(""), 2);
        assert_eq!(s.intern("job"), 0);
        assert_eq!(s.len(), 3);
        assert_eq!((s.get(0), s.get(1), s.get(2)), ("job", "api", ""));
        assert_eq!(s.find("api"), Some(1));
        assert_eq!(s.find("ap"), None);
    }

    #[test]
    fn lookups_survive_the_table_growing() {
        let mut s = Symbols::default();
        for i in 0..10_000 {
            assert_eq!(s.intern(&format!("value-{i}")), i);
        }
        for i in (0..10_000).rev() {
            assert_eq!(s.find(&format!("value-{i}")), Some(i));
            assert_eq!(s.get(i), format!("value-{i}"));
        }
    }
}
