//! Remote-write 2.0 (`io.prometheus.write.v2.Request`) into domain types, read in place from the
//! decompressed body (`wire.rs`) like 1.0: label and metadata references are resolved through
//! the request's symbols table, borrowed from the body; a reference outside it is an error
//! naming the series.

use tidemark_proto::write_v2 as pb;
use tidemark_storage::Sample;
use tidemark_storage::model::METRIC_NAME;

use super::histogram::SeriesHistograms;
use super::metadata::{MetricMetadata, MetricType};
use super::validate::{Assembler, Validator, WireSeries};
use super::wire::{self, Fields, Value};
use super::{DecodedWrite, RemoteWriteError, finish};

// Field numbers of `io.prometheus.write.v2.Request` and the messages in it (types.proto).
const REQUEST_SYMBOLS: u32 = 4;
const REQUEST_TIMESERIES: u32 = 5;
const TIMESERIES_LABELS_REFS: u32 = 1;
const TIMESERIES_SAMPLES: u32 = 2;
const TIMESERIES_HISTOGRAMS: u32 = 3;
const TIMESERIES_EXEMPLARS: u32 = 4;
const TIMESERIES_METADATA: u32 = 5;
const EXEMPLAR_LABELS_REFS: u32 = 1;
const METADATA_TYPE: u32 = 1;
const METADATA_HELP_REF: u32 = 3;
const METADATA_UNIT_REF: u32 = 4;

