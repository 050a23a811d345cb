//! Remote-write 2.0 (`io.prometheus.write.v2.Request`) into domain types: label and metadata
//! references are resolved through the request's symbols table; a reference outside it is an
//! error naming the series.

use tidemark_proto::write_v2 as pb;
use tidemark_storage::Sample;
use tidemark_storage::model::METRIC_NAME;

use super::metadata::{MetricMetadata, MetricType};
use super::validate::{Assembler, Validator, WireSeries};
use super::{DecodedWrite, RemoteWriteError, finish};

/// The symbols table of one request.
struct Symbols<'a>(&'a [String]);

impl Symbols<'_> {
    fn get(&self, series: usize, what: &str, r: u32) -> Result<&str, RemoteWriteError> {
        self.0.get(r as usize).map(String::as_str).ok_or_else(|| {
            RemoteWriteError::Invalid(format!(
                "series #{series}: {what} reference {r} is outside the symbols table of {} entries",
                self.0.len()
            ))
        })
    }

    /// Resolves `labels_refs` (name, value, name, value, ...).
    fn labels(
        &self,
        series: usize,
        what: &str,
        refs: &[u32],
    ) -> Result<Vec<(&str, &str)>, RemoteWriteError> {
        if !refs.len().is_multiple_of(2) {
            return Err(RemoteWriteError::Invalid(format!(
                "series #{series}: {what} has an odd number of references ({})",
                refs.len()
            )));
        }
        refs.chunks_exact(2)
            .map(|p| Ok((self.get(series, what, p[0])?, self.get(series, what, p[1])?)))
            .collect()
    }
}

/// Validates a decoded 2.0 request and converts it.
pub(super) fn convert(
    req: pb::Request,
    validator: &Validator<'_>,
) -> Result<DecodedWrite, RemoteWriteError> {
    let symbols = Symbols(&req.symbols);
    let mut assembler = Assembler::new(validator, req.timeseries.len())?;
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
    for (i, ts) in req.timeseries.iter().enumerate() {
        for ex in &ts.exemplars {
            symbols.labels(i, "exemplar labels", &ex.labels_refs)?;
        }
        let labels = symbols.labels(i, "label", &ts.labels_refs)?;
        expand(labels.iter().map(|(n, v)| n.len() + v.len()).sum())?;
        if let Some(md) = &ts.metadata {
            let md = MetricMetadata::try_from((&symbols, i, md))?;
            expand(md.help.len() + md.unit.len())?;
            if let Some((_, name)) = labels.iter().find(|(n, _)| *n == METRIC_NAME) {
                metadata.push((name.to_string(), md));
            }
        }
        assembler.add(WireSeries {
            labels: &labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample::new(s.timestamp, s.value))
                .collect(),
            histograms: ts.histograms.len(),
            exemplars: ts.exemplars.len(),
            invalid: None,
        })?;
    }
    Ok(finish(assembler, metadata))
}

impl TryFrom<(&Symbols<'_>, usize, &pb::Metadata)> for MetricMetadata {
    type Error = RemoteWriteError;

    fn try_from(
        (symbols, i, md): (&Symbols<'_>, usize, &pb::Metadata),
    ) -> Result<Self, Self::Error> {
        Ok(MetricMetadata {
            metric_type: MetricType::from(md.r#type()),
            help: symbols.get(i, "metadata help", md.help_ref)?.to_string(),
            unit: symbols.get(i, "metadata unit", md.unit_ref)?.to_string(),
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
