//! [`SeriesKey`]: a label set as the write path carries it, in its canonical encoding with its
//! hash, so that routing (`hash % S`), deduplication and the registry lookup on the shard leader
//! cost no further encoding or hashing, and a series costs one allocation instead of two per
//! label.

use crate::model::{Labels, ShardId, decode_pairs, encode_canonical, shard_of_hash};

/// A validated label set in its canonical encoding (`name 0xff value 0xff` per label, sorted by
/// name, unique names, no empty values: [`Labels::canonical_bytes`]) and its `xxh3_64`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<u8>", from = "Vec<u8>")]
pub struct SeriesKey {
    canonical: Box<[u8]>,
    hash: u64,
}

impl SeriesKey {
    /// The key of labels (name, value) the caller checked to be sorted by name with unique
    /// names; labels with an empty value are left out (as [`Labels::new`] does).
    pub fn from_sorted_pairs(labels: &[(&str, &str)]) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].0 < w[1].0));
        SeriesKey::from_canonical(encode_canonical(
            labels.iter().copied().filter(|(_, v)| !v.is_empty()),
        ))
    }

    /// Wraps bytes that are a canonical encoding ([`Labels::canonical_bytes`]).
    pub fn from_canonical(canonical: Vec<u8>) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_64(&canonical);
        SeriesKey {
            canonical: canonical.into_boxed_slice(),
            hash,
        }
    }

    /// The canonical encoding.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// `xxh3_64` of the canonical encoding: the same as [`Labels::hash64`].
    pub fn hash64(&self) -> u64 {
        self.hash
    }

    /// The shard of the series among `shard_count` ([`Labels::shard`]).
    pub fn shard(&self, shard_count: u32) -> ShardId {
        shard_of_hash(self.hash, shard_count)
    }

    /// The (name, value) pairs, without allocating.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        decode_pairs(&self.canonical).flatten()
    }

    /// The label set.
    pub fn labels(&self) -> Labels {
        Labels::from_canonical(&self.canonical)
    }
}

impl From<&Labels> for SeriesKey {
    fn from(labels: &Labels) -> Self {
        SeriesKey::from_canonical(labels.canonical_bytes())
    }
}

impl From<SeriesKey> for Vec<u8> {
    fn from(key: SeriesKey) -> Self {
        key.canonical.into_vec()
    }
}

impl From<Vec<u8>> for SeriesKey {
    fn from(canonical: Vec<u8>) -> Self {
        SeriesKey::from_canonical(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_pairs_match_labels_encoding_and_hash() {
        let labels = Labels::from_pairs(&[("__name__", "up"), ("empty", ""), ("job", "a")]);
        let key = SeriesKey::from_sorted_pairs(&[("__name__", "up"), ("empty", ""), ("job", "a")]);
        assert_eq!(key.canonical(), labels.canonical_bytes().as_slice());
        assert_eq!(key.hash64(), labels.hash64());
        assert_eq!(key.shard(7), labels.shard(7));
        assert_eq!(key.labels(), labels);
        assert_eq!(SeriesKey::from(&labels), key);
        assert_ne!(SeriesKey::from_sorted_pairs(&[("__name__", "down")]), key);
    }

    #[test]
    fn serde_round_trip_recomputes_the_hash() {
        let key = SeriesKey::from(&Labels::from_pairs(&[("__name__", "up"), ("i", "1")]));
        let bytes: Vec<u8> = key.clone().into();
        let back = SeriesKey::from(bytes);
        assert_eq!(back, key);
        assert_eq!(back.hash64(), key.hash64());
    }
}
