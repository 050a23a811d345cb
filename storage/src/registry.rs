//! The series registry of one shard: label sets <-> dense u32 series ids.
//!
//! Label names and values are interned once per shard ([`Symbols`]); a series is its labels'
//! symbol ids, a name's and a value's per label as uvarints, back to back with every other
//! series' in one buffer. On the benchmark's pod label sets (about 210 canonical bytes per
//! series) that is about 25 bytes per series where a boxed copy of the canonical encoding took
//! 250. Lookups go by `xxh3_64` of the canonical encoding (`Labels::canonical_bytes`: `name 0xff
//! value 0xff` per label), the hash that also places the series on its shard; equal hashes are
//! told apart by comparing the labels.

mod symbols;

use hashbrown::HashTable;

use crate::error::{Error, Result};
use crate::model::{
    CANONICAL_SEP, Label, Labels, SeriesId, ShardId, decode_pairs, encode_canonical,
};
use crate::series_key::SeriesKey;
use crate::varint::put_uvarint;
use symbols::Symbols;

/// Label sets of one shard by id, and ids by label hash.
#[derive(Default)]
pub(crate) struct Registry {
    symbols: Symbols,
    /// Every series' symbol ids (name, value per label, as uvarints), back to back by id.
    encoded: Vec<u8>,
    /// The end of each series' ids in `encoded`, by series id; a series starts where the
    /// previous one ends.
    ends: Vec<usize>,
    /// Each series as (id, upper 32 bits of its hash), placed by that half of the hash: enough
    /// to spread a shard's series, and half the bytes of keeping the whole hash.
    by_hash: HashTable<(SeriesId, u32)>,
}

/// A label set the registry can look up: its hash and a comparison with stored pairs.
trait Probe {
    fn hash64(&self) -> u64;
    /// Whether `pairs` (in label order) are exactly these labels.
    fn equals<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool;
}

impl Probe for SeriesKey {
    fn hash64(&self) -> u64 {
        SeriesKey::hash64(self)
    }

    fn equals<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        let mut rest = self.canonical();
        for (name, value) in pairs {
            for part in [name, value] {
                let part = part.as_bytes();
                match rest.split_at_checked(part.len()) {
                    Some((head, [CANONICAL_SEP, tail @ ..])) if same_short(head, part) => {
                        rest = tail;
                    }
                    _ => return false,
                }
            }
        }
        rest.is_empty()
    }
}

/// `a == b` for slices of equal length, eight bytes at a time in line: label names and values
/// are short, and a call to `memcmp` per label part cost more than the comparing (4.8% of a
/// node's CPU while ingesting, in the registry lookup of every written series).
#[inline]
fn same_short(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    a_words
        .iter()
        .zip(b_words)
        .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_tail.iter().zip(b_tail).all(|(x, y)| x == y)
}

impl Probe for Labels {
    fn hash64(&self) -> u64 {
        Labels::hash64(self)
    }

    fn equals<'a>(&self, mut pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        self.iter()
            .all(|l| pairs.next() == Some((l.name.as_str(), l.value.as_str())))
            && pairs.next().is_none()
    }
}

