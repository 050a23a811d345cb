//! Reading one series: a snapshot of its head taken under the shard lock, merged afterwards
//! with what the backend holds.

use super::Shard;
use crate::chunk::{ChunkTail, ENCODING_XOR, decode_range};
use crate::error::{Error, Result};
use crate::head::HeadSeries;
use crate::histogram::HistogramSample;
use crate::model::{Labels, Sample, SeriesId};

/// An in-order chunk copied out of the head: whole, or the tail of one whose front only the
/// backend holds (under the same start).
#[derive(Clone, Debug)]
pub(crate) struct HeadChunk {
    /// The chunk's first timestamp (its key's start).
    pub start: i64,
    /// The partition it belongs to, `[start, end)`.
    pub partition: (i64, i64),
    pub dropped: u32,
    pub count: u16,
    pub bytes: Vec<u8>,
}

impl HeadChunk {
    fn tail(&self) -> ChunkTail<'_> {
        ChunkTail {
            dropped: self.dropped,
            count: self.count,
            bytes: &self.bytes,
        }
    }
}

/// The in-memory data of one series in a time range, copied out of the head.
#[derive(Default)]
pub(crate) struct SeriesSnapshot {
    pub labels: Labels,
    /// In-order chunks overlapping the range.
    pub in_order: Vec<HeadChunk>,
    /// Out-of-order buffer samples in the range.
    pub ooo: Vec<Sample>,
    /// In-order histogram chunks overlapping the range, whole, with their first timestamps.
    pub histogram_chunks: Vec<(i64, Vec<u8>)>,
    /// Out-of-order histogram samples in the range.
    pub histogram_ooo: Vec<HistogramSample>,
    /// Whether the series has native histograms (then the store's are read too).
    pub has_histograms: bool,
}

impl Shard {
    /// Copies the head data of `id` overlapping `[mint_ms, maxt_ms]`.
    pub fn snapshot(&self, id: SeriesId, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSnapshot> {
        let labels = self.registry.labels(id)?;
        let mut snap = SeriesSnapshot {
            labels,
            ..Default::default()
        };
        let head = self.heads.get(id as usize)?;
        snap.in_order =
            self.head_chunks(head, |min_t, max_t, _| max_t >= mint_ms && min_t <= maxt_ms);
        snap.ooo = head
            .ooo
            .iter()
            .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
            .copied()
            .collect();
        if let Some(h) = self.histograms.get(&id) {
            (snap.histogram_chunks, snap.histogram_ooo) = h.snapshot(mint_ms, maxt_ms);
            snap.has_histograms = true;
        }
        Some(snap)
    }

    /// Copies the in-order chunks of `head` that `keep(min_t, max_t, partition)` accepts.
    pub(super) fn head_chunks(
        &self,
        head: &HeadSeries,
        keep: impl Fn(i64, i64, i64) -> bool,
    ) -> Vec<HeadChunk> {
        let copy = |start: i64, partition: i64, tail: ChunkTail<'_>| HeadChunk {
            start,
            partition: (partition, self.opts.partition_end(partition)),
            dropped: tail.dropped,
            count: tail.count,
            bytes: tail.bytes.to_vec(),
        };
        let mut out: Vec<HeadChunk> = head
            .closed
            .iter()
            .filter(|c| keep(c.min_t, c.max_t, c.partition))
            .map(|c| copy(c.min_t, c.partition, c.tail()))
            .collect();
        if let Some(o) = &head.open
            && !o.chunk.is_empty()
            && keep(o.chunk.min_time(), o.chunk.max_time(), o.partition)
        {
            out.push(copy(o.chunk.min_time(), o.partition, o.chunk.tail()));
        }
        out
    }
}

