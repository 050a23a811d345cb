//! Prometheus remote-write 1.0 messages (the subset the benchmark sends) and a fast encoder.
//!
//! Wire format (prometheus/prompb/remote.proto and types.proto, remote-write spec 1.0):
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
//! ```
//! The HTTP body is the serialized `WriteRequest` compressed with snappy's *block* format, sent with
//! `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`.
//!
//! Building prost structs for every sample would allocate every label string of every sample, so
//! requests are assembled from per-series label bytes encoded once ([`encode_labels`]) plus the
//! sample ([`append_time_series`]). The prost structs define the format and check it in tests.

use prost::Message;
use prost::encoding::encode_varint;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries` (exemplars and histograms are never sent by the benchmark).
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Field key of a length-delimited field (wire type 2).
const fn len_key(tag: u32) -> u64 {
    ((tag << 3) | 2) as u64
}

/// The `labels` fields of a `TimeSeries` (each one a length-delimited `Label`), in the given order.
/// Callers pass labels sorted by name, as Prometheus does.
pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in labels {
        let label = Label {
            name: name.clone(),
            value: value.clone(),
        };
        encode_varint(len_key(1), &mut out);
        encode_varint(label.encoded_len() as u64, &mut out);
        label.encode_raw(&mut out);
    }
    out
}

/// Appends one `timeseries` field holding `encoded_labels` (from [`encode_labels`]) and one sample
/// to a `WriteRequest` body under construction.
pub fn append_time_series(
    body: &mut Vec<u8>,
    encoded_labels: &[u8],
    timestamp_ms: i64,
    value: f64,
) {
    let sample = Sample {
        value,
        timestamp: timestamp_ms,
    };
    let sample_len = sample.encoded_len();
    let ts_len = encoded_labels.len() + 1 + prost::length_delimiter_len(sample_len) + sample_len;
    encode_varint(len_key(1), body);
    encode_varint(ts_len as u64, body);
    body.extend_from_slice(encoded_labels);
    encode_varint(len_key(2), body);
    encode_varint(sample_len as u64, body);
    sample.encode_raw(body);
}

/// Decodes a request body back into samples per series (a sanity check of the fast encoder on
/// real output before a run): returns the number of `TimeSeries` and of samples.
pub fn decode_counts(compressed: &[u8]) -> Result<(usize, usize), String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(compressed)
        .map_err(|e| format!("snappy: {e}"))?;
    let request = WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    let samples = request
        .timeseries
        .iter()
        .map(|ts: &TimeSeries| ts.samples.len())
        .sum();
    Ok((request.timeseries.len(), samples))
}

/// Snappy block compression, as remote-write requires.
pub fn compress(encoder: &mut snap::raw::Encoder, body: &[u8]) -> Vec<u8> {
    encoder
        .compress_vec(body)
        .expect("snappy block compression of an in-memory buffer cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fast_encoding_decodes_as_the_prost_message() {
        let a = labels(&[("__name__", "node_load1"), ("instance", "host-0001:9100")]);
        let b = labels(&[("__name__", "up"), ("job", "node")]);
        let mut body = Vec::new();
        append_time_series(&mut body, &encode_labels(&a), 1_700_000_000_123, 0.25);
        append_time_series(&mut body, &encode_labels(&b), -5, 0.0);
        let mut enc = snap::raw::Encoder::new();
        let compressed = compress(&mut enc, &body);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
        let to_proto = |ls: &[(String, String)]| {
            ls.iter()
                .map(|(name, value)| Label {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect::<Vec<_>>()
        };
        let expected = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: to_proto(&a),
                    samples: vec![Sample {
                        value: 0.25,
                        timestamp: 1_700_000_000_123,
                    }],
                },
                TimeSeries {
                    labels: to_proto(&b),
                    samples: vec![Sample {
                        value: 0.0,
                        timestamp: -5,
                    }],
                },
            ],
        };
        assert_eq!(decoded, expected);
        assert_eq!(body, expected.encode_to_vec());
    }
}
