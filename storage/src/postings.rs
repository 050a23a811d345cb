//! Postings: for each time partition, label name and value, the roaring bitmap of the series
//! ids that have that label and at least one sample in the partition; and matcher evaluation
//! over any source of postings (in-memory for open partitions, the backend for sealed ones).

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::model::{MatchOp, Matcher, SeriesId};

/// Read access to the postings of one partition.
pub(crate) trait PostingsSource {
    /// Every series of the partition.
    fn all(&self) -> Result<RoaringBitmap>;
    /// Series with label `name` = `value` (empty when none).
    fn get(&self, name: &str, value: &str) -> Result<RoaringBitmap>;
    /// Calls `f` for every value of `name` with its series.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) -> Result<()>;
    /// The label names present in the partition.
    fn names(&self) -> Result<Vec<String>>;
}

/// The in-memory postings of one partition.
#[derive(Default)]
pub(crate) struct PartitionPostings {
    /// Every series with a sample in the partition.
    pub all: RoaringBitmap,
    /// name -> value -> series.
    pub by_label: BTreeMap<Box<str>, BTreeMap<Box<str>, RoaringBitmap>>,
    /// Series added since the last flush (their label keys are rewritten by the next flush).
    pub unflushed: RoaringBitmap,
    /// Whether a `Seal` has been applied (dropped from memory once flushed).
    pub sealed: bool,
}

impl PartitionPostings {
    /// Whether `id` already has postings here.
    pub fn contains(&self, id: SeriesId) -> bool {
        self.all.contains(id)
    }

    /// Adds `id` under each of its label pairs.
    pub fn add<'a>(&mut self, id: SeriesId, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if !self.all.insert(id) {
            return;
        }
        self.unflushed.insert(id);
        for (name, value) in pairs {
            let values = match self.by_label.get_mut(name) {
                Some(v) => v,
                None => self.by_label.entry(name.into()).or_default(),
            };
            match values.get_mut(value) {
                Some(bm) => {
                    bm.insert(id);
                }
                None => {
                    values.insert(value.into(), RoaringBitmap::from_iter([id]));
                }
            }
        }
    }

    /// Heap bytes held (approximate, for statistics).
    pub fn heap_bytes(&self) -> usize {
        let mut n = self.all.serialized_size() + self.unflushed.serialized_size();
        for (name, values) in &self.by_label {
            n += name.len() + 48;
            for (v, bm) in values {
                n += v.len() + 48 + bm.serialized_size();
            }
        }
        n
    }
}

impl PostingsSource for PartitionPostings {
    fn all(&self) -> Result<RoaringBitmap> {
        Ok(self.all.clone())
    }

    fn get(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        Ok(self
            .by_label
            .get(name)
            .and_then(|v| v.get(value))
            .cloned()
            .unwrap_or_default())
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) -> Result<()> {
        if let Some(values) = self.by_label.get(name) {
            for (v, bm) in values {
                f(v, bm);
            }
        }
        Ok(())
    }

    fn names(&self) -> Result<Vec<String>> {
        Ok(self.by_label.keys().map(|k| k.to_string()).collect())
    }
}

/// The series of `src` matching every matcher. Matchers that do not match the empty string
/// select (their postings are intersected smallest first); matchers that do match it (such as
/// `a=""` or `a!="x"`, which also match series without `a`) subtract the series whose value
/// fails them. With no selecting matcher the start is every series of the partition.
pub(crate) fn select(src: &dyn PostingsSource, matchers: &[Matcher]) -> Result<RoaringBitmap> {
    let mut selecting: Vec<RoaringBitmap> = Vec::new();
    let mut excluded = RoaringBitmap::new();
    for m in matchers {
        if m.matches_empty() {
            src.for_each_value(&m.name, &mut |v, bm| {
                if !m.matches(v) {
                    excluded |= bm;
                }
            })?;
        } else if m.op == MatchOp::Equal {
            let bm = src.get(&m.name, &m.value)?;
            if bm.is_empty() {
                return Ok(bm);
            }
            selecting.push(bm);
        } else {
            let mut union = RoaringBitmap::new();
            src.for_each_value(&m.name, &mut |v, bm| {
                if m.matches(v) {
                    union |= bm;
                }
            })?;
            if union.is_empty() {
                return Ok(union);
            }
            selecting.push(union);
        }
    }
    selecting.sort_by_key(|b| b.len());
    let mut iter = selecting.into_iter();
    let mut result = match iter.next() {
        Some(first) => first,
        None => src.all()?,
    };
    for bm in iter {
        if result.is_empty() {
            break;
        }
        result &= bm;
    }
    result -= excluded;
    Ok(result)
}