/// Where the table places a series whose hash has `upper` as its upper half: multiplied out so
/// that both the table's low bits (the bucket) and its top bits (the tag) vary.
fn place(upper: u32) -> u64 {
    u64::from(upper).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn upper_half(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl Registry {
    /// Number of series; also the next id to assign.
    pub fn len(&self) -> u32 {
        self.ends.len() as u32
    }

    /// The id of the series `key` names, if registered.
    pub fn get_key(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.find(key)
    }

    fn find(&self, probe: &impl Probe) -> Option<SeriesId> {
        self.find_hashed(probe, probe.hash64())
    }

    fn find_hashed(&self, probe: &impl Probe, hash: u64) -> Option<SeriesId> {
        let upper = upper_half(hash);
        self.by_hash
            .find(place(upper), |&(id, u)| {
                u == upper && probe.equals(self.pairs(id))
            })
            .map(|&(id, _)| id)
    }

    /// The id of `labels`, registering them under the next id if they are new. Returns the id
    /// and whether it was created.
    pub fn get_or_insert(&mut self, labels: &Labels) -> (SeriesId, bool) {
        let hash = labels.hash64();
        if let Some(id) = self.find_hashed(labels, hash) {
            return (id, false);
        }
        let pairs = labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
        (self.push(pairs, hash), true)
    }

    /// Appends a series read back from storage (its canonical encoding); its id must be the
    /// next one, and the bytes exactly the canonical encoding of labels sorted by name (what
    /// the flush wrote), or the series would be filed under a hash no lookup computes.
    pub fn push_recovered(&mut self, shard: ShardId, id: SeriesId, bytes: &[u8]) -> Result<()> {
        if id != self.len() {
            return Err(Error::Corrupt {
                shard,
                message: format!("series id {id} out of sequence (expected {})", self.len()),
            });
        }
        let canonical = || {
            let pairs: Option<Vec<(&str, &str)>> = decode_pairs(bytes).collect();
            let pairs = pairs?;
            let sorted = pairs.windows(2).all(|w| w[0].0 < w[1].0);
            (sorted && encode_canonical(pairs.iter().copied()) == bytes).then_some(())
        };
        if canonical().is_none() {
            return Err(Error::Corrupt {
                shard,
                message: format!("labels of series {id} are not valid"),
            });
        }
        let hash = xxhash_rust::xxh3::xxh3_64(bytes);
        self.push(decode_pairs(bytes).flatten(), hash);
        Ok(())
    }

    fn push<'a>(&mut self, pairs: impl Iterator<Item = (&'a str, &'a str)>, hash: u64) -> SeriesId {
        let id = self.len();
        for (name, value) in pairs {
            for part in [name, value] {
                let symbol = self.symbols.intern(part);
                put_uvarint(&mut self.encoded, u64::from(symbol));
            }
        }
        self.ends.push(self.encoded.len());
        let upper = upper_half(hash);
        self.by_hash
            .insert_unique(place(upper), (id, upper), |&(_, u)| place(u));
        id
    }

    /// The canonical label bytes of `id` (`Labels::canonical_bytes`), built from its symbols.
    pub fn canonical_bytes(&self, id: SeriesId) -> Option<Vec<u8>> {
        let pairs = self.known(id)?;
        let mut out = Vec::new();
        for (name, value) in pairs {
            out.extend_from_slice(name.as_bytes());
            out.push(CANONICAL_SEP);
            out.extend_from_slice(value.as_bytes());
            out.push(CANONICAL_SEP);
        }
        Some(out)
    }

    /// The hash the registry files `id` under: `xxh3_64` of its canonical encoding, streamed.
    pub fn hash_of(&self, id: SeriesId) -> Option<u64> {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (name, value) in self.known(id)? {
            h.update(name.as_bytes());
            h.update(&[CANONICAL_SEP]);
            h.update(value.as_bytes());
            h.update(&[CANONICAL_SEP]);
        }
        Some(h.digest())
    }

    /// The label set of `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let labels = self.known(id)?.map(|(n, v)| Label::new(n, v)).collect();
        Some(Labels::from_sorted(labels))
    }

    /// The (name, value) pairs of `id` in label order, without allocating; none for an unknown
    /// id.
    pub fn pairs(&self, id: SeriesId) -> Pairs<'_> {
        self.known(id).unwrap_or(Pairs {
            symbols: &self.symbols,
            ids: &[],
        })
    }

    fn known(&self, id: SeriesId) -> Option<Pairs<'_>> {
        let i = id as usize;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(Pairs {
            symbols: &self.symbols,
            ids: &self.encoded[start..end],
        })
    }

    /// Heap bytes held (approximate, for statistics).
    pub fn heap_bytes(&self) -> usize {
        self.symbols.heap_bytes()
            + self.encoded.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.by_hash.capacity() * (std::mem::size_of::<(SeriesId, u32)>() + 1)
    }
}

/// The (name, value) pairs of one series, decoded from its symbol ids.
#[derive(Clone)]
pub(crate) struct Pairs<'a> {
    symbols: &'a Symbols,
    /// The symbol ids not yet read, as `Registry::push` wrote them.
    ids: &'a [u8],
}

