//! Validation of received series against the label rules and the configured limits, and the
//! assembly of a request's series into [`SeriesWrite`]s. Every error names the limit and the
//! series it is about.

use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Sample, SeriesKey};

use tidemark_storage::KeyIndex;

use crate::{DecodeLimits, HistogramWrite, NameValidation, RemoteWriteError, SeriesWrite};

/// Longest series description quoted in an error message, in bytes.
const SERIES_DESCRIPTION_BYTES_MAX: usize = 256;

/// One series as received, before validation: labels (name, value) in the order sent, borrowed
/// from the request body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireSeries<'s> {
    pub labels: &'s [(&'s str, &'s str)],
    pub samples: Vec<Sample>,
    /// Valid histogram samples.
    pub histograms: Vec<HistogramSample>,
    /// Invalid histogram samples of the series.
    pub invalid_histograms: usize,
    /// Why, for the first few of them (without the series).
    pub histogram_reasons: Vec<String>,
    /// Histogram messages not decoded: the request already holds more samples than it may
    /// ([`Assembler::samples_left`]), so it fails as a whole.
    pub undecoded_histograms: usize,
    pub exemplars: usize,
    /// Why the series is invalid already as decoded (a label that is not UTF-8).
    pub invalid: Option<String>,
}

/// Checks series labels against the naming rules and the limits.
#[derive(Clone, Debug)]
pub struct Validator<'a> {
    limits: &'a DecodeLimits,
    names: NameValidation,
}

impl<'a> Validator<'a> {
    pub fn new(limits: &'a DecodeLimits, names: NameValidation) -> Self {
        Validator { limits, names }
    }

    /// The limits this validator enforces.
    pub fn limits(&self) -> &DecodeLimits {
        self.limits
    }

    /// Validates labels as sent (unique, names valid, `__name__` present, within limits) and
    /// returns the series identity: labels sorted by name (senders such as vmagent append
    /// target labels unsorted), those with empty values dropped, as Prometheus treats them as
    /// absent. The shard is chosen by this identity, so the log and every replica see only it.
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
        for &(name, value) in labels {
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
        // Strictly ascending names are sorted and unique: the common case costs no copy.
        if labels.is_sorted_by(|a, b| a.0 < b.0) {
            return Ok(SeriesKey::from_sorted_pairs(labels));
        }
        let mut sorted = labels.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(bad(format!("duplicate label name {:?}", w[0].0)));
        }
        Ok(SeriesKey::from_sorted_pairs(&sorted))
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

/// Most reasons kept for the series a request had refused (the answer quotes them).
const REFUSED_REASONS_MAX: usize = 3;

/// The series of a request that were not written because they are invalid (bad or duplicate
/// label names, no metric name, a label limit exceeded). The rest of the request is written:
/// no sender can make an invalid series valid by retrying, and failing the whole request would
/// make it drop every valid series with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    pub series: usize,
    /// Float and histogram samples of those series.
    pub samples: usize,
    /// The first few reasons, each naming its series.
    pub reasons: Vec<String>,
    /// Invalid histogram samples of valid series (the series' other samples are written).
    pub histograms: usize,
    /// The first few reasons for those, each naming its series.
    pub histogram_reasons: Vec<String>,
}

impl Refused {
    fn add(&mut self, samples: usize, reason: String) {
        self.series += 1;
        self.samples += samples;
        if self.reasons.len() < REFUSED_REASONS_MAX {
            self.reasons.push(reason);
        }
    }

    fn add_histograms(&mut self, labels: &[(&str, &str)], invalid: usize, reasons: &[String]) {
        self.histograms += invalid;
        for r in reasons {
            if self.histogram_reasons.len() >= REFUSED_REASONS_MAX {
                break;
            }
            self.histogram_reasons
                .push(format!("series {}: {r}", describe(labels)));
        }
    }
}

/// Collects a request's validated series: merges series sent more than once, sets invalid
/// series aside ([`Refused`]), enforces the per-request sample limit, sorts each series'
/// samples by timestamp (stable).
pub struct Assembler<'a> {
    validator: &'a Validator<'a>,
    index: KeyIndex,
    series: Vec<SeriesWrite>,
    histogram_index: KeyIndex,
    histogram_series: Vec<HistogramWrite>,
    counts: Counts,
    refused: Refused,
    /// Float and histogram samples received so far, refused series' too.
    received_samples: usize,
}

