//! Building the answer to one query: series gathered from the querier, counted against the
//! request's limits (a native histogram counts as one sample), sorted by labels (Prometheus'
//! order, `labels.Compare`) with any series met twice merged, then either raw samples and
//! histograms (`SAMPLES`) or chunks cut into frames (`STREAMED_XOR_CHUNKS`: XOR chunks for
//! floats, Prometheus' histogram and float-histogram chunks for native histograms, a new chunk
//! wherever a series changes kind, as Prometheus' head cuts them). Plain functions over
//! iterators: no I/O.

use std::sync::atomic::{AtomicBool, Ordering};

use prost::Message;
use prost::encoding::encoded_len_varint;
use tidemark_proto::prometheus as pb;
use tidemark_query::QueryError;
use tidemark_storage::chunk::prom_histogram;
use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::{Labels, Sample, SeriesSamples};

use super::RemoteReadError;
use super::frame::write_frame;
use super::xor::{self, XorChunk};

/// Samples and series of one request so far, against its limits (over all its queries).
#[derive(Clone, Debug)]
pub struct Budget {
    samples_max: usize,
    series_max: usize,
    samples: usize,
    series: usize,
}

impl Budget {
    /// A budget of `samples_max` samples and `series_max` series.
    pub fn new(samples_max: usize, series_max: usize) -> Self {
        Budget {
            samples_max,
            series_max,
            samples: 0,
            series: 0,
        }
    }

    /// Samples taken so far.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Series taken so far.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Takes one series of `samples` samples; a 400 beyond a limit, worded as Prometheus'.
    fn take(&mut self, samples: usize) -> Result<(), RemoteReadError> {
        self.series += 1;
        self.samples += samples;
        if self.samples > self.samples_max {
            return Err(RemoteReadError::BadRequest(format!(
                "exceeded sample limit ({})",
                self.samples_max
            )));
        }
        if self.series > self.series_max {
            return Err(RemoteReadError::BadRequest(format!(
                "exceeded series limit ({})",
                self.series_max
            )));
        }
        Ok(())
    }
}

/// Series selected for a query, one at a time (as the querier yields them).
pub type SelectedSeries<'a> = dyn Iterator<Item = Result<SeriesSamples, QueryError>> + 'a;

