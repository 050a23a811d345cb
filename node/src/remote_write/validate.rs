//! Validation of received series against the label rules and the configured limits, and the
//! assembly of a request's series into [`SeriesWrite`]s. Every error names the limit and the
//! series it is about.

use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Sample, SeriesKey};

use super::RemoteWriteError;
use crate::config::{NameValidation, WriteLimits};
use crate::shards::SeriesWrite;
use crate::shards::key_index::KeyIndex;

/// Longest series description quoted in an error message, in bytes.
const SERIES_DESCRIPTION_BYTES_MAX: usize = 256;

/// One series as received, before validation: labels (name, value) in the order sent, borrowed
/// from the request body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireSeries<'s> {
    pub labels: &'s [(&'s str, &'s str)],
    pub samples: Vec<Sample>,
    pub histograms: usize,
    pub exemplars: usize,
}

/// Checks series labels against the naming rules and the limits.
#[derive(Clone, Debug)]
pub struct Validator<'a> {
    limits: &'a WriteLimits,
    names: NameValidation,
}

impl<'a> Validator<'a> {
    pub fn new(limits: &'a WriteLimits, names: NameValidation) -> Self {
        Validator { limits, names }
    }

    /// The limits this validator enforces.
    pub fn limits(&self) -> &WriteLimits {
        self.limits
    }

    /// Validates labels as sent (sorted by name, unique, names valid, `__name__` present, within
    /// limits) and returns the series identity; labels with empty values are dropped, as
    /// Prometheus treats them as absent.
    pub fn series_key(&self, labels: &[(&str, &str)]) -> Result<SeriesKey, RemoteWriteError> {
        let bad = |what: String| {
            RemoteWriteError::Invalid(format!("series {}: {what}", describe(labels)))
        };
        let l = self.limits;
        if labels.len() > l.labels_per_series_max {
            return Err(bad(format!(
                "{} labels exceed the limit of {} (labels_per_series_max)",
                labels.len(),
                l.labels_per_series_max
            )));
        }
        let mut metric_name = None;
        for (i, &(name, value)) in labels.iter().enumerate() {
            if name.is_empty() {
                return Err(bad("empty label name".into()));
            }
            if name.len() > l.label_name_bytes_max {
                return Err(bad(format!(
                    "label name of {} bytes exceeds the limit of {} bytes (label_name_bytes_max)",
                    name.len(),
                    l.label_name_bytes_max
                )));
            }
            if value.len() > l.label_value_bytes_max {
                return Err(bad(format!(
                    "value of label {name:?} of {} bytes exceeds the limit of {} bytes (label_value_bytes_max)",
                    value.len(),
                    l.label_value_bytes_max
                )));
            }
            if !self.valid_label_name(name) {
                return Err(bad(format!("invalid label name {name:?}")));
            }
            if i > 0 {
                let prev = labels[i - 1].0;
                if prev == name {
                    return Err(bad(format!("duplicate label name {name:?}")));
                }
                if prev > name {
                    return Err(bad(format!(
                        "labels not sorted by name: {name:?} after {prev:?}"
                    )));
                }
            }
            if name == METRIC_NAME {
                metric_name = Some(value);
            }
        }
        match metric_name {
            None | Some("") => return Err(bad("metric name (label __name__) missing".into())),
            Some(name) if !self.valid_metric_name(name) => {
                return Err(bad(format!("invalid metric name {name:?}")));
            }
            Some(_) => {}
        }
        Ok(SeriesKey::from_sorted_pairs(labels))
    }

    fn valid_metric_name(&self, name: &str) -> bool {
        match self.names {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => legacy_name(name, true),
        }
    }