/// Label names of `candidates` (every name of the partition when `candidates` is `None`).
pub(crate) fn names_of(
    src: &dyn PostingsSource,
    candidates: Option<&RoaringBitmap>,
    out: &mut BTreeSet<String>,
) -> Result<()> {
    for name in src.names()? {
        if out.contains(&name) {
            continue;
        }
        let mut hit = candidates.is_none();
        if let Some(c) = candidates {
            src.for_each_value(&name, &mut |_, bm| hit = hit || !bm.is_disjoint(c))?;
        }
        if hit {
            out.insert(name);
        }
    }
    Ok(())
}

/// Values of label `name` among `candidates` (all series when `None`).
pub(crate) fn values_of(
    src: &dyn PostingsSource,
    name: &str,
    candidates: Option<&RoaringBitmap>,
    out: &mut BTreeSet<String>,
) -> Result<()> {
    src.for_each_value(name, &mut |v, bm| {
        if !out.contains(v) && candidates.is_none_or(|c| !bm.is_disjoint(c)) {
            out.insert(v.to_string());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PartitionPostings {
        let mut p = PartitionPostings::default();
        p.add(0, [("__name__", "up"), ("job", "api")]);
        p.add(1, [("__name__", "up"), ("job", "db")]);
        p.add(2, [("__name__", "up")]);
        p.add(3, [("__name__", "req"), ("job", "api")]);
        p
    }

    fn ids(bm: RoaringBitmap) -> Vec<u32> {
        bm.iter().collect()
    }

    #[test]
    fn all_matcher_kinds() {
        let p = sample();
        let up = Matcher::equal("__name__", "up");
        assert_eq!(
            ids(select(&p, std::slice::from_ref(&up)).unwrap()),
            vec![0, 1, 2]
        );
        let ne = Matcher::new(MatchOp::NotEqual, "job", "api").unwrap();
        assert_eq!(ids(select(&p, &[up.clone(), ne]).unwrap()), vec![1, 2]);
        let re = Matcher::new(MatchOp::Regex, "job", "a.*|d.*").unwrap();
        assert_eq!(ids(select(&p, &[re]).unwrap()), vec![0, 1, 3]);
        let nre = Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap();
        assert_eq!(ids(select(&p, &[up.clone(), nre]).unwrap()), vec![1, 2]);
        let absent = Matcher::equal("job", "");
        assert_eq!(ids(select(&p, &[up.clone(), absent]).unwrap()), vec![2]);
        let present = Matcher::new(MatchOp::NotEqual, "job", "").unwrap();
        assert_eq!(ids(select(&p, &[present]).unwrap()), vec![0, 1, 3]);
        assert!(
            select(&p, &[Matcher::equal("job", "nope"), up])
                .unwrap()
                .is_empty()
        );
        assert_eq!(ids(select(&p, &[]).unwrap()), vec![0, 1, 2, 3]);
    }

    #[test]
    fn names_and_values_follow_candidates() {
        let p = sample();
        let mut names = BTreeSet::new();
        let c = select(&p, &[Matcher::equal("job", "")]).unwrap();
        names_of(&p, Some(&c), &mut names).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["__name__"]);
        let mut vals = BTreeSet::new();
        values_of(&p, "job", None, &mut vals).unwrap();
        assert_eq!(vals.into_iter().collect::<Vec<_>>(), vec!["api", "db"]);
    }
}
