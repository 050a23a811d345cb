//! The data model every crate shares: labels, samples, matchers and ids.

use std::fmt;

/// A shard of the cluster's series space (`xxh3_64(canonical labels) % S`).
pub type ShardId = u32;
/// A series id, unique within one shard and assigned deterministically at apply.
pub type SeriesId = u32;

/// The Prometheus stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the Prometheus stale marker (not just any NaN).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One label pair.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name with unique names: the identity of a series. `__name__` is a label.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Labels(Vec<Label>);

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

impl Labels {
    /// Builds a label set, sorting by name. Later duplicates of a name replace earlier ones;
    /// empty values are dropped (Prometheus treats an empty value as an absent label).
    pub fn new(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|later, earlier| {
            if later.name == earlier.name {
                std::mem::swap(&mut earlier.value, &mut later.value);
                true
            } else {
                false
            }
        });
        Labels(labels)
    }

    /// Wraps labels the caller guarantees to be sorted by name and unique (checked in debug builds).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// Convenience for tests and literals: `Labels::from_pairs(&[("__name__", "up"), ("job", "x")])`.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Labels::new(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The canonical byte encoding ([`encode_canonical`]).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        encode_canonical(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Decodes a canonical encoding, skipping a malformed pair (the registry checks what it
    /// recovers; the write path builds keys only from validated labels).
    pub(crate) fn from_canonical(bytes: &[u8]) -> Labels {
        // Sized up front (two separators per label): queries build this for every series.
        let mut v = Vec::with_capacity(bytes.iter().filter(|&&b| b == CANONICAL_SEP).count() / 2);
        for (n, val) in decode_pairs(bytes).flatten() {
            v.push(Label::new(n, val));
        }
        Labels::from_sorted(v)
    }

    /// `xxh3_64` of the canonical encoding: the hash that places a series on a shard.
    pub fn hash64(&self) -> u64 {
        // Streams the canonical encoding through the hasher: the same hash as hashing
        // `canonical_bytes()`, without building it.
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in &self.0 {
            h.update(l.name.as_bytes());
            h.update(&[CANONICAL_SEP]);
            h.update(l.value.as_bytes());
            h.update(&[CANONICAL_SEP]);
        }
        h.digest()
    }

    /// The shard of this series when there are `shard_count` shards.
    pub fn shard(&self, shard_count: u32) -> ShardId {
        shard_of_hash(self.hash64(), shard_count)
    }
}

/// Separator after every name and value in the canonical encoding. Valid UTF-8 never contains
/// 0xff, so the encoding is unambiguous.
pub(crate) const CANONICAL_SEP: u8 = 0xff;

/// The canonical encoding of labels sorted by name: `name 0xff value 0xff` per label. The
/// identity of a series in the registry and on the wire between nodes; its `xxh3_64` places the
/// series on a shard ([`shard_of_hash`]).
pub(crate) fn encode_canonical<'a>(
    labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.clone().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (name, value) in labels {
        out.extend_from_slice(name.as_bytes());
        out.push(CANONICAL_SEP);
        out.extend_from_slice(value.as_bytes());
        out.push(CANONICAL_SEP);
    }
    out
}

/// Splits canonical label bytes into pairs; `None` for a malformed pair.
pub(crate) fn decode_pairs(bytes: &[u8]) -> impl Iterator<Item = Option<(&str, &str)>> {
    let mut parts = bytes.split(|&b| b == CANONICAL_SEP);
    std::iter::from_fn(move || {
        let name = parts.next()?;
        // The encoding ends with the separator, so the split yields a final empty part.
        if name.is_empty() && parts.clone().next().is_none() {
            return None;
        }
        let value = parts.next();
        Some(
            match (std::str::from_utf8(name), value.map(std::str::from_utf8)) {
                (Ok(n), Some(Ok(v))) => Some((n, v)),
                _ => None,
            },
        )
    })
}

/// The shard of a series whose canonical encoding hashes to `hash`, among `shard_count`.
pub(crate) fn shard_of_hash(hash: u64, shard_count: u32) -> ShardId {
    (hash % u64::from(shard_count.max(1))) as ShardId
}

impl fmt::Display for Labels {
    /// Prometheus' notation: `name{a="x", b="y"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        write!(f, "}}")
    }
}

/// One float sample.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Self {
        Sample { t, v }
    }

    /// Same timestamp and bit-identical value (so NaN == NaN, stale marker == stale marker).
    pub fn identical(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// How a matcher compares a label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    /// Fully anchored RE2-style regular expression.
    Regex,
    NotRegex,
}

/// A label matcher as in `{job=~"api.*"}`. A label that is absent matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; regex matchers are compiled anchored (`^(?:...)$`) as Prometheus does.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(regex::Regex::new(&format!("^(?s:{value})$"))?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher::new(MatchOp::Equal, name, value).expect("equality matchers always build")
    }

    /// Whether a label value (empty string for an absent label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether this matcher matches the empty string (and so also series without the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether the whole label set matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_dedup_and_drop_empty() {
        let l = Labels::new(vec![
            Label::new("b", "2"),
            Label::new("a", "1"),
            Label::new("c", ""),
            Label::new("b", "3"),
        ]);
        assert_eq!(l, Labels::from_pairs(&[("a", "1"), ("b", "3")]));
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn hash64_is_xxh3_of_the_canonical_encoding() {
        // Shard placement is part of the cluster's format: pin the encoding and the hash.
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let expected = xxhash_rust::xxh3::xxh3_64(b"__name__\xffup\xffjob\xffa\xff");
        assert_eq!(l.canonical_bytes(), b"__name__\xffup\xffjob\xffa\xff");
        assert_eq!(l.hash64(), expected);
        assert_eq!(Labels::default().hash64(), xxhash_rust::xxh3::xxh3_64(b""));
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let m = Matcher::new(MatchOp::Regex, "job", "api").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("xapi"));
        let m = Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap();
        assert!(m.matches(""));
        assert!(!m.matches("abc"));
    }

    #[test]
    fn stale_marker_is_a_specific_nan() {
        assert!(is_stale_nan(f64::from_bits(STALE_NAN_BITS)));
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn display_matches_prometheus_notation() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(l.to_string(), "up{job=\"a\\\"b\"}");
    }
}