/// The symbols table of one request.
struct Symbols<'a>(&'a [&'a str]);

impl<'a> Symbols<'a> {
    fn get(&self, series: usize, what: &str, r: u32) -> Result<&'a str, RemoteWriteError> {
        self.0.get(r as usize).copied().ok_or_else(|| {
            RemoteWriteError::Invalid(format!(
                "series #{series}: {what} reference {r} is outside the symbols table of {} entries",
                self.0.len()
            ))
        })
    }

    /// Resolves `refs` (name, value, name, value, ...) into `out` (cleared first).
    fn labels(
        &self,
        series: usize,
        what: &str,
        refs: &[u32],
        out: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<(), RemoteWriteError> {
        out.clear();
        if !refs.len().is_multiple_of(2) {
            return Err(RemoteWriteError::Invalid(format!(
                "series #{series}: {what} has an odd number of references ({})",
                refs.len()
            )));
        }
        for p in refs.chunks_exact(2) {
            out.push((self.get(series, what, p[0])?, self.get(series, what, p[1])?));
        }
        Ok(())
    }

    /// Checks that `refs` resolve, as [`Symbols::labels`] would.
    fn check_labels(
        &self,
        series: usize,
        what: &str,
        refs: &[u32],
    ) -> Result<(), RemoteWriteError> {
        self.labels(series, what, refs, &mut Vec::new())
    }
}

/// Decodes, validates and converts a decompressed 2.0 request, reading it in place: symbols
/// are borrowed from `raw`, each series' references, samples and metadata go to buffers
/// reused from one series to the next.
pub(super) fn decode(
    raw: &[u8],
    validator: &Validator<'_>,
) -> Result<DecodedWrite, RemoteWriteError> {
    let invalid =
        |m: String| RemoteWriteError::Invalid(format!("decoding remote-write 2.0 Request: {m}"));
    let mut symbols = Vec::new();
    let mut series_count = 0;
    for field in Fields::new(raw) {
        match field.map_err(invalid)? {
            (REQUEST_SYMBOLS, v) => {
                let bytes = wire::bytes(v, "symbol").map_err(invalid)?;
                let symbol = std::str::from_utf8(bytes)
                    .map_err(|_| invalid(format!("symbol #{} is not UTF-8", symbols.len())))?;
                symbols.push(symbol);
            }
            (REQUEST_TIMESERIES, v) => {
                wire::bytes(v, "timeseries").map_err(invalid)?;
                series_count += 1;
            }
            _ => {}
        }
    }
    let symbols = Symbols(&symbols);
    let mut assembler = Assembler::new(validator, series_count)?;
    let mut metadata = Vec::new();
    // What the references expand to: a small body can name one long symbol a million times,
    // so the decoded-size bound applies to the expansion too, before anything is copied.
    let expanded_max = validator.limits().write_decoded_bytes_max;
    let mut expanded = 0usize;
    let mut expand = |bytes: usize| {
        expanded = expanded.saturating_add(bytes);
        if expanded > expanded_max {
            return Err(RemoteWriteError::TooLarge(format!(
                "the remote-write 2.0 request's labels and metadata expand through its symbols \
                 table to more than {expanded_max} bytes (write_decoded_bytes_max)"
            )));
        }
        Ok(())
    };
    let mut series = SeriesBuffers::default();
    let mut labels = Vec::new();
    let timeseries = Fields::new(raw).filter_map(|f| match f {
        Ok((REQUEST_TIMESERIES, Value::Bytes(b))) => Some(b),
        _ => None,
    });
    for (i, ts) in timeseries.enumerate() {
        series
            .read(ts, assembler.samples_left())
            .map_err(|e| invalid(format!("series #{i}: {e}")))?;
        for refs in &series.exemplar_refs {
            symbols.check_labels(i, "exemplar labels", refs)?;
        }
        symbols.labels(i, "label", &series.label_refs, &mut labels)?;
        expand(labels.iter().map(|(n, v)| n.len() + v.len()).sum())?;
        if let Some(md) = &series.metadata {
            let md = md.resolve(&symbols, i)?;
            expand(md.help.len() + md.unit.len())?;
            // The series of one metric come together: their shared entry is kept once.
            if let Some((_, name)) = labels.iter().find(|(n, _)| *n == METRIC_NAME)
                && metadata
                    .last()
                    .is_none_or(|(n, m): &(String, MetricMetadata)| n != name || *m != md)
            {
                metadata.push((name.to_string(), md));
            }
        }
        assembler.add(WireSeries {
            labels: &labels,
            samples: std::mem::take(&mut series.samples),
            histograms: std::mem::take(&mut series.histograms.valid),
            invalid_histograms: series.histograms.invalid,
            histogram_reasons: std::mem::take(&mut series.histograms.reasons),
            undecoded_histograms: series.histograms.undecoded,
            exemplars: series.exemplar_refs.len(),
            invalid: None,
        })?;
    }
    Ok(finish(assembler, metadata))
}

/// One `TimeSeries` as read, in buffers kept from one series to the next.
#[derive(Default)]
struct SeriesBuffers {
    label_refs: Vec<u32>,
    samples: Vec<Sample>,
    histograms: SeriesHistograms,
    /// Each exemplar's label references (exemplars are rare: one vector each).
    exemplar_refs: Vec<Vec<u32>>,
    metadata: Option<WireMetadata>,
}

impl SeriesBuffers {
    /// Reads one `TimeSeries` (fields absent are empty; a message field sent twice is merged,
    /// as protobuf merges it). Histograms past `samples_left` are counted, not decoded.
    fn read(&mut self, buf: &[u8], samples_left: usize) -> Result<(), String> {
        self.label_refs.clear();
        self.samples = Vec::new();
        self.histograms = SeriesHistograms::default();
        self.exemplar_refs.clear();
        self.metadata = None;
        for field in Fields::new(buf) {
            match field? {
                (TIMESERIES_LABELS_REFS, v) => wire::uint32s(v, &mut self.label_refs)?,
                (TIMESERIES_SAMPLES, v) => {
                    self.samples
                        .push(super::v1::sample(wire::bytes(v, "sample")?)?);
                }
                (TIMESERIES_HISTOGRAMS, v) => {
                    let left = samples_left.saturating_sub(self.samples.len());
                    self.histograms
                        .take(wire::bytes(v, "histogram")?, left.saturating_add(1))?;
                }
                (TIMESERIES_EXEMPLARS, v) => {
                    let mut refs = Vec::new();
                    for field in Fields::new(wire::bytes(v, "exemplar")?) {
                        if let (EXEMPLAR_LABELS_REFS, v) = field? {
                            wire::uint32s(v, &mut refs)?;
                        }
                    }
                    self.exemplar_refs.push(refs);
                }
                (TIMESERIES_METADATA, v) => {
                    let md = self.metadata.get_or_insert_with(WireMetadata::default);
                    md.merge(wire::bytes(v, "metadata")?)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A `Metadata` message's fields, references unresolved.
#[derive(Clone, Copy, Debug, Default)]
struct WireMetadata {
    metric_type: i32,
    help_ref: u32,
    unit_ref: u32,
}

impl WireMetadata {
    fn merge(&mut self, buf: &[u8]) -> Result<(), String> {
        for field in Fields::new(buf) {
            match field? {
                // Enums and uint32 are varints truncated to 32 bits, as protobuf reads them.
                (METADATA_TYPE, Value::Varint(v)) => self.metric_type = v as i32,
                (METADATA_HELP_REF, Value::Varint(v)) => self.help_ref = v as u32,
                (METADATA_UNIT_REF, Value::Varint(v)) => self.unit_ref = v as u32,
                (n @ (METADATA_TYPE | METADATA_HELP_REF | METADATA_UNIT_REF), other) => {
                    return Err(format!("metadata field {n}: unexpected {other:?}"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn resolve(&self, symbols: &Symbols<'_>, i: usize) -> Result<MetricMetadata, RemoteWriteError> {
        let metric_type = pb::metadata::MetricType::try_from(self.metric_type).unwrap_or_default();
        Ok(MetricMetadata {
            metric_type: MetricType::from(metric_type),
            help: symbols.get(i, "metadata help", self.help_ref)?.to_string(),
            unit: symbols.get(i, "metadata unit", self.unit_ref)?.to_string(),
        })
    }
}

impl From<pb::metadata::MetricType> for MetricType {
    fn from(t: pb::metadata::MetricType) -> Self {
        use pb::metadata::MetricType as W;
        match t {
            W::Unspecified => MetricType::Unknown,
            W::Counter => MetricType::Counter,
            W::Gauge => MetricType::Gauge,
            W::Histogram => MetricType::Histogram,
            W::Gaugehistogram => MetricType::GaugeHistogram,
            W::Summary => MetricType::Summary,
            W::Info => MetricType::Info,
            W::Stateset => MetricType::StateSet,
        }
    }
}