/// The in-order chunks of a series from the head's and the backend's (read for the same
/// range): a stored XOR chunk that starts where a head chunk starts is an earlier flush of that
/// chunk, which has only grown since: a whole head chunk replaces it, a tail completes it. A
/// tail whose stored front is gone was sealed meanwhile (a flush between the head's snapshot and
/// the read): the partition's sealed chunks, read instead, hold its samples. Sealed chunks are
/// never replaced (each holds the series' whole partition).
pub(crate) fn in_order_chunks(
    head: Vec<HeadChunk>,
    stored: Vec<(i64, Vec<u8>)>,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(stored.len() + head.len());
    let mut tails: Vec<&HeadChunk> = head.iter().filter(|h| h.dropped > 0).collect();
    let mut sealed_starts = Vec::new();
    for (start, mut bytes) in stored {
        if bytes.first() != Some(&ENCODING_XOR) {
            sealed_starts.push(start);
            out.push(bytes);
            continue;
        }
        match head.iter().find(|h| h.start == start) {
            None => out.push(bytes),
            Some(h) if h.dropped == 0 => {}
            Some(h) => {
                h.tail().append_to(&mut bytes)?;
                tails.retain(|t| t.start != start);
                out.push(bytes);
            }
        }
    }
    for t in tails {
        let (from, end) = t.partition;
        if !sealed_starts.iter().any(|s| (from..end).contains(s)) {
            return Err(Error::Decode(format!(
                "the stored front of the chunk starting at {} is missing",
                t.start
            )));
        }
    }
    out.extend(head.into_iter().filter(|h| h.dropped == 0).map(|h| h.bytes));
    Ok(out)
}

