//! Metric metadata (type, help, unit) in the meta group's replicated state: what
//! `/api/v1/metadata` answers on every node, across restarts.
//!
//! Per metric name the distinct entries seen, oldest first, as Prometheus lists the distinct
//! entries of its targets: two exporters that disagree on a metric's help text show both,
//! and neither replaces the other at every write (which would make every write a proposal).
//! Bounded: at most [`VARIANTS_MAX`] entries per name and the command's `names_max` names
//! (further entries and names are ignored: replacing old ones would make exporters that keep
//! sending them propose them again and again), names and units at most
//! [`METADATA_BYTES_MAX`] bytes and help texts cut there, as Mimir's `max_metadata_length`
//! does, and at most [`MAP_BYTES_MAX`] bytes in all (what every node holds in memory and a
//! meta snapshot carries). Nothing expires yet. These bounds are inputs of apply: changing
//! one needs a new command level.
//!
//! A proposer sends only what the map does not hold yet ([`MetadataMap::missing`]); apply
//! decides from the command and the map alone.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use tidemark_ingest::MetricMetadata;

/// Most distinct entries kept per metric name.
pub const VARIANTS_MAX: usize = 8;

/// Longest metric name or unit kept, and where a help text is cut, in bytes.
pub const METADATA_BYTES_MAX: usize = 1024;

/// Most bytes of metadata the map holds ([`entry_bytes`] summed).
pub const MAP_BYTES_MAX: usize = 64 << 20;

/// The bytes one entry counts for: its texts and a fixed overhead.
pub fn entry_bytes(name: &str, md: &MetricMetadata) -> usize {
    name.len() + md.help.len() + md.unit.len() + 32
}

/// Metadata per metric name, as the meta group applied it. Serialized as its map of entries
/// (without a copy: a snapshot serializes it under the state machine's lock).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Entries")]
pub struct MetadataMap {
    by_metric: Entries,
    /// [`entry_bytes`] of every entry held.
    bytes: usize,
}

type Entries = BTreeMap<String, Vec<MetricMetadata>>;

impl From<Entries> for MetadataMap {
    fn from(by_metric: Entries) -> Self {
        let bytes = by_metric
            .iter()
            .flat_map(|(name, v)| v.iter().map(move |md| entry_bytes(name, md)))
            .sum();
        MetadataMap { by_metric, bytes }
    }
}

impl Serialize for MetadataMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_metric.serialize(s)
    }
}

/// What a proposer makes of one received entry: `None` when it cannot be kept (empty, or a
/// name or unit too long), otherwise the entry with its help cut to [`METADATA_BYTES_MAX`].
pub fn normalized(name: &str, md: &MetricMetadata) -> Option<MetricMetadata> {
    if !keepable(name, md) {
        return None;
    }
    let mut md = md.clone();
    if md.help.len() > METADATA_BYTES_MAX {
        let mut end = METADATA_BYTES_MAX;
        while !md.help.is_char_boundary(end) {
            end -= 1;
        }
        md.help.truncate(end);
    }
    Some(md)
}

/// Whether `md` may be kept under `name` once its help is cut: something said, name and unit
/// within [`METADATA_BYTES_MAX`].
fn keepable(name: &str, md: &MetricMetadata) -> bool {
    !name.is_empty()
        && !md.is_empty()
        && name.len() <= METADATA_BYTES_MAX
        && md.unit.len() <= METADATA_BYTES_MAX
}

/// Whether apply keeps `md` under `name` (what [`normalized`] makes passes).
fn acceptable(name: &str, md: &MetricMetadata) -> bool {
    keepable(name, md) && md.help.len() <= METADATA_BYTES_MAX
}

