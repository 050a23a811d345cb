//! Remote-write 1.0 (`prometheus.WriteRequest`) into domain types.

use tidemark_proto::prometheus as pb;
use tidemark_storage::{Label, Sample};

use super::metadata::{MetricMetadata, MetricType};
use super::validate::{Assembler, Validator, WireSeries};
use super::{DecodedWrite, RemoteWriteError, finish};

/// Validates a decoded 1.0 request and converts it.
pub(super) fn convert(
    req: pb::WriteRequest,
    validator: &Validator<'_>,
) -> Result<DecodedWrite, RemoteWriteError> {
    let mut assembler = Assembler::new(validator, req.timeseries.len())?;
    for ts in req.timeseries {
        assembler.add(WireSeries::from(ts))?;
    }
    let metadata = req
        .metadata
        .into_iter()
        .map(|m| (m.metric_family_name.clone(), MetricMetadata::from(m)))
        .collect();
    Ok(finish(assembler, metadata))
}

impl From<pb::TimeSeries> for WireSeries {
    fn from(ts: pb::TimeSeries) -> Self {
        WireSeries {
            labels: ts
                .labels
                .into_iter()
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
            samples: ts
                .samples
                .iter()
                .map(|s| Sample::new(s.timestamp, s.value))
                .collect(),
            histograms: ts.histograms.len(),
            exemplars: ts.exemplars.len(),
        }
    }
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