    fn valid_label_name(&self, name: &str) -> bool {
        match self.names {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => legacy_name(name, false),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` (metric names, `colons`) or `[a-zA-Z_][a-zA-Z0-9_]*` (label names).
fn legacy_name(name: &str, colons: bool) -> bool {
    let ok = |c: u8, first: bool| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (colons && c == b':')
            || (!first && c.is_ascii_digit())
    };
    !name.is_empty() && name.bytes().enumerate().all(|(i, c)| ok(c, i == 0))
}

/// Prometheus' notation for labels as sent, `{__name__="up", job="a"}`, shortened for messages.
pub fn describe(labels: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{name}={value:?}"));
        if out.len() > SERIES_DESCRIPTION_BYTES_MAX {
            let mut cut = SERIES_DESCRIPTION_BYTES_MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out.push('}');
    out
}

/// What a request carried besides its series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub samples: usize,
    pub histograms: usize,
    pub exemplars: usize,
}

/// Collects a request's validated series: merges series sent more than once, enforces the
/// per-request sample limit, sorts each series' samples by timestamp (stable).
pub struct Assembler<'a> {
    validator: &'a Validator<'a>,
    index: KeyIndex,
    series: Vec<SeriesWrite>,
    counts: Counts,
}

impl<'a> Assembler<'a> {
    /// Starts a request of `series_in_request` series; refuses it over `series_per_request_max`.
    pub fn new(
        validator: &'a Validator<'a>,
        series_in_request: usize,
    ) -> Result<Self, RemoteWriteError> {
        let max = validator.limits().series_per_request_max;
        if series_in_request > max {
            return Err(RemoteWriteError::Invalid(format!(
                "request has {series_in_request} series, more than the limit of {max} (series_per_request_max)"
            )));
        }
        Ok(Assembler {
            validator,
            index: KeyIndex::with_capacity(series_in_request),
            series: Vec::with_capacity(series_in_request),
            counts: Counts::default(),
        })
    }

    /// Validates and adds one series.
    pub fn add(&mut self, wire: WireSeries<'_>) -> Result<(), RemoteWriteError> {
        let max = self.validator.limits().samples_per_request_max;
        if self.counts.samples + wire.samples.len() > max {
            return Err(RemoteWriteError::Invalid(format!(
                "series {}: request has more than {max} samples (samples_per_request_max)",
                describe(wire.labels)
            )));
        }
        let key = self.validator.series_key(wire.labels)?;
        self.counts.samples += wire.samples.len();
        self.counts.histograms += wire.histograms;
        self.counts.exemplars += wire.exemplars;
        if wire.samples.is_empty() {
            return Ok(());
        }
        match self.index.find(&key, |i| &self.series[i].key) {
            Some(i) => self.series[i].samples.extend(wire.samples),
            None => {
                self.index.insert(&key, self.series.len());
                self.series.push(SeriesWrite {
                    key,
                    samples: wire.samples,
                });
            }
        }
        Ok(())
    }

    /// The series, samples sorted by timestamp (stable: equal timestamps keep their order).
    pub fn finish(mut self) -> (Vec<SeriesWrite>, Counts) {
        for s in &mut self.series {
            if !s.samples.is_sorted_by_key(|x| x.t) {
                s.samples.sort_by_key(|x| x.t);
            }
        }
        (self.series, self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_storage::Labels;

    fn err(r: Result<SeriesKey, RemoteWriteError>) -> String {
        match r {
            Err(RemoteWriteError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn accepts_sorted_labels_and_drops_empty_values() {
        let limits = WriteLimits::default();
        let v = Validator::new(&limits, NameValidation::Utf8);
        let got = v
            .series_key(&[("__name__", "up"), ("a", ""), ("job", "x")])
            .unwrap();
        assert_eq!(
            got,
            SeriesKey::from(&Labels::from_pairs(&[("__name__", "up"), ("job", "x")]))
        );
        // Prometheus 3: UTF-8 names.
        assert!(
            v.series_key(&[("__name__", "http.requests"), ("café", "1")])
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_labels_naming_the_series() {
        let limits = WriteLimits::default();
        let v = Validator::new(&limits, NameValidation::Utf8);
        let m = err(v.series_key(&[("job", "x"), ("__name__", "up")]));
        assert!(m.contains("not sorted") && m.contains(r#"job="x""#), "{m}");
        let m = err(v.series_key(&[("__name__", "up"), ("a", "1"), ("a", "2")]));
        assert!(m.contains("duplicate label name \"a\""), "{m}");
        assert!(err(v.series_key(&[("__name__", "up"), ("", "1")])).contains("empty label name"));
        assert!(err(v.series_key(&[("job", "x")])).contains("metric name"));
        assert!(err(v.series_key(&[("__name__", ""), ("job", "x")])).contains("metric name"));
        assert!(err(v.series_key(&[])).contains("metric name"));
    }

    #[test]
    fn legacy_names() {
        let limits = WriteLimits::default();
        let v = Validator::new(&limits, NameValidation::Legacy);
        assert!(v.series_key(&[("__name__", "a:b_c1")]).is_ok());
        assert!(err(v.series_key(&[("__name__", "1up")])).contains("invalid metric name"));
        assert!(
            err(v.series_key(&[("__name__", "up"), ("a:b", "1")])).contains("invalid label name")
        );
        assert!(
            err(v.series_key(&[("__name__", "up"), ("é", "1")])).contains("invalid label name")
        );
    }

    #[test]
    fn label_limits_name_the_limit() {
        let limits = WriteLimits {
            labels_per_series_max: 2,
            label_name_bytes_max: 8,
            label_value_bytes_max: 3,
            ..WriteLimits::default()
        };
        let v = Validator::new(&limits, NameValidation::Utf8);
        assert!(
            err(v.series_key(&[("__name__", "up"), ("a", "1"), ("b", "2")]))
                .contains("labels_per_series_max")
        );
        assert!(
            err(v.series_key(&[("__name__", "up"), ("abcdefghi", "1")]))
                .contains("label_name_bytes_max")
        );
        assert!(
            err(v.series_key(&[("__name__", "up"), ("a", "1234")]))
                .contains("label_value_bytes_max")
        );
        // The metric name is a label value too.
        assert!(err(v.series_key(&[("__name__", "long")])).contains("label_value_bytes_max"));
    }

    #[test]
    fn assembler_merges_sorts_and_bounds() {
        let limits = WriteLimits {
            samples_per_request_max: 4,
            series_per_request_max: 3,
            ..WriteLimits::default()
        };
        let v = Validator::new(&limits, NameValidation::Utf8);
        assert!(Assembler::new(&v, 4).is_err());
        let mut a = Assembler::new(&v, 3).unwrap();
        let up = [("__name__", "up")];
        a.add(WireSeries {
            labels: &up,
            samples: vec![Sample::new(3, 1.0), Sample::new(1, 2.0)],
            ..Default::default()
        })
        .unwrap();
        a.add(WireSeries {
            labels: &up,
            samples: vec![Sample::new(2, 3.0)],
            histograms: 2,
            exemplars: 1,
        })
        .unwrap();
        let m = match a.add(WireSeries {
            labels: &up,
            samples: vec![Sample::new(5, 0.0); 2],
            ..Default::default()
        }) {
            Err(RemoteWriteError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(
            m.contains("samples_per_request_max") && m.contains("up"),
            "{m}"
        );
        let (series, counts) = a.finish();
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            counts,
            Counts {
                samples: 3,
                histograms: 2,
                exemplars: 1
            }
        );
    }

    #[test]
    fn describe_is_bounded() {
        let long = "x".repeat(1000);
        let d = describe(&[("__name__", &long)]);
        assert!(d.len() < SERIES_DESCRIPTION_BYTES_MAX + 10, "{}", d.len());
    }
}