impl Pairs<'_> {
    fn symbol(&mut self) -> u32 {
        // Written by `Registry::push`: well-formed, at most five bytes for a u32.
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = self.ids[0];
            self.ids = &self.ids[1..];
            v |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.ids.is_empty() {
            return None;
        }
        let (name, value) = (self.symbol(), self.symbol());
        Some((self.symbols.get(name), self.symbols.get(value)))
    }
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
    fn same_short_is_slice_equality() {
        for len in 0..=40usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert!(same_short(&a, &a.clone()), "len {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_short(&a, &b), "len {len}, differing at {at}");
            }
        }
    }

    #[test]
    fn a_key_equals_only_its_own_pairs() {
        let key = SeriesKey::from_sorted_pairs(&[
            ("__name__", "node_cpu_seconds_total"),
            ("mode", "idle"),
        ]);
        let probe = |pairs: &[(&str, &str)]| key.equals(pairs.iter().copied());
        assert!(probe(&[
            ("__name__", "node_cpu_seconds_total"),
            ("mode", "idle")
        ]));
        assert!(!probe(&[
            ("__name__", "node_cpu_seconds_total"),
            ("mode", "idl")
        ]));
        assert!(!probe(&[
            ("__name__", "node_cpu_seconds_total"),
            ("mode", "idlee")
        ]));
        assert!(!probe(&[("__name__", "node_cpu_seconds_total")]));
        assert!(!probe(&[
            ("__name__", "node_cpu_seconds_totaL"),
            ("mode", "idle")
        ]));
        assert!(!probe(&[
            ("__name__", "node_cpu_seconds_total"),
            ("mode", "idle"),
            ("x", "y")
        ]));
    }

    /// Labels that claim the hash every other collider has.
    struct Collider(Labels);

    impl Probe for Collider {
        fn hash64(&self) -> u64 {
            42 << 32
        }

        fn equals<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
            self.0.equals(pairs)
        }
    }

    #[test]
    fn hash_collisions_are_resolved_by_labels() {
        let mut r = Registry::default();
        // Force a collision by filing two different label sets under one hash.
        let (a, b) = ([("a", "1")], [("b", "2")]);
        r.push(a.into_iter(), 42 << 32);
        r.push(b.into_iter(), 42 << 32);
        let probe = |pairs: &[(&str, &str)]| Collider(Labels::from_pairs(pairs));
        assert_eq!(r.find(&probe(&a)), Some(0));
        assert_eq!(r.find(&probe(&b)), Some(1));
        assert_eq!(r.find(&probe(&[("c", "3")])), None);
        assert_eq!(r.find(&probe(&[("a", "1"), ("b", "2")])), None);
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
        assert!(r.push_recovered(0, 0, b"a\xff1\xff").is_ok());
        assert!(r.push_recovered(0, 5, b"a\xff1\xff").is_err());
        assert!(r.push_recovered(0, 1, b"a\xff\xc3\x28\xff").is_err());
        // Not the canonical encoding: no final separator, a name without a value, names out
        // of order or twice.
        for bytes in [
            &b"b\xff2"[..],
            b"b\xff",
            b"\xff",
            b"c\xff3\xffb\xff2\xff",
            b"b\xff2\xffb\xff3\xff",
        ] {
            assert!(r.push_recovered(0, 1, bytes).is_err(), "{bytes:?}");
        }
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.get_key(&SeriesKey::from_canonical(b"a\xff1\xff".to_vec())),
            Some(0)
        );
    }

    #[test]
    fn every_view_of_a_series_matches_its_labels() {
        let mut r = Registry::default();
        let mut all = Vec::new();
        // Names and values shared between series, unique values (multi-byte ids), label sets
        // past the 240 and 1024 bytes where xxh3 changes its path (streamed and one-shot
        // hashes must agree).
        for i in 0..3000 {
            let l = Labels::from_pairs(&[
                ("__name__", ["up", "requests_total", "x"][i % 3]),
                ("instance", &format!("host-{}", i / 10)),
                ("path", &"/v1/a".repeat([1, 7, 60, 300][i % 4])),
                ("pod", &format!("pod-{i:06}")),
            ]);
            assert_eq!(r.get_or_insert(&l), (i as u32, true));
            all.push(l);
        }
        for (i, l) in all.iter().enumerate() {
            let id = i as u32;
            assert_eq!(r.labels(id).as_ref(), Some(l));
            assert_eq!(r.canonical_bytes(id), Some(l.canonical_bytes()));
            assert_eq!(r.hash_of(id), Some(l.hash64()));
            let pairs: Vec<_> = r.pairs(id).collect();
            let expected: Vec<_> = l
                .iter()
                .map(|x| (x.name.as_str(), x.value.as_str()))
                .collect();
            assert_eq!(pairs, expected);
            assert_eq!(r.get_key(&SeriesKey::from(l)), Some(id));
            assert_eq!(r.get_or_insert(l), (id, false));
        }
        assert_eq!(r.labels(3000), None);
        assert_eq!(r.pairs(3000).count(), 0);
        // A prefix or an extension of a registered set is another series.
        let prefix = Labels::from_pairs(&[("__name__", "up"), ("instance", "host-0")]);
        assert_eq!(r.get_key(&SeriesKey::from(&prefix)), None);
    }

    #[test]
    fn shared_strings_are_held_once() {
        let mut r = Registry::default();
        let value = "v".repeat(1000);
        for i in 0..100 {
            r.get_or_insert(&Labels::from_pairs(&[("a", &value), ("i", &i.to_string())]));
        }
        assert!(r.heap_bytes() < 10 * 1000, "{} bytes", r.heap_bytes());
    }
}