impl<'a> Assembler<'a> {
    /// Starts a request of `series_in_request` series; refuses it over `series_per_request_max`.
    pub fn new(
        validator: &'a Validator<'a>,
        series_in_request: usize,
    ) -> Result<Self, RemoteWriteError> {
        let max = validator.limits().series_per_request_max;
        if series_in_request > max {
            return Err(RemoteWriteError::TooLarge(format!(
                "request has {series_in_request} series, more than the limit of {max} (series_per_request_max); send smaller batches"
            )));
        }
        Ok(Assembler {
            validator,
            index: KeyIndex::with_capacity(series_in_request),
            series: Vec::with_capacity(series_in_request),
            histogram_index: KeyIndex::with_capacity(0),
            histogram_series: Vec::new(),
            counts: Counts::default(),
            refused: Refused::default(),
            received_samples: 0,
        })
    }

    /// Samples the request may still hold (float and histogram) before it is too large: a
    /// decoder stops decoding histograms past it, only counting them.
    pub fn samples_left(&self) -> usize {
        self.validator
            .limits()
            .samples_per_request_max
            .saturating_sub(self.received_samples)
    }

    /// Validates and adds one series, or sets it aside when it is invalid. Fails only on what
    /// fails the whole request (its size).
    pub fn add(&mut self, wire: WireSeries<'_>) -> Result<(), RemoteWriteError> {
        let max = self.validator.limits().samples_per_request_max;
        self.received_samples += wire.samples.len()
            + wire.histograms.len()
            + wire.invalid_histograms
            + wire.undecoded_histograms;
        if self.received_samples > max {
            return Err(RemoteWriteError::TooLarge(format!(
                "request has more than {max} samples (samples_per_request_max); send smaller batches"
            )));
        }
        let checked = match wire.invalid {
            Some(reason) => Err(RemoteWriteError::Invalid(format!(
                "series {}: {reason}",
                describe(wire.labels)
            ))),
            None => self.validator.series_key(wire.labels),
        };
        let key = match checked {
            Ok(key) => key,
            Err(RemoteWriteError::Invalid(reason)) => {
                let histograms = wire.histograms.len() + wire.invalid_histograms;
                self.refused.add(wire.samples.len() + histograms, reason);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.counts.samples += wire.samples.len();
        self.counts.histograms += wire.histograms.len();
        self.counts.exemplars += wire.exemplars;
        if wire.invalid_histograms > 0 {
            self.refused.add_histograms(
                wire.labels,
                wire.invalid_histograms,
                &wire.histogram_reasons,
            );
        }
        if !wire.histograms.is_empty() {
            let found = self
                .histogram_index
                .find(&key, |i| &self.histogram_series[i].key);
            match found {
                Some(i) => self.histogram_series[i].samples.extend(wire.histograms),
                None => {
                    self.histogram_index
                        .insert(&key, self.histogram_series.len());
                    self.histogram_series.push(HistogramWrite {
                        key: key.clone(),
                        samples: wire.histograms,
                    });
                }
            }
        }
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

    /// The valid series with float samples and those with histogram samples, samples sorted
    /// by timestamp (stable: equal timestamps keep their order), what they carried, and what
    /// was refused.
    pub fn finish(mut self) -> (Vec<SeriesWrite>, Vec<HistogramWrite>, Counts, Refused) {
        for s in &mut self.series {
            if !s.samples.is_sorted_by_key(|x| x.t) {
                s.samples.sort_by_key(|x| x.t);
            }
        }
        for s in &mut self.histogram_series {
            if !s.samples.is_sorted_by_key(|x| x.t) {
                s.samples.sort_by_key(|x| x.t);
            }
        }
        (
            self.series,
            self.histogram_series,
            self.counts,
            self.refused,
        )
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
        let limits = DecodeLimits::default();
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
    fn unsorted_labels_are_sorted() {
        let limits = DecodeLimits::default();
        let v = Validator::new(&limits, NameValidation::Utf8);
        // vmagent appends target labels after the scraped ones.
        let got = v
            .series_key(&[
                ("__name__", "vm_cache_chars_current"),
                ("type", "promql/regexp"),
                ("instance", "127.0.0.1:19429"),
                ("job", "vmagent"),
            ])
            .unwrap();
        let sorted = v
            .series_key(&[
                ("__name__", "vm_cache_chars_current"),
                ("instance", "127.0.0.1:19429"),
                ("job", "vmagent"),
                ("type", "promql/regexp"),
            ])
            .unwrap();
        assert_eq!(got, sorted);
        assert_eq!(got.hash64(), sorted.hash64());
        let m = err(v.series_key(&[("job", "x"), ("__name__", "up"), ("job", "y")]));
        assert!(
            m.contains("duplicate label name \"job\"") && m.contains(r#"job="x""#),
            "{m}"
        );
    }

    #[test]
    fn rejects_bad_labels_naming_the_series() {
        let limits = DecodeLimits::default();
        let v = Validator::new(&limits, NameValidation::Utf8);
        let m = err(v.series_key(&[("__name__", "up"), ("a", "1"), ("a", "2")]));
        assert!(m.contains("duplicate label name \"a\""), "{m}");
        assert!(err(v.series_key(&[("__name__", "up"), ("", "1")])).contains("empty label name"));
        assert!(err(v.series_key(&[("job", "x")])).contains("metric name"));
        assert!(err(v.series_key(&[("__name__", ""), ("job", "x")])).contains("metric name"));
        assert!(err(v.series_key(&[])).contains("metric name"));
    }

    #[test]
    fn legacy_names() {
        let limits = DecodeLimits::default();
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
        let limits = DecodeLimits {
            labels_per_series_max: 2,
            label_name_bytes_max: 8,
            label_value_bytes_max: 3,
            ..DecodeLimits::default()
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

    fn hist(t: i64) -> HistogramSample {
        HistogramSample {
            t,
            h: tidemark_storage::histogram::HistogramValue::Int(Default::default()),
        }
    }

    #[test]
    fn assembler_merges_sorts_and_bounds() {
        // Histogram samples count toward the sample limit too.
        let limits = DecodeLimits {
            samples_per_request_max: 7,
            series_per_request_max: 4,
            ..DecodeLimits::default()
        };
        let v = Validator::new(&limits, NameValidation::Utf8);
        assert!(matches!(
            Assembler::new(&v, 5),
            Err(RemoteWriteError::TooLarge(m)) if m.contains("series_per_request_max")
        ));
        let mut a = Assembler::new(&v, 4).unwrap();
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
            histograms: vec![hist(9), hist(8)],
            exemplars: 1,
            ..Default::default()
        })
        .unwrap();
        // An invalid series is set aside; the request goes on.
        a.add(WireSeries {
            labels: &[("job", "x")],
            samples: vec![Sample::new(2, 3.0)],
            ..Default::default()
        })
        .unwrap();
        // Its samples still count toward the request's size.
        let m = match a.add(WireSeries {
            labels: &up,
            samples: vec![Sample::new(5, 0.0); 2],
            ..Default::default()
        }) {
            Err(RemoteWriteError::TooLarge(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(m.contains("samples_per_request_max"), "{m}");
        let (series, histogram_series, counts, refused) = a.finish();
        assert_eq!(series.len(), 1);
        assert_eq!(histogram_series.len(), 1);
        assert_eq!(histogram_series[0].key, series[0].key);
        assert_eq!(
            histogram_series[0]
                .samples
                .iter()
                .map(|s| s.t)
                .collect::<Vec<_>>(),
            vec![8, 9]
        );
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
        assert_eq!(refused.series, 1);
        assert_eq!(refused.samples, 1);
        assert!(refused.reasons[0].contains("metric name"), "{refused:?}");
    }

    #[test]
    fn refused_reasons_are_bounded() {
        let limits = DecodeLimits::default();
        let v = Validator::new(&limits, NameValidation::Utf8);
        let mut a = Assembler::new(&v, 10).unwrap();
        for _ in 0..10 {
            a.add(WireSeries {
                labels: &[("", "x")],
                samples: vec![Sample::new(1, 1.0)],
                ..Default::default()
            })
            .unwrap();
        }
        let (series, _, _, refused) = a.finish();
        assert!(series.is_empty());
        assert_eq!((refused.series, refused.samples), (10, 10));
        assert_eq!(refused.reasons.len(), REFUSED_REASONS_MAX);
    }

    #[test]
    fn describe_is_bounded() {
        let long = "x".repeat(1000);
        let d = describe(&[("__name__", &long)]);
        assert!(d.len() < SERIES_DESCRIPTION_BYTES_MAX + 10, "{}", d.len());
    }
}
