//! Turns a dataset's time-ordered samples into remote-write requests the way Prometheus' queue
//! manager does: a series always goes to the same shard (hash of its labels modulo the shard
//! count), each shard fills a batch of up to `batch_samples_max` samples (one `TimeSeries` with
//! full labels per sample, as remote-write 1.0 senders do) and emits it when full. Requests come
//! out in creation order, which is time order, so one sender per shard preserves per-series order.

use bytes::Bytes;

use crate::dataset::Dataset;
use crate::remote_write::{append_time_series, compress};

/// One snappy-compressed remote-write request, ready to send.
#[derive(Clone, Debug)]
pub struct EncodedRequest {
    /// The shard (sender) that must send it; requests of a shard are sent in order.
    pub shard: usize,
    pub samples: u32,
    pub body: Bytes,
    /// Uncompressed protobuf size, for reporting.
    pub raw_bytes: u32,
}

/// Batching parameters of the simulated queue manager.
#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    pub shards: usize,
    pub batch_samples_max: u32,
}

struct ShardBuffer {
    body: Vec<u8>,
    samples: u32,
}

/// Encodes all of `dataset` into requests, handing each to `sink` as soon as it is complete.
pub fn encode_dataset(
    dataset: &mut Dataset,
    config: BatchConfig,
    mut sink: impl FnMut(EncodedRequest),
) {
    assert!(config.shards > 0 && config.batch_samples_max > 0);
    let mut buffers: Vec<ShardBuffer> = (0..config.shards)
        .map(|_| ShardBuffer {
            body: Vec::with_capacity(512 * config.batch_samples_max as usize),
            samples: 0,
        })
        .collect();
    let mut encoder = snap::raw::Encoder::new();
    let shard_of: Vec<u16> = dataset
        .label_hash
        .iter()
        .map(|h| (h % config.shards as u64) as u16)
        .collect();
    let labels = std::mem::take(&mut dataset.labels_encoded);
    let mut emit =
        |shard: usize, buffer: &mut ShardBuffer, sink: &mut dyn FnMut(EncodedRequest)| {
            let body = compress(&mut encoder, &buffer.body);
            sink(EncodedRequest {
                shard,
                samples: buffer.samples,
                body: Bytes::from(body),
                raw_bytes: buffer.body.len() as u32,
            });
            buffer.body.clear();
            buffer.samples = 0;
        };
    dataset.scrapes.generate(|series, ts, value| {
        let shard = shard_of[series as usize] as usize;
        let buffer = &mut buffers[shard];
        append_time_series(&mut buffer.body, &labels[series as usize], ts, value);
        buffer.samples += 1;
        if buffer.samples >= config.batch_samples_max {
            emit(shard, buffer, &mut sink);
        }
    });
    for (shard, buffer) in buffers.iter_mut().enumerate() {
        if buffer.samples > 0 {
            emit(shard, buffer, &mut sink);
        }
    }
    dataset.labels_encoded = labels;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::WriteRequest;
    use prost::Message;
    use tidemark_testkit::dataset::node_exporter;

    #[test]
    fn batches_hold_every_sample_once_with_per_series_order() {
        let end = 1_700_000_100_000 / 15_000 * 15_000;
        let mut ds = Dataset::encode(500, |on| node_exporter(500, 0.25, 15, 5, end, on));
        let total = ds.scrapes.samples_total;
        let mut requests = Vec::new();
        let config = BatchConfig {
            shards: 4,
            batch_samples_max: 700,
        };
        encode_dataset(&mut ds, config, |r| requests.push(r));
        assert_eq!(
            requests.iter().map(|r| u64::from(r.samples)).sum::<u64>(),
            total
        );
        assert!(requests.iter().all(|r| r.samples <= 700 && r.shard < 4));
        let mut decoder = snap::raw::Decoder::new();
        let mut last_ts: std::collections::HashMap<Vec<(String, String)>, (usize, i64)> =
            Default::default();
        for r in &requests {
            let raw = decoder.decompress_vec(&r.body).unwrap();
            let wr = WriteRequest::decode(raw.as_slice()).unwrap();
            assert_eq!(wr.timeseries.len(), r.samples as usize);
            for ts in wr.timeseries {
                let key: Vec<(String, String)> =
                    ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
                let t = ts.samples[0].timestamp;
                if let Some(&(shard, prev)) = last_ts.get(&key) {
                    assert_eq!(shard, r.shard, "a series stays on its shard");
                    assert!(t > prev);
                }
                last_ts.insert(key, (r.shard, t));
            }
        }
        assert_eq!(last_ts.len(), 500);
    }
}
