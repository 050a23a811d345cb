//! Reading one series: a snapshot of its head taken under the shard lock, merged afterwards
//! with what the backend holds.

use super::Shard;
use crate::chunk::decode_range;
use crate::error::Result;
use crate::model::{Labels, Sample, SeriesId};

/// The in-memory data of one series in a time range, copied out of the head.
#[derive(Default)]
pub(crate) struct SeriesSnapshot {
    pub labels: Labels,
    /// Encoded in-order chunks overlapping the range.
    pub in_order: Vec<Vec<u8>>,
    /// The first timestamp of each of `in_order`.
    pub in_order_starts: Vec<i64>,
    /// Out-of-order buffer samples in the range.
    pub ooo: Vec<Sample>,
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
        for c in &head.closed {
            if c.max_t >= mint_ms && c.min_t <= maxt_ms {
                snap.in_order.push(c.bytes.to_vec());
                snap.in_order_starts.push(c.min_t);
            }
        }
        if let Some(o) = &head.open
            && !o.chunk.is_empty()
            && o.chunk.max_time() >= mint_ms
            && o.chunk.min_time() <= maxt_ms
        {
            snap.in_order.push(o.chunk.bytes().to_vec());
            snap.in_order_starts.push(o.chunk.min_time());
        }
        snap.ooo = head
            .ooo
            .iter()
            .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
            .copied()
            .collect();
        Some(snap)
    }
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
}
