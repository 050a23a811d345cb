//! What a query reads of the rollup tiers: for each series, the windows that stand for the raw
//! samples retention dropped, each day from the finest tier that has it (1-minute windows
//! where they are kept, 1-hour windows before), and the time after which the raw samples are
//! complete. The query stitches these with the raw samples it selects.

use std::collections::{BTreeMap, BTreeSet};

use super::{Sharded, read};
use crate::error::Result;
use crate::model::{Labels, Matcher, SeriesId, ShardId};
use crate::rollup::Window;
use crate::store::Store;
use crate::tier::{Tier, TierChoice, unit_of_window_end};

/// One series' rollup windows for a query (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolledSeries {
    pub labels: Labels,
    /// Raw samples of the series are complete after this time; at or before it, the windows
    /// stand for them. `i64::MAX` when the query reads one rollup tier alone.
    pub raw_floor_ms: i64,
    /// Sorted by end, none after `raw_floor_ms`.
    pub windows: Vec<Window>,
    /// Each window's resolution in milliseconds (parallel to `windows`).
    pub resolutions: Vec<i64>,
}

impl<S: Store> Sharded<S> {
    /// The rollup windows of the series of `shard` matching `matchers` that a query over
    /// `[mint_ms, maxt_ms]` reading `choice` needs, sorted by labels. Stitched: only series
    /// whose raw data retention dropped after `mint_ms` (none, cheaply, when the shard's raw
    /// data is complete there); one rollup tier: its windows ending in the range.
    pub fn select_rolled(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        choice: TierChoice,
    ) -> Result<Vec<RolledSeries>> {
        let tier = match choice {
            TierChoice::Only(Tier::Raw) => return Ok(Vec::new()),
            TierChoice::Only(tier) => tier,
            TierChoice::Stitched => return self.select_stitched(shard, matchers, mint_ms, maxt_ms),
        };
        let res = tier.resolution_ms().unwrap_or(1);
        Ok(self
            .select_windows_of(shard, tier, matchers, mint_ms, maxt_ms)?
            .into_iter()
            .map(|(_, s)| RolledSeries {
                labels: s.labels,
                raw_floor_ms: i64::MAX,
                resolutions: vec![res; s.windows.len()],
                windows: s.windows,
            })
            .collect())
    }

    fn select_stitched(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<RolledSeries>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        let floor = read(&cell).raw_floor(None);
        if floor < mint_ms {
            return Ok(Vec::new());
        }
        let upto = maxt_ms.min(floor);
        // Per series: its id, then its 1-minute and 1-hour windows.
        let mut by_labels: BTreeMap<Labels, (SeriesId, Vec<Window>, Vec<Window>)> = BTreeMap::new();
        for (fine, tier) in [(true, Tier::Rollup1m), (false, Tier::Rollup1h)] {
            for (id, s) in self.select_windows_of(shard, tier, matchers, mint_ms, upto)? {
                let e = by_labels
                    .entry(s.labels)
                    .or_insert((id, Vec::new(), Vec::new()));
                if fine {
                    e.1 = s.windows;
                } else {
                    e.2 = s.windows;
                }
            }
        }
        let st = read(&cell);
        let mut out = Vec::new();
        for (labels, (id, fine, coarse)) in by_labels {
            let floor = st.raw_floor(Some(id));
            if floor < mint_ms {
                continue;
            }
            out.push(stitch(labels, floor, fine, coarse));
        }
        Ok(out)
    }
}

/// One series' windows up to `floor`: a day's 1-minute windows where it has them, its 1-hour
/// windows otherwise.
fn stitch(labels: Labels, floor: i64, fine: Vec<Window>, coarse: Vec<Window>) -> RolledSeries {
    let fine_days: BTreeSet<i64> = fine.iter().map(|w| unit_of_window_end(w.end_ms)).collect();
    let (m, h) = (60_000, 3_600_000);
    let mut all: Vec<(Window, i64)> = fine
        .into_iter()
        .map(|w| (w, m))
        .chain(
            coarse
                .into_iter()
                .filter(|w| !fine_days.contains(&unit_of_window_end(w.end_ms)))
                .map(|w| (w, h)),
        )
        .filter(|(w, _)| w.end_ms <= floor)
        .collect();
    all.sort_by_key(|(w, _)| w.end_ms);
    RolledSeries {
        labels,
        raw_floor_ms: floor,
        resolutions: all.iter().map(|(_, r)| *r).collect(),
        windows: all.into_iter().map(|(w, _)| w).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(end_ms: i64, v: f64) -> Window {
        Window {
            end_ms,
            count: 1,
            sum: v,
            min: v,
            max: v,
            first_t: end_ms,
            first_v: v,
            last_t: end_ms,
            last_v: v,
            increase: 0.0,
            jump: 0.0,
        }
    }

    #[test]
    fn a_day_comes_from_its_finest_tier_and_nothing_after_the_floor() {
        const D: i64 = 86_400_000;
        const H: i64 = 3_600_000;
        // Day 0 only in 1-hour windows, day 1 in both, the floor inside day 1.
        let coarse = vec![w(H, 1.0), w(D, 2.0), w(D + H, 3.0)];
        let fine = vec![w(D + 60_000, 4.0), w(D + H, 5.0), w(D + 2 * H, 6.0)];
        let got = stitch(Labels::default(), D + H, fine, coarse);
        let ends: Vec<(i64, i64)> = got
            .windows
            .iter()
            .zip(&got.resolutions)
            .map(|(w, r)| (w.end_ms, *r))
            .collect();
        assert_eq!(
            ends,
            vec![(H, H), (D, H), (D + 60_000, 60_000), (D + H, 60_000)]
        );
        assert_eq!(got.windows[3].last_v, 5.0);
    }
}