/// Merges the sources of one series, in priority order: in-order chunks (head and backend;
/// they never disagree), then backend out-of-order chunks by ascending flush sequence, then the
/// head's out-of-order buffer. At a timestamp held by several sources the first one wins,
/// which is the value applied first. Returns samples sorted with unique timestamps, clipped.
pub(crate) fn merge_sources(
    in_order: &[Vec<u8>],
    ooo_chunks: &mut [(u64, Vec<u8>)],
    ooo_head: &[Sample],
    mint_ms: i64,
    maxt_ms: i64,
) -> Result<Vec<Sample>> {
    // The common case: in-order chunks alone, one after the other. Decoded straight into the
    // answer, which is kept when it ascends strictly (no chunk overlapped another).
    if ooo_chunks.is_empty() && ooo_head.is_empty() {
        let mut out = Vec::new();
        for bytes in in_order {
            decode_range(bytes, mint_ms, maxt_ms, &mut out)?;
        }
        if out.windows(2).all(|w| w[0].t < w[1].t) {
            return Ok(out);
        }
    }
    let mut tagged: Vec<(i64, u32, Sample)> = Vec::new();
    let mut buf = Vec::new();
    for bytes in in_order {
        buf.clear();
        decode_range(bytes, mint_ms, maxt_ms, &mut buf)?;
        tagged.extend(buf.iter().map(|s| (s.t, 0, *s)));
    }
    ooo_chunks.sort_by_key(|(seq, _)| *seq);
    for (rank, (_, bytes)) in ooo_chunks.iter().enumerate() {
        buf.clear();
        decode_range(bytes, mint_ms, maxt_ms, &mut buf)?;
        tagged.extend(buf.iter().map(|s| (s.t, rank as u32 + 1, *s)));
    }
    tagged.extend(
        ooo_head
            .iter()
            .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
            .map(|s| (s.t, u32::MAX, *s)),
    );
    // Mostly sorted already (one in-order run); the sort is stable and keyed by (t, rank).
    tagged.sort_by_key(|(t, rank, _)| (*t, *rank));
    tagged.dedup_by_key(|(t, _, _)| *t);
    Ok(tagged.into_iter().map(|(_, _, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorChunk;

    fn chunk(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c.bytes().to_vec()
    }

    #[test]
    fn priority_and_clipping() {
        let in_order = vec![
            chunk(&[(10, 1.0), (20, 2.0)]),
            chunk(&[(20, 2.0), (30, 3.0)]),
        ];
        let mut ooo = vec![
            (9, chunk(&[(15, 9.0), (20, 9.0)])),
            (3, chunk(&[(5, 0.5), (15, 1.5)])),
        ];
        let head = [
            Sample::new(5, 7.0),
            Sample::new(25, 2.5),
            Sample::new(99, 1.0),
        ];
        let got = merge_sources(&in_order, &mut ooo, &head, 5, 30).unwrap();
        let want: Vec<Sample> = [
            (5, 0.5),
            (10, 1.0),
            (15, 1.5),
            (20, 2.0),
            (25, 2.5),
            (30, 3.0),
        ]
        .iter()
        .map(|&(t, v)| Sample::new(t, v))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn in_order_chunks_alone_are_decoded_straight_and_still_merged_when_they_overlap() {
        let samples = |v: &[(i64, f64)]| -> Vec<Sample> {
            v.iter().map(|&(t, v)| Sample::new(t, v)).collect()
        };
        let apart = vec![chunk(&[(10, 1.0), (20, 2.0)]), chunk(&[(30, 3.0)])];
        assert_eq!(
            merge_sources(&apart, &mut [], &[], 15, 30).unwrap(),
            samples(&[(20, 2.0), (30, 3.0)])
        );
        let overlapping = vec![
            chunk(&[(10, 1.0), (20, 2.0)]),
            chunk(&[(20, 2.0), (30, 3.0)]),
        ];
        assert_eq!(
            merge_sources(&overlapping, &mut [], &[], 0, 100).unwrap(),
            samples(&[(10, 1.0), (20, 2.0), (30, 3.0)])
        );
        let swapped = vec![chunk(&[(30, 3.0)]), chunk(&[(10, 1.0)])];
        assert_eq!(
            merge_sources(&swapped, &mut [], &[], 0, 100).unwrap(),
            samples(&[(10, 1.0), (30, 3.0)])
        );
    }

    /// A chunk flushed once, then appended to: the head's tail completes the stored front; a
    /// whole head chunk replaces its stored copy; a tail whose front was sealed meanwhile gives
    /// way to the sealed chunk; a tail without any is an error.
    #[test]
    fn head_tails_complete_stored_fronts() {
        let mut open = XorChunk::new();
        for t in 1..=5 {
            open.append(t * 10, t as f64).unwrap();
        }
        let stored_front = open.bytes().to_vec();
        open.forget_stored();
        open.append(60, 6.0).unwrap();
        let tail = open.tail();
        let head_tail = HeadChunk {
            start: 10,
            partition: (0, 100),
            dropped: tail.dropped,
            count: tail.count,
            bytes: tail.bytes.to_vec(),
        };
        let whole_next = HeadChunk {
            start: 70,
            partition: (0, 100),
            dropped: 0,
            count: 1,
            bytes: chunk(&[(70, 7.0)]),
        };
        let got = in_order_chunks(
            vec![head_tail.clone(), whole_next.clone()],
            vec![(10, stored_front), (70, chunk(&[(70, 7.0)]))],
        )
        .unwrap();
        let merged = merge_sources(&got, &mut [], &[], 0, 100).unwrap();
        let want: Vec<Sample> = (1..=7).map(|t| Sample::new(t * 10, t as f64)).collect();
        assert_eq!(merged, want);

        let sealed = crate::chunk::sealed::encode(&want).unwrap();
        let got = in_order_chunks(vec![head_tail.clone()], vec![(10, sealed.clone())]).unwrap();
        assert_eq!(got, vec![sealed]);
        let err = in_order_chunks(vec![head_tail], vec![]).unwrap_err();
        assert!(err.to_string().contains("stored front"), "{err}");
    }

    /// A flush that re-encodes a cut chunk (`recode.rs`) puts the sealed form in the head,
    /// writes it under the chunk's key, then drops it from the head. A read whose head snapshot
    /// and store read fall on either side of those steps sees each sample once.
    #[test]
    fn a_re_encoded_chunk_is_read_once_whichever_side_of_its_flush_a_read_falls() {
        let want: Vec<Sample> = (1..=6).map(|t| Sample::new(t * 10, t as f64)).collect();
        let pairs: Vec<(i64, f64)> = want.iter().map(|s| (s.t, s.v)).collect();
        let xor = chunk(&pairs);
        let sealed = crate::chunk::sealed::encode(&want).unwrap();
        let head = |bytes: &[u8], dropped: u32| HeadChunk {
            start: 10,
            partition: (0, 100),
            dropped,
            count: 6,
            bytes: bytes.to_vec(),
        };
        let read = |head: Vec<HeadChunk>, stored: Vec<(i64, Vec<u8>)>| {
            let chunks = in_order_chunks(head, stored).unwrap();
            merge_sources(&chunks, &mut [], &[], 0, 100).unwrap()
        };
        // The head's re-encoded chunk replaces the stored XOR one (written or not yet).
        assert_eq!(read(vec![head(&sealed, 0)], vec![(10, xor.clone())]), want);
        assert_eq!(
            read(vec![head(&sealed, 0)], vec![(10, sealed.clone())]),
            want
        );
        // A head snapshot from before the re-encoding: its tail (nothing appended since the
        // front was stored) or its whole XOR chunk, against the stored sealed form.
        let front = xor.len() as u32;
        assert_eq!(
            read(vec![head(&[], front)], vec![(10, sealed.clone())]),
            want
        );
        assert_eq!(read(vec![head(&xor, 0)], vec![(10, sealed.clone())]), want);
        // After the head dropped it: the stored form alone.
        assert_eq!(read(vec![], vec![(10, sealed)]), want);
    }
}
