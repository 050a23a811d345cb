//! Remote-write request builders, for the tests of code that receives remote-write (here and
//! in the node's HTTP tests) and for the fuzz targets' seeds.

use prost::Message;
use tidemark_proto::{prometheus as v1pb, write_v2 as v2pb};

/// Snappy block compression, as remote-write bodies are.
pub fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

/// A remote-write 1.0 series with float samples `(t_ms, value)`.
pub fn v1_series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1pb::TimeSeries {
    v1pb::TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| v1pb::Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| v1pb::Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
        ..Default::default()
    }
}

/// A remote-write 1.0 body (protobuf, snappy) of `series`.
pub fn v1_body(series: Vec<v1pb::TimeSeries>) -> Vec<u8> {
    snappy(
        &v1pb::WriteRequest {
            timeseries: series,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

/// A v2 request: symbols are interned in order of first use, "" first.
pub struct V2Builder {
    pub req: v2pb::Request,
}

impl Default for V2Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl V2Builder {
    pub fn new() -> Self {
        V2Builder {
            req: v2pb::Request {
                symbols: vec![String::new()],
                timeseries: vec![],
            },
        }
    }

    pub fn sym(&mut self, s: &str) -> u32 {
        if let Some(i) = self.req.symbols.iter().position(|x| x == s) {
            return i as u32;
        }
        self.req.symbols.push(s.to_string());
        (self.req.symbols.len() - 1) as u32
    }

    pub fn series(
        &mut self,
        labels: &[(&str, &str)],
        samples: &[(i64, f64)],
    ) -> &mut v2pb::TimeSeries {
        let labels_refs = labels
            .iter()
            .flat_map(|(n, v)| [self.sym(n), self.sym(v)])
            .collect();
        self.req.timeseries.push(v2pb::TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(t, v)| v2pb::Sample {
                    value: v,
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        });
        self.req.timeseries.last_mut().unwrap()
    }

    pub fn body(&self) -> Vec<u8> {
        snappy(&self.req.encode_to_vec())
    }
}
