//! A shard's native histogram samples: applied beside the floats of the same entry, into the
//! series' histogram head (`head/histogram.rs`). They share the series, its postings and the
//! partition rules of floats, with two differences: they never enter a sealed partition (the
//! leader refuses them as too old; a `Backfill` drops them as a `Write` does), and no rollup
//! tier holds them (they live as long as raw data does).

use std::collections::BTreeMap;

use crate::chunk::histogram::HistogramIter;
use crate::error::Result;
use crate::head::Appended;
use crate::histogram::HistogramSample;
use crate::model::SeriesId;
use crate::store::StoredChunks;

use super::Shard;

impl Shard {
    /// Appends histogram samples of series `id`.
    pub(super) fn append_histograms(&mut self, id: SeriesId, samples: &[HistogramSample]) {
        // The partition the previous sample fell in, and whether it accepts samples.
        let mut current: Option<(i64, bool)> = None;
        let mut touched = false;
        for s in samples {
            let Some(p) = self.partition_taking(id, s.t, false, &mut current) else {
                continue;
            };
            let head = self.histograms.entry(id).or_default();
            if head.append(s, p, self.opts.chunk_samples_max) != Appended::Dropped {
                touched = true;
                self.min_t = Some(self.min_t.map_or(s.t, |m| m.min(s.t)));
                self.max_t = Some(self.max_t.map_or(s.t, |m| m.max(s.t)));
            }
        }
        if touched {
            self.dirty.insert(id);
        }
    }
}

/// Merges a series' histogram sources, in priority order: in-order chunks (the store's, where a
/// head chunk with the same start, an earlier flush of it, replaces it, and the head's), then
/// stored out-of-order chunks by ascending flush sequence, then the head's buffer. At a
/// timestamp held by several the first wins, which is the sample applied first. Returns
/// samples in `[mint_ms, maxt_ms]`, sorted, unique timestamps.
pub(crate) fn merge_histograms(
    head_chunks: &[(i64, Vec<u8>)],
    stored: &mut StoredChunks,
    head_ooo: &[HistogramSample],
    mint_ms: i64,
    maxt_ms: i64,
) -> Result<Vec<HistogramSample>> {
    let mut in_order: Vec<(i64, &[u8])> = stored
        .histograms
        .iter()
        .filter(|(start, _)| !head_chunks.iter().any(|(h, _)| h == start))
        .chain(head_chunks)
        .map(|(start, bytes)| (*start, &bytes[..]))
        .collect();
    in_order.sort_by_key(|(start, _)| *start);
    let mut out = Vec::new();
    for (_, bytes) in in_order {
        read_range(bytes, mint_ms, maxt_ms, &mut out)?;
    }
    stored.histograms_ooo.sort_by_key(|(seq, _)| *seq);
    let mut ooo = Vec::new();
    for (_, bytes) in &stored.histograms_ooo {
        read_range(bytes, mint_ms, maxt_ms, &mut ooo)?;
    }
    ooo.extend(
        head_ooo
            .iter()
            .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
            .cloned(),
    );
    if ooo.is_empty() && out.windows(2).all(|w| w[0].t < w[1].t) {
        return Ok(out);
    }
    let mut merged: BTreeMap<i64, HistogramSample> = BTreeMap::new();
    for s in out.into_iter().chain(ooo) {
        merged.entry(s.t).or_insert(s);
    }
    Ok(merged.into_values().collect())
}

/// Appends the samples of a histogram chunk in `[mint_ms, maxt_ms]` to `out`.
fn read_range(
    bytes: &[u8],
    mint_ms: i64,
    maxt_ms: i64,
    out: &mut Vec<HistogramSample>,
) -> Result<()> {
    let mut it = HistogramIter::new(bytes)?;
    let mut next = it.seek(mint_ms)?;
    while let Some(s) = next {
        if s.t > maxt_ms {
            break;
        }
        out.push(s);
        next = it.next_sample()?;
    }
    Ok(())
}