impl MetadataMap {
    /// A map of the given entries (a snapshot's, or what the log database holds).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Vec<MetricMetadata>)>) -> Self {
        MetadataMap::from(entries.into_iter().collect::<Entries>())
    }

    /// Bytes held ([`entry_bytes`] summed).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of metric names.
    pub fn len(&self) -> usize {
        self.by_metric.len()
    }

    /// Whether no metadata is known.
    pub fn is_empty(&self) -> bool {
        self.by_metric.is_empty()
    }

    /// The entries of `name`, oldest first.
    pub fn get(&self, name: &str) -> Option<&[MetricMetadata]> {
        self.by_metric.get(name).map(Vec::as_slice)
    }

    /// Every name and its entries, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<MetricMetadata>)> {
        self.by_metric.iter()
    }

    /// Of `received`, normalized, what applying would add, each distinct entry once, and how
    /// many entries were left out because the map (with the entries before them) would exceed
    /// `names_max` names, [`VARIANTS_MAX`] entries for a name or [`MAP_BYTES_MAX`] bytes.
    /// Cheap for what is known already (no copy).
    pub fn missing<'a>(
        &self,
        received: impl IntoIterator<Item = &'a (String, MetricMetadata)>,
        names_max: usize,
    ) -> (Vec<(String, MetricMetadata)>, usize) {
        let mut out: Vec<(String, MetricMetadata)> = Vec::new();
        let mut added: HashSet<(String, MetricMetadata)> = HashSet::new();
        let mut new_names: HashSet<&str> = HashSet::new();
        let mut bytes = self.bytes;
        let mut ignored = 0;
        for (name, md) in received {
            let known = self.by_metric.get(name);
            if known.is_some_and(|v| v.contains(md)) {
                continue;
            }
            let Some(md) = normalized(name, md) else {
                continue;
            };
            if known.is_some_and(|v| v.contains(&md)) || added.contains(&(name.clone(), md.clone()))
            {
                continue;
            }
            let size = entry_bytes(name, &md);
            let new_name = known.is_none() && !new_names.contains(name.as_str());
            let variants =
                known.map_or(0, Vec::len) + out.iter().filter(|(n, _)| n == name).count();
            if bytes + size > MAP_BYTES_MAX
                || variants >= VARIANTS_MAX
                || (new_name && self.by_metric.len() + new_names.len() >= names_max)
            {
                ignored += 1;
                continue;
            }
            if new_name {
                new_names.insert(name);
            }
            bytes += size;
            added.insert((name.clone(), md.clone()));
            out.push((name.clone(), md));
        }
        (out, ignored)
    }

    /// Applies a `SetMetadata` command: adds each entry not known yet. Returns the names that
    /// changed, in name order, each once.
    pub fn apply(&mut self, entries: &[(String, MetricMetadata)], names_max: u64) -> Vec<String> {
        let mut changed = Vec::new();
        for (name, md) in entries {
            if !acceptable(name, md) {
                continue;
            }
            let names = self.by_metric.len() as u64;
            let size = entry_bytes(name, md);
            if self.bytes + size > MAP_BYTES_MAX {
                continue;
            }
            match self.by_metric.get_mut(name) {
                Some(known) if known.contains(md) || known.len() >= VARIANTS_MAX => continue,
                Some(known) => known.push(md.clone()),
                None if names < names_max => {
                    self.by_metric.insert(name.clone(), vec![md.clone()]);
                }
                None => continue,
            }
            self.bytes += size;
            changed.push(name.clone());
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// `/api/v1/metadata`'s answer, in name order: only `metric` when given, at most `limit`
    /// names and `limit_per_metric` entries per name (each `None`: no limit).
    pub fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> Vec<(String, Vec<MetricMetadata>)> {
        let per = |v: &Vec<MetricMetadata>| {
            v.iter()
                .take(limit_per_metric.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        match metric {
            Some(m) => self
                .by_metric
                .get(m)
                .map(|v| (m.to_string(), per(v)))
                .into_iter()
                .collect(),
            None => self
                .by_metric
                .iter()
                .take(limit.unwrap_or(usize::MAX))
                .map(|(k, v)| (k.clone(), per(v)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_ingest::MetricType;

    fn md(help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        }
    }

    fn entry(name: &str, help: &str) -> (String, MetricMetadata) {
        (name.to_string(), md(help))
    }

    #[test]
    fn keeps_distinct_entries_per_name_and_is_bounded() {
        let mut map = MetadataMap::default();
        assert_eq!(
            map.apply(&[entry("b", "1"), entry("a", "1"), entry("a", "1")], 2),
            vec!["a", "b"]
        );
        // Known entries change nothing; a second help text is kept beside the first; a third
        // name does not fit.
        assert!(map.apply(&[entry("a", "1")], 2).is_empty());
        assert_eq!(map.apply(&[entry("a", "2"), entry("c", "1")], 2), ["a"]);
        assert_eq!(map.get("a"), Some(&[md("1"), md("2")][..]));
        assert_eq!(map.get("c"), None);
        // Past VARIANTS_MAX entries a name takes no more (it would churn otherwise), and
        // missing() says so.
        let many: Vec<_> = (0..VARIANTS_MAX + 2)
            .map(|i| entry("b", &format!("v{i}")))
            .collect();
        let (missing, ignored) = map.missing(&many, 2);
        assert_eq!((missing.len(), ignored), (VARIANTS_MAX - 1, 3));
        assert_eq!(map.apply(&many, 2), ["b"]);
        let b = map.get("b").unwrap();
        assert_eq!(b.len(), VARIANTS_MAX);
        assert_eq!(b[0], md("1"));
        assert_eq!(b[VARIANTS_MAX - 1], md(&format!("v{}", VARIANTS_MAX - 2)));
        assert!(map.missing(&many, 2).0.is_empty(), "nothing proposed again");
        // Apply skips what no proposer sends: empty entries, names past the bound.
        let long = "x".repeat(METADATA_BYTES_MAX + 1);
        let mut fresh = MetadataMap::default();
        let unknown = (String::from("u"), MetricMetadata::default());
        assert!(
            fresh
                .apply(&[unknown, entry(&long, "h"), entry("", "h")], 10)
                .is_empty()
        );
    }

    #[test]
    fn missing_is_what_apply_would_add() {
        let mut map = MetadataMap::default();
        map.apply(&[entry("a", "1"), entry("b", "1")], 3);
        let received = [
            entry("a", "1"),
            entry("a", "2"),
            entry("a", "2"),
            entry("c", "1"),
            entry("c", "2"),
            entry("d", "1"),
            (String::from("e"), MetricMetadata::default()),
        ];
        let (missing, ignored) = map.missing(&received, 3);
        assert_eq!(missing, [entry("a", "2"), entry("c", "1"), entry("c", "2")]);
        assert_eq!(ignored, 1, "d does not fit beside a, b and c");
        let mut applied = map.clone();
        let changed = applied.apply(&missing, 3);
        assert_eq!(changed, ["a", "c"]);
        assert!(applied.missing(&received[..6], 3).0.is_empty());
    }

    #[test]
    fn bytes_are_counted_through_apply_and_serialization() {
        let mut map = MetadataMap::default();
        let many: Vec<_> = (0..VARIANTS_MAX + 3)
            .map(|i| entry("b", &format!("v{i}")))
            .chain([entry("a", "help")])
            .collect();
        map.apply(&many, 10);
        let held: usize = map
            .iter()
            .flat_map(|(n, v)| v.iter().map(move |m| entry_bytes(n, m)))
            .sum();
        assert_eq!(map.bytes(), held);
        let bytes = crate::raft::codec::encode(&map).unwrap();
        let back: MetadataMap = crate::raft::codec::decode(&bytes).unwrap();
        assert_eq!(back, map);
        assert_eq!(back.bytes(), held);
    }

    #[test]
    fn help_is_cut_at_a_character_boundary_and_long_units_dropped() {
        let help = "é".repeat(METADATA_BYTES_MAX);
        let cut = normalized("m", &md(&help)).unwrap();
        assert_eq!(cut.help.len(), METADATA_BYTES_MAX);
        assert!(cut.help.chars().all(|c| c == 'é'));
        let mut unit = md("h");
        unit.unit = "u".repeat(METADATA_BYTES_MAX + 1);
        assert_eq!(normalized("m", &unit), None);
        assert_eq!(normalized("m", &MetricMetadata::default()), None);
    }

    #[test]
    fn lists_with_prometheus_limits() {
        let mut map = MetadataMap::default();
        map.apply(&[entry("a", "1"), entry("a", "2"), entry("b", "1")], 10);
        assert_eq!(map.list(None, None, None).len(), 2);
        assert_eq!(
            map.list(None, Some(1), None),
            [("a".into(), vec![md("1"), md("2")])]
        );
        assert_eq!(
            map.list(Some("a"), None, Some(1)),
            [("a".into(), vec![md("1")])]
        );
        assert!(map.list(Some("zz"), None, None).is_empty());
    }
}