/// Non-empty series of `selected` with ascending unique timestamps, each turned into `T` by
/// `convert` (of its floats and its histograms) as soon as it arrives (so that raw samples
/// need not all be held), then sorted by labels; a series met twice is merged with `merge`.
fn gather<T>(
    selected: &mut SelectedSeries<'_>,
    budget: &mut Budget,
    canceled: &AtomicBool,
    convert: impl Fn(Vec<Sample>, Vec<HistogramSample>) -> T,
    merge: impl Fn(T, T) -> Result<T, RemoteReadError>,
) -> Result<Vec<(Labels, T)>, RemoteReadError> {
    let mut out: Vec<(Labels, T)> = Vec::new();
    for series in selected {
        if canceled.load(Ordering::Relaxed) {
            return Err(RemoteReadError::Internal("remote read canceled".into()));
        }
        let mut series = series?;
        if series.samples.is_empty() && series.histograms.is_empty() {
            continue;
        }
        if !series.samples.is_sorted_by(|a, b| a.t < b.t) {
            series.samples.sort_by_key(|s| s.t);
            series.samples.dedup_by_key(|s| s.t);
        }
        if !series.histograms.is_sorted_by(|a, b| a.t < b.t) {
            series.histograms.sort_by_key(|s| s.t);
            series.histograms.dedup_by_key(|s| s.t);
        }
        budget.take(series.samples.len() + series.histograms.len())?;
        out.push((series.labels, convert(series.samples, series.histograms)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(Labels, T)> = Vec::with_capacity(out.len());
    for (labels, value) in out {
        if merged.last().is_some_and(|(last, _)| *last == labels) {
            let (labels, earlier) = merged.pop().expect("last exists");
            merged.push((labels, merge(earlier, value)?));
        } else {
            merged.push((labels, value));
        }
    }
    Ok(merged)
}

/// Two ascending runs as one; at a timestamp both have, the first one's sample wins.
fn merge_samples<S>(a: Vec<S>, b: Vec<S>, t: impl Fn(&S) -> i64) -> Vec<S> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if t(x) < t(y) => a.next(),
            (Some(x), Some(y)) if t(x) > t(y) => b.next(),
            (Some(_), Some(_)) => {
                b.next();
                a.next()
            }
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// Storage labels as wire labels (already sorted by name).
fn labels_to_wire(labels: Labels) -> Vec<pb::Label> {
    labels
        .into_vec()
        .into_iter()
        .map(|l| pb::Label {
            name: l.name,
            value: l.value,
        })
        .collect()
}

/// The `SAMPLES` result of one query.
pub fn samples_result(
    selected: &mut SelectedSeries<'_>,
    budget: &mut Budget,
    canceled: &AtomicBool,
) -> Result<pb::QueryResult, RemoteReadError> {
    let series = gather(
        selected,
        budget,
        canceled,
        |s, h| (s, h),
        |a, b| {
            Ok((
                merge_samples(a.0, b.0, |s| s.t),
                merge_samples(a.1, b.1, |h| h.t),
            ))
        },
    )?;
    Ok(pb::QueryResult {
        timeseries: series
            .into_iter()
            .map(|(labels, (samples, histograms))| pb::TimeSeries {
                labels: labels_to_wire(labels),
                samples: samples
                    .into_iter()
                    .map(|s| pb::Sample {
                        value: s.v,
                        timestamp: s.t,
                    })
                    .collect(),
                histograms: histograms
                    .iter()
                    .map(tidemark_ingest::histogram::to_wire)
                    .collect(),
                ..Default::default()
            })
            .collect(),
    })
}

/// One series as chunks (`pb::Chunk`, their encoding named), ascending and not overlapping.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkedSeries {
    /// The series' labels, sorted by name.
    pub labels: Labels,
    /// Its chunks in time order.
    pub chunks: Vec<pb::Chunk>,
}

/// Wire chunks of `floats` (XOR).
fn xor_wire(floats: Vec<XorChunk>) -> impl Iterator<Item = pb::Chunk> {
    floats.into_iter().map(|c| pb::Chunk {
        min_time_ms: c.min_time_ms,
        max_time_ms: c.max_time_ms,
        r#type: pb::chunk::Encoding::Xor as i32,
        data: c.data,
    })
}

/// Wire chunks of a series of floats and histograms: each run of one kind in its own chunks
/// (at a timestamp holding both, the histogram is kept, as the query engine's selectors keep
/// it).
fn mixed_wire(
    floats: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    chunk_samples_max: usize,
) -> Vec<pb::Chunk> {
    let floats: Vec<Sample> = {
        let mut h = histograms.iter().map(|h| h.t).peekable();
        floats
            .into_iter()
            .filter(|s| {
                while h.next_if(|&t| t < s.t).is_some() {}
                h.peek() != Some(&s.t)
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut floats = floats.as_slice();
    let mut histograms = histograms.as_slice();
    while !floats.is_empty() || !histograms.is_empty() {
        let next_h = histograms.first().map_or(i64::MAX, |h| h.t);
        let n = floats.partition_point(|s| s.t < next_h);
        if n > 0 {
            out.extend(xor_wire(xor::encode_chunks(
                &floats[..n],
                chunk_samples_max,
            )));
        }
        floats = &floats[n..];
        let next_f = floats.first().map_or(i64::MAX, |s| s.t);
        let m = histograms.partition_point(|h| h.t < next_f);
        out.extend(
            prom_histogram::encode(&histograms[..m])
                .into_iter()
                .map(|c| pb::Chunk {
                    min_time_ms: c.min_time_ms,
                    max_time_ms: c.max_time_ms,
                    r#type: c.encoding,
                    data: c.data,
                }),
        );
        histograms = &histograms[m..];
    }
    out
}

/// The series of one query for a `STREAMED_XOR_CHUNKS` answer, encoded as they arrive (a few
/// bytes per sample are held, not sixteen), chunks of at most `chunk_samples_max` samples.
pub fn chunked_series(
    selected: &mut SelectedSeries<'_>,
    budget: &mut Budget,
    canceled: &AtomicBool,
    chunk_samples_max: usize,
) -> Result<Vec<ChunkedSeries>, RemoteReadError> {
    let encode = |floats: Vec<Sample>, histograms: Vec<HistogramSample>| {
        if histograms.is_empty() {
            xor_wire(xor::encode_chunks(&floats, chunk_samples_max)).collect()
        } else {
            mixed_wire(floats, histograms, chunk_samples_max)
        }
    };
    let series = gather(selected, budget, canceled, encode, |a, b| {
        let (fa, ha) = decode_all(&a)?;
        let (fb, hb) = decode_all(&b)?;
        Ok(encode(
            merge_samples(fa, fb, |s| s.t),
            merge_samples(ha, hb, |h| h.t),
        ))
    })?;
    Ok(series
        .into_iter()
        .map(|(labels, chunks)| ChunkedSeries { labels, chunks })
        .collect())
}

/// The floats and histograms of chunks this module encoded (a series met twice is merged
/// from them).
fn decode_all(
    chunks: &[pb::Chunk],
) -> Result<(Vec<Sample>, Vec<HistogramSample>), RemoteReadError> {
    let internal = |e: String| RemoteReadError::Internal(e);
    let (mut floats, mut histograms) = (Vec::new(), Vec::new());
    for c in chunks {
        if c.r#type == pb::chunk::Encoding::Xor as i32 {
            floats.extend(xor::decode(&c.data).map_err(|e| internal(e.to_string()))?);
        } else {
            histograms.extend(
                prom_histogram::decode(c.r#type, &c.data).map_err(|e| internal(e.to_string()))?,
            );
        }
    }
    Ok((floats, histograms))
}

/// Bytes a length-delimited field of `len` bytes takes in its message (tag below 16).
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// The framed `ChunkedReadResponse`s of one query's series, in order. As in Prometheus, a
/// frame holds chunks of one series only and a series continues over as many frames as its
/// chunks need; a frame's message stays within `frame_bytes_max` unless one chunk with the
/// labels is larger on its own (then it holds that chunk alone).
pub fn frames(
    query_index: i64,
    series: Vec<ChunkedSeries>,
    frame_bytes_max: usize,
) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
    series
        .into_iter()
        .flat_map(move |s| series_frames(query_index, s, frame_bytes_max))
}

fn series_frames(query_index: i64, series: ChunkedSeries, frame_bytes_max: usize) -> Vec<Vec<u8>> {
    let labels = labels_to_wire(series.labels);
    let labels_len: usize = labels.iter().map(|l| field_len(l.encoded_len())).sum();
    let index_len = if query_index == 0 {
        0
    } else {
        1 + encoded_len_varint(query_index as u64)
    };
    let message_len = |series_len: usize| index_len + field_len(series_len);
    let mut out = Vec::new();
    let mut chunks: Vec<pb::Chunk> = Vec::new();
    let mut series_len = labels_len;
    let mut flush = |chunks: &mut Vec<pb::Chunk>, series_len: usize| {
        let message = pb::ChunkedReadResponse {
            chunked_series: vec![pb::ChunkedSeries {
                labels: labels.clone(),
                chunks: std::mem::take(chunks),
            }],
            query_index,
        }
        .encode_to_vec();
        debug_assert_eq!(message.len(), message_len(series_len));
        let mut frame = Vec::with_capacity(message.len() + 14);
        write_frame(&mut frame, &message);
        out.push(frame);
    };
    for chunk in series.chunks {
        let add = field_len(chunk.encoded_len());
        if !chunks.is_empty() && message_len(series_len + add) > frame_bytes_max {
            flush(&mut chunks, series_len);
            series_len = labels_len;
        }
        chunks.push(chunk);
        series_len += add;
    }
    if !chunks.is_empty() {
        flush(&mut chunks, series_len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_read::frame::read_frames;
    use crate::remote_read::xor::CHUNK_SAMPLES_MAX;

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            histograms: Vec::new(),
            labels: Labels::from_pairs(pairs),
            samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    fn iter(v: Vec<SeriesSamples>) -> Box<SelectedSeries<'static>> {
        Box::new(v.into_iter().map(Ok))
    }

    #[test]
    fn samples_are_sorted_by_labels_and_duplicates_merged() {
        let mut selected = iter(vec![
            series(&[("__name__", "b")], &[(1, 1.0)]),
            series(&[("__name__", "a"), ("x", "2")], &[(5, 5.0), (7, 7.0)]),
            series(&[("__name__", "a")], &[(2, 2.0)]),
            series(&[("__name__", "a"), ("x", "2")], &[(6, 6.0), (7, 70.0)]),
            series(&[("__name__", "c")], &[]),
            series(&[("__name__", "a"), ("x", "1")], &[(3, 1.0), (1, 3.0)]),
        ]);
        let mut budget = Budget::new(100, 100);
        let r = samples_result(&mut selected, &mut budget, &AtomicBool::new(false)).unwrap();
        let got: Vec<(String, Vec<(i64, f64)>)> = r
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect::<Vec<_>>()
                        .join(","),
                    ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("__name__=a".to_string(), vec![(2, 2.0)]),
                ("__name__=a,x=1".to_string(), vec![(1, 3.0), (3, 1.0)]),
                (
                    "__name__=a,x=2".to_string(),
                    vec![(5, 5.0), (6, 6.0), (7, 7.0)]
                ),
                ("__name__=b".to_string(), vec![(1, 1.0)]),
            ]
        );
        assert_eq!((budget.series(), budget.samples()), (5, 8));
    }

    #[test]
    fn limits_are_prometheus_worded_400s() {
        let data = || {
            iter(vec![
                series(&[("a", "1")], &[(1, 1.0), (2, 2.0)]),
                series(&[("a", "2")], &[(1, 1.0), (2, 2.0)]),
            ])
        };
        let no = AtomicBool::new(false);
        let e = samples_result(&mut data(), &mut Budget::new(3, 10), &no).unwrap_err();
        assert_eq!(e.to_string(), "exceeded sample limit (3)");
        assert!(matches!(e, RemoteReadError::BadRequest(_)));
        let e = chunked_series(&mut data(), &mut Budget::new(10, 1), &no, 120).unwrap_err();
        assert_eq!(e.to_string(), "exceeded series limit (1)");
        // The budget spans the queries of a request.
        let mut budget = Budget::new(6, 10);
        samples_result(&mut data(), &mut budget, &no).unwrap();
        assert!(samples_result(&mut data(), &mut budget, &no).is_err());
        // Cancellation stops the work.
        assert!(
            samples_result(&mut data(), &mut Budget::new(9, 9), &AtomicBool::new(true)).is_err()
        );
    }

    #[test]
    fn querier_errors_keep_their_kind() {
        let mut selected: Box<SelectedSeries<'static>> =
            Box::new(vec![Err(QueryError::execution("too many samples"))].into_iter());
        let e = samples_result(
            &mut selected,
            &mut Budget::new(9, 9),
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(
            matches!(&e, RemoteReadError::Query(q) if q.kind == tidemark_query::QueryErrorKind::Execution),
            "{e:?}"
        );
    }

    #[test]
    fn chunked_series_round_trip_and_merge() {
        let long: Vec<(i64, f64)> = (0..300).map(|i| (i * 1000, i as f64)).collect();
        let mut selected = iter(vec![
            series(&[("__name__", "z")], &long[150..]),
            series(&[("__name__", "y")], &[(1, 1.0)]),
            series(&[("__name__", "z")], &long[..150]),
        ]);
        let got = chunked_series(
            &mut selected,
            &mut Budget::new(1000, 10),
            &AtomicBool::new(false),
            CHUNK_SAMPLES_MAX,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels, Labels::from_pairs(&[("__name__", "y")]));
        let z = &got[1];
        assert_eq!(z.chunks.len(), 3);
        let back: Vec<(i64, f64)> = z
            .chunks
            .iter()
            .flat_map(|c| xor::decode(&c.data).unwrap())
            .map(|s| (s.t, s.v))
            .collect();
        assert_eq!(back, long);
        for w in z.chunks.windows(2) {
            assert!(w[0].max_time_ms < w[1].min_time_ms);
        }
    }

    fn hist(t: i64, count: u64) -> HistogramSample {
        use tidemark_storage::histogram::{HistogramValue, IntHistogram};
        HistogramSample {
            t,
            h: HistogramValue::Int(IntHistogram {
                count,
                zero_count: count,
                ..IntHistogram::default()
            }),
        }
    }

    /// A series that changes kind gets a chunk per run, in time order; at a timestamp with
    /// both, the histogram is kept.
    #[test]
    fn mixed_series_get_a_chunk_per_run_of_one_kind() {
        let mut s = series(
            &[("__name__", "m")],
            &[(1, 1.0), (2, 2.0), (3, 3.0), (9, 9.0)],
        );
        s.histograms = vec![hist(3, 1), hist(4, 2), hist(5, 3)];
        let got = chunked_series(
            &mut iter(vec![s]),
            &mut Budget::new(100, 10),
            &AtomicBool::new(false),
            CHUNK_SAMPLES_MAX,
        )
        .unwrap();
        let chunks = &got[0].chunks;
        let kinds: Vec<(i32, i64, i64)> = chunks
            .iter()
            .map(|c| (c.r#type, c.min_time_ms, c.max_time_ms))
            .collect();
        let (xor, hist_enc) = (
            pb::chunk::Encoding::Xor as i32,
            pb::chunk::Encoding::Histogram as i32,
        );
        assert_eq!(kinds, [(xor, 1, 2), (hist_enc, 3, 5), (xor, 9, 9)]);
        let back = prom_histogram::decode(hist_enc, &chunks[1].data).unwrap();
        assert_eq!(back.iter().map(|h| h.t).collect::<Vec<_>>(), [3, 4, 5]);
        // SAMPLES carries both kinds as they are.
        let mut s = series(&[("__name__", "m")], &[(1, 1.0)]);
        s.histograms = vec![hist(3, 1)];
        let r = samples_result(
            &mut iter(vec![s]),
            &mut Budget::new(100, 10),
            &AtomicBool::new(false),
        )
        .unwrap();
        let ts = &r.timeseries[0];
        assert_eq!((ts.samples.len(), ts.histograms.len()), (1, 1));
        assert_eq!(ts.histograms[0].timestamp, 3);
    }

    #[test]
    fn frames_hold_one_series_and_stay_within_the_limit() {
        let samples: Vec<Sample> = (0..5000)
            .map(|i| {
                Sample::new(
                    i * 15_000 + (i * 7919) % 1000,
                    (i * 31 % 1013) as f64 * 0.37,
                )
            })
            .collect();
        let a = ChunkedSeries {
            labels: Labels::from_pairs(&[("__name__", "a"), ("job", "j")]),
            chunks: xor_wire(xor::encode_chunks(&samples, CHUNK_SAMPLES_MAX)).collect(),
        };
        let b = ChunkedSeries {
            labels: Labels::from_pairs(&[("__name__", "b")]),
            chunks: xor_wire(xor::encode_chunks(&samples[..10], CHUNK_SAMPLES_MAX)).collect(),
        };
        let chunk_bytes = a.chunks.iter().map(|c| c.data.len()).max().unwrap();
        for max in [1, 500, 4096, 1 << 20] {
            let body: Vec<u8> = frames(3, vec![a.clone(), b.clone()], max)
                .flatten()
                .collect();
            let messages = read_frames(&body, 1 << 30).unwrap();
            let mut seen: Vec<(Vec<pb::Label>, Vec<pb::Chunk>)> = Vec::new();
            for m in &messages {
                let r = pb::ChunkedReadResponse::decode(*m).unwrap();
                assert_eq!(r.query_index, 3);
                assert_eq!(r.chunked_series.len(), 1);
                let s = r.chunked_series.into_iter().next().unwrap();
                assert!(!s.chunks.is_empty());
                assert!(
                    m.len() <= max || s.chunks.len() == 1,
                    "frame of {} bytes, limit {max}",
                    m.len()
                );
                assert!(m.len() <= max.max(chunk_bytes + 100));
                match seen.last_mut() {
                    Some((labels, chunks)) if *labels == s.labels => chunks.extend(s.chunks),
                    _ => seen.push((s.labels, s.chunks)),
                }
            }
            assert_eq!(seen.len(), 2, "limit {max}");
            assert_eq!(seen[0].0[0].value, "a");
            assert_eq!(seen[0].1.len(), a.chunks.len());
            for (c, orig) in seen[0].1.iter().zip(&a.chunks) {
                assert_eq!(c.data, orig.data);
                assert_eq!(
                    (c.min_time_ms, c.max_time_ms),
                    (orig.min_time_ms, orig.max_time_ms)
                );
                assert_eq!(c.r#type, pb::chunk::Encoding::Xor as i32);
            }
            if max == 1 << 20 {
                assert_eq!(messages.len(), 2);
            }
            if max == 4096 {
                assert!(messages.len() > 3);
            }
        }
        assert_eq!(frames(0, Vec::new(), 100).count(), 0);
    }
}
