//! Remote-write 1.0 (`prometheus.WriteRequest`) into domain types. The series are read in
//! place from the decompressed body (`wire.rs`): a 1.0 request repeats every label of a series
//! with each of its samples, and allocating them costs more than everything else on the write
//! path. Metadata, rare and small, goes through the generated types.

use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_storage::Sample;

use super::histogram::SeriesHistograms;
use super::metadata::{MetricMetadata, MetricType};
use super::validate::{Assembler, Validator, WireSeries};
use super::wire::{self, Fields, Value};
use super::{DecodedWrite, RemoteWriteError, finish};

// Field numbers of `prometheus.WriteRequest` and the messages in it (types.proto, remote.proto).
const WRITE_REQUEST_TIMESERIES: u32 = 1;
const WRITE_REQUEST_METADATA: u32 = 3;
const TIMESERIES_LABELS: u32 = 1;
const TIMESERIES_SAMPLES: u32 = 2;
const TIMESERIES_EXEMPLARS: u32 = 3;
const TIMESERIES_HISTOGRAMS: u32 = 4;
const LABEL_NAME: u32 = 1;
const LABEL_VALUE: u32 = 2;
const SAMPLE_VALUE: u32 = 1;
const SAMPLE_TIMESTAMP: u32 = 2;

/// Decodes, validates and converts a decompressed 1.0 request.
pub(super) fn decode(
    raw: &[u8],
    validator: &Validator<'_>,
) -> Result<DecodedWrite, RemoteWriteError> {
    let invalid = |m: String| {
        RemoteWriteError::Invalid(format!("decoding remote-write 1.0 WriteRequest: {m}"))
    };
    let mut series_count = 0;
    for field in Fields::new(raw) {
        if field.map_err(invalid)?.0 == WRITE_REQUEST_TIMESERIES {
            series_count += 1;
        }
    }
    let mut assembler = Assembler::new(validator, series_count)?;
    let mut metadata = Vec::new();
    // Reused for every series: the labels borrow from `raw`.
    let mut labels: Vec<(&str, &str)> = Vec::new();
    for field in Fields::new(raw) {
        let (number, value) = field.map_err(invalid)?;
        match number {
            WRITE_REQUEST_TIMESERIES => {
                let ts = wire::bytes(value, "timeseries").map_err(invalid)?;
                let wire =
                    time_series(ts, &mut labels, assembler.samples_left()).map_err(invalid)?;
                assembler.add(wire)?;
            }
            WRITE_REQUEST_METADATA => {
                let md = wire::bytes(value, "metadata").map_err(invalid)?;
                let m = pb::MetricMetadata::decode(md)
                    .map_err(|e| invalid(format!("metadata: {e}")))?;
                metadata.push((m.metric_family_name.clone(), MetricMetadata::from(m)));
            }
            _ => {}
        }
    }
    Ok(finish(assembler, metadata))
}

/// Reads one `TimeSeries`; its labels go to `labels` (cleared first). Histograms past
/// `samples_left` are counted, not decoded.
fn time_series<'a, 's>(
    buf: &'a [u8],
    labels: &'s mut Vec<(&'a str, &'a str)>,
    samples_left: usize,
) -> Result<WireSeries<'s>, String> {
    labels.clear();
    let mut samples = Vec::new();
    let mut histograms = SeriesHistograms::default();
    let mut exemplars = 0;
    let mut invalid = None;
    for field in Fields::new(buf) {
        let (number, value) = field?;
        match number {
            TIMESERIES_LABELS => {
                let (name, value) = label(wire::bytes(value, "label")?)?;
                match (std::str::from_utf8(name), std::str::from_utf8(value)) {
                    (Ok(name), Ok(value)) => labels.push((name, value)),
                    // Protobuf wants UTF-8; Prometheus skips such a series, and so do we.
                    _ => {
                        invalid.get_or_insert_with(|| {
                            format!(
                                "label {:?}: name or value is not UTF-8",
                                String::from_utf8_lossy(name)
                            )
                        });
                    }
                }
            }
            TIMESERIES_SAMPLES => samples.push(sample(wire::bytes(value, "sample")?)?),
            TIMESERIES_EXEMPLARS => exemplars += 1,
            TIMESERIES_HISTOGRAMS => {
                let budget = samples_left.saturating_sub(samples.len()).saturating_add(1);
                histograms.take(wire::bytes(value, "histogram")?, budget)?;
            }
            _ => {}
        }
    }
    Ok(WireSeries {
        labels,
        samples,
        histograms: histograms.valid,
        invalid_histograms: histograms.invalid,
        histogram_reasons: histograms.reasons,
        undecoded_histograms: histograms.undecoded,
        exemplars,
        invalid,
    })
}

/// Reads one `Label`'s name and value bytes (absent fields are empty; the last occurrence of a
/// field wins).
fn label(buf: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    for field in Fields::new(buf) {
        match field? {
            (LABEL_NAME, v) => name = wire::bytes(v, "label name")?,
            (LABEL_VALUE, v) => value = wire::bytes(v, "label value")?,
            _ => {}
        }
    }
    Ok((name, value))
}

/// Reads one `Sample` (absent fields are zero; remote-write 2.0's has the same fields).
pub(super) fn sample(buf: &[u8]) -> Result<Sample, String> {
    let (mut v, mut t) = (0.0, 0);
    for field in Fields::new(buf) {
        match field? {
            (SAMPLE_VALUE, Value::Fixed64(bits)) => v = f64::from_bits(bits),
            (SAMPLE_TIMESTAMP, Value::Varint(x)) => t = x as i64,
            (n @ (SAMPLE_VALUE | SAMPLE_TIMESTAMP), other) => {
                return Err(format!("sample field {n}: unexpected {other:?}"));
            }
            _ => {}
        }
    }
    Ok(Sample::new(t, v))
}

impl From<pb::MetricMetadata> for MetricMetadata {
    fn from(m: pb::MetricMetadata) -> Self {
        MetricMetadata {
            metric_type: MetricType::from(m.r#type()),
            help: m.help,
            unit: m.unit,
        }
    }
}

impl From<pb::metric_metadata::MetricType> for MetricType {
    fn from(t: pb::metric_metadata::MetricType) -> Self {
        use pb::metric_metadata::MetricType as W;
        match t {
            W::Unknown => MetricType::Unknown,
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
