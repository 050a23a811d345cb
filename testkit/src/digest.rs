//! FNV-1a (64 bits): a hash that is the same on every machine and for every version of every
//! dependency, for shard assignment by label set and for digests of generated datasets.
//!
//! A [`DatasetDigest`] hashes a dataset as one byte stream: per series its labels
//! (`name 0xff value 0xff` per label, then `0xfe`) or raw bytes, then per sample the series
//! index (u32), timestamp (i64) and value bits (u64), little-endian, in the order given. Two
//! datasets with the same digest have, for all practical purposes, the same series in the same
//! order and the same samples in the same order.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a over `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fold(OFFSET_BASIS, bytes)
}

fn fold(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// A running digest of a dataset's series and samples (see the module doc for the byte layout).
#[derive(Clone, Debug)]
pub struct DatasetDigest {
    hash: u64,
    series: u64,
    samples: u64,
}

impl Default for DatasetDigest {
    fn default() -> Self {
        DatasetDigest {
            hash: OFFSET_BASIS,
            series: 0,
            samples: 0,
        }
    }
}

impl DatasetDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one series given by its labels, in the order the dataset holds them.
    pub fn series<'a>(&mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in labels {
            self.hash = fold(self.hash, name.as_bytes());
            self.hash = fold(self.hash, &[0xff]);
            self.hash = fold(self.hash, value.as_bytes());
            self.hash = fold(self.hash, &[0xff]);
        }
        self.hash = fold(self.hash, &[0xfe]);
        self.series += 1;
    }

    /// Adds one series given by an encoding of its labels (such as remote-write `Label` fields).
    pub fn series_bytes(&mut self, encoded: &[u8]) {
        self.hash = fold(self.hash, encoded);
        self.hash = fold(self.hash, &[0xfe]);
        self.series += 1;
    }

    /// Adds one sample of series number `series` (its index in the dataset).
    pub fn sample(&mut self, series: u32, t_ms: i64, v: f64) {
        self.hash = fold(self.hash, &series.to_le_bytes());
        self.hash = fold(self.hash, &t_ms.to_le_bytes());
        self.hash = fold(self.hash, &v.to_bits().to_le_bytes());
        self.samples += 1;
    }

    /// The digest so far as `series/samples/hash` (hash in hex): one string to record in a test
    /// and compare.
    pub fn summary(&self) -> String {
        format!("{}/{}/{:016x}", self.series, self.samples, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // Test vectors of the FNV reference implementation.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn order_and_bits_matter() {
        let mut a = DatasetDigest::new();
        a.series([("__name__", "up")]);
        a.sample(0, 1, 0.0);
        a.sample(0, 2, 1.0);
        let mut b = DatasetDigest::new();
        b.series([("__name__", "up")]);
        b.sample(0, 2, 1.0);
        b.sample(0, 1, 0.0);
        let mut c = DatasetDigest::new();
        c.series([("__name__", "up")]);
        c.sample(0, 1, -0.0);
        c.sample(0, 2, 1.0);
        assert_ne!(a.summary(), b.summary());
        assert_ne!(a.summary(), c.summary());
        assert!(a.summary().starts_with("1/2/"), "{}", a.summary());
    }
}
