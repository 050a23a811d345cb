//! Range functions over rollup windows, where retention dropped a series' raw samples.
//!
//! A step whose range `(t - r, t]` lies after the series' raw floor reads raw samples as
//! always. One that reaches before it reads windows instead: the stored ones up to the floor
//! (each day from the finest tier that has it) and, after the floor, the raw samples cut into
//! 1-minute windows, so a range may straddle tiers. The step uses the windows whose end falls
//! in `(t - r, t]`, never data after `t`, summarised ([`summarise`]) into what the function
//! needs:
//! - exact from the columns: `rate`, `increase` and `delta` (first and last sample, count and
//!   the reset-aware increase are what Prometheus' extrapolation reads), `sum/count/avg/min/
//!   max/last/first/present_over_time`, `ts_of_last_over_time`;
//! - every other function is computed from each window's last sample, with a warning.
//!
//! Where the range is not made of whole windows, or is shorter than two windows for the
//! `rate` family, the answer carries an info annotation saying so.

use std::ops::Range;

use tidemark_storage::rollup::{RangeSummary, Window, counter_delta, summarise, windows};
use tidemark_storage::{RolledSeries, Sample};

use super::range_fn::{self, Params, RangeFn, extrapolate_from};

/// Resolution of the windows cut from raw samples after the floor.
const RAW_WINDOW_MS: i64 = 60_000;

/// One series' windows for a range function (see the module docs).
pub(crate) struct Stitched {
    /// Raw samples are complete after this time.
    pub floor: i64,
    windows: Vec<Window>,
    resolutions: Vec<i64>,
}

impl Stitched {
    /// The windows of `rolled` and, after its floor, of the raw `samples` (no stale markers).
    pub fn new(rolled: &RolledSeries, samples: &[Sample]) -> Self {
        let mut ws = rolled.windows.clone();
        let mut resolutions = rolled.resolutions.clone();
        if rolled.raw_floor_ms != i64::MAX {
            let mut after = windows(samples, RAW_WINDOW_MS, rolled.raw_floor_ms, i64::MAX);
            // The counter's jump into the raw data comes from the last rolled-up sample.
            if let (Some(first), Some(prev)) = (after.first_mut(), ws.last()) {
                first.jump = counter_delta(prev.last_v, first.first_v);
            }
            resolutions.extend(std::iter::repeat_n(RAW_WINDOW_MS, after.len()));
            ws.extend(after);
        }
        Stitched {
            floor: rolled.raw_floor_ms,
            windows: ws,
            resolutions,
        }
    }

    /// The windows ending in `(start_ms, end_ms]`.
    fn ending_in(&self, start_ms: i64, end_ms: i64) -> Range<usize> {
        let lo = self.windows.partition_point(|w| w.end_ms <= start_ms);
        let hi = self.windows.partition_point(|w| w.end_ms <= end_ms);
        lo..hi.max(lo)
    }

    /// Whether any window ends in `(start_ms, end_ms]` (`absent_over_time`, `present_over_time`).
    pub fn any_in(&self, start_ms: i64, end_ms: i64) -> bool {
        !self.ending_in(start_ms, end_ms).is_empty()
    }

    /// Each window's last sample, and the raw samples after the floor: a range vector's
    /// series where its windows stand for raw data.
    pub fn last_samples(rolled: &RolledSeries, raw: &[Sample]) -> Vec<Sample> {
        rolled
            .windows
            .iter()
            .map(|w| Sample::new(w.last_t, w.last_v))
            .chain(raw.iter().filter(|s| s.t > rolled.raw_floor_ms).copied())
            .collect()
    }
}

/// What the steps read from windows, for the annotations of a call (coarsest resolution seen).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Notes {
    /// Computed from windows' last samples, not exactly.
    pub approximated: i64,
    /// A range not made of whole windows.
    pub partial_windows: i64,
    /// A `rate`-family range shorter than two windows.
    pub short_range: i64,
}

impl Notes {
    /// The annotations of a call of `name` that read windows: (warnings, infos).
    pub fn annotations(&self, name: &str) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        if self.approximated > 0 {
            warnings.push(format!(
                "PromQL warning: {name} cannot be computed exactly from rollup windows ({} resolution, where retention dropped the raw samples): computed from the last sample of each window",
                resolution_name(self.approximated)
            ));
        }
        if self.partial_windows > 0 {
            infos.push(format!(
                "PromQL info: the range of {name} is not made of whole rollup windows ({} resolution, where retention dropped the raw samples): only the windows ending within it are used",
                resolution_name(self.partial_windows)
            ));
        }
        if self.short_range > 0 {
            infos.push(format!(
                "PromQL info: the range of {name} is shorter than two rollup windows ({} resolution, where retention dropped the raw samples): each step reads at most one window",
                resolution_name(self.short_range)
            ));
        }
        (warnings, infos)
    }
}

/// `1m`, `1h` or milliseconds.
fn resolution_name(ms: i64) -> String {
    match ms {
        60_000 => "1m".into(),
        3_600_000 => "1h".into(),
        ms => format!("{ms}ms"),
    }
}

/// `f` at one step over the windows ending in `(w.start_ms, w.end_ms]`: its value and the
/// number of windows read. Notes what makes the answer differ from the raw samples'.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    f: RangeFn,
    st: &Stitched,
    w: range_fn::Window,
    range_ms: i64,
    p: Params,
    t_ms: i64,
    scratch: &mut Vec<f64>,
    notes: &mut Notes,
) -> (Option<f64>, usize) {
    let r = st.ending_in(w.start_ms, w.end_ms);
    let n = r.len();
    let Some(sum) = summarise(&st.windows[r.clone()]) else {
        return (None, 0);
    };
    let coarsest = st.resolutions[r.clone()].iter().copied().max().unwrap_or(0);
    let first_res = st.resolutions[r.start];
    let first_start = st.windows[r.start].end_ms - first_res;
    let last_res = st.resolutions[r.end - 1];
    if first_start < w.start_ms || w.end_ms.rem_euclid(last_res) != 0 {
        notes.partial_windows = notes.partial_windows.max(coarsest);
    }
    let rate_family = matches!(f, RangeFn::Rate | RangeFn::Increase | RangeFn::Delta);
    if rate_family && range_ms < 2 * coarsest {
        notes.short_range = notes.short_range.max(coarsest);
    }
    let v = match exact(f, &sum, w, range_ms) {
        Some(v) => v,
        None => {
            notes.approximated = notes.approximated.max(coarsest);
            let last: Vec<Sample> = st.windows[r]
                .iter()
                .map(|x| Sample::new(x.last_t, x.last_v))
                .collect();
            f.apply(&last, w, range_ms, p, t_ms, scratch)
        }
    };
    (v, n)
}

/// `f` from the summary of whole windows, for the functions the columns answer exactly
/// (`None` for the others; `Some(None)` where the function has no value).
fn exact(f: RangeFn, s: &RangeSummary, w: range_fn::Window, range_ms: i64) -> Option<Option<f64>> {
    use RangeFn::*;
    let first = Sample::new(s.first_t, s.first_v);
    let last = Sample::new(s.last_t, s.last_v);
    let count = s.count as usize;
    Some(match f {
        Rate | Increase => {
            extrapolate_from(first, last, count, s.increase, w, range_ms, true, f == Rate)
        }
        Delta => extrapolate_from(
            first,
            last,
            count,
            last.v - first.v,
            w,
            range_ms,
            false,
            false,
        ),
        SumOverTime => Some(s.sum),
        CountOverTime => Some(s.count as f64),
        AvgOverTime => Some(s.sum / s.count as f64),
        MinOverTime => Some(s.min),
        MaxOverTime => Some(s.max),
        LastOverTime => Some(s.last_v),
        FirstOverTime => Some(s.first_v),
        PresentOverTime => Some(1.0),
        TsOfLastOverTime => Some(s.last_t as f64 / 1000.0),
        _ => return None,
    })
}

/// One series' instant-vector values at window ends `ends` where retention dropped raw
/// samples (see [`crate::eval::selector::instant_values`]): a raw sample after the floor in
/// `(end - lookback, end]` when there is one, else the last value of the latest window ending
/// in `(end - max(lookback, resolution), end]`, so that graphs over rolled-up data have no
/// gaps between windows. Counts each value at its step.
pub(crate) fn instant_values(
    samples: &[Sample],
    rolled: &RolledSeries,
    ends: &[i64],
    lookback: i64,
    timestamps: bool,
    counts: &mut [u64],
) -> Option<Vec<Option<f64>>> {
    let mut values = Vec::with_capacity(ends.len());
    let mut any = false;
    let mut upto = 0;
    for (&end, count) in ends.iter().zip(counts) {
        while upto < samples.len() && samples[upto].t <= end {
            upto += 1;
        }
        let raw = upto
            .checked_sub(1)
            .map(|i| samples[i])
            .filter(|s| s.t > end - lookback && s.t > rolled.raw_floor_ms);
        let v = match raw {
            Some(s) if tidemark_storage::model::is_stale_nan(s.v) => None,
            Some(s) => Some(if timestamps { s.t as f64 / 1000.0 } else { s.v }),
            None => {
                let i = rolled.windows.partition_point(|w| w.end_ms <= end);
                i.checked_sub(1)
                    .filter(|&i| {
                        let back = lookback.max(rolled.resolutions[i]);
                        rolled.windows[i].end_ms > end - back
                    })
                    .map(|i| {
                        let w = &rolled.windows[i];
                        if timestamps {
                            w.last_t as f64 / 1000.0
                        } else {
                            w.last_v
                        }
                    })
            }
        };
        if v.is_some() {
            any = true;
            *count += 1;
        }
        values.push(v);
    }
    any.then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::functions::range_fn::extrapolated_rate;

    const M: i64 = 60_000;

    /// A counter sampled every 15 s with a reset, as raw samples and as rolled-up windows up to
    /// `floor` (1-hour windows for the first 2 hours, 1-minute windows after).
    fn counter(floor: i64) -> (Vec<Sample>, RolledSeries) {
        let samples: Vec<Sample> = (1..=5 * 240)
            .map(|i| {
                let v = if i < 300 {
                    i as f64 * 2.0
                } else {
                    (i - 300) as f64
                };
                Sample::new(i * 15_000, v)
            })
            .collect();
        let upto: Vec<Sample> = samples.iter().filter(|s| s.t <= floor).copied().collect();
        let hours = windows(&upto, 60 * M, 0, 2 * 60 * M);
        let minutes = windows(&upto, M, 2 * 60 * M, floor);
        let mut rolled = RolledSeries {
            raw_floor_ms: floor,
            ..RolledSeries::default()
        };
        for (ws, res) in [(hours, 60 * M), (minutes, M)] {
            rolled
                .resolutions
                .extend(std::iter::repeat_n(res, ws.len()));
            rolled.windows.extend(ws);
        }
        (samples, rolled)
    }

    #[test]
    fn rate_over_whole_windows_straddling_tiers_equals_the_raw_rate() {
        let floor = 3 * 60 * M;
        let (samples, rolled) = counter(floor);
        let raw_after: Vec<Sample> = samples.iter().filter(|s| s.t > floor).copied().collect();
        let st = Stitched::new(&rolled, &raw_after);
        // Ranges from the 1-hour tier through 1-minute windows into raw samples.
        for (start, end) in [
            (0, 4 * 60 * M),
            (60 * M, 3 * 60 * M + 30 * M),
            (2 * 60 * M, 3 * 60 * M),
        ] {
            let w = range_fn::Window {
                start_ms: start,
                end_ms: end,
            };
            let mut notes = Notes::default();
            let range = end - start;
            for f in [
                RangeFn::Rate,
                RangeFn::Increase,
                RangeFn::SumOverTime,
                RangeFn::MaxOverTime,
            ] {
                let (got, _) = apply(
                    f,
                    &st,
                    w,
                    range,
                    Params::default(),
                    end,
                    &mut Vec::new(),
                    &mut notes,
                );
                let inside: Vec<Sample> = samples
                    .iter()
                    .filter(|s| s.t > start && s.t <= end)
                    .copied()
                    .collect();
                let want = match f {
                    RangeFn::Rate => extrapolated_rate(&inside, w, range, true, true),
                    RangeFn::Increase => extrapolated_rate(&inside, w, range, true, false),
                    other => {
                        other.apply(&inside, w, range, Params::default(), end, &mut Vec::new())
                    }
                };
                let (g, w) = (got.unwrap(), want.unwrap());
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{f:?} ({start}, {end}]: {g} vs {w}"
                );
            }
            assert_eq!(notes.partial_windows, 0);
            assert_eq!(notes.approximated, 0);
        }
    }

    #[test]
    fn a_range_of_partial_windows_uses_only_windows_ending_in_it_and_says_so() {
        let floor = 4 * 60 * M;
        let (samples, rolled) = counter(floor);
        let st = Stitched::new(&rolled, &[]);
        // (30m, 1h30m]: only the 1-hour window ending at 1h is in it.
        let w = range_fn::Window {
            start_ms: 30 * M,
            end_ms: 90 * M,
        };
        let mut notes = Notes::default();
        let (got, n) = apply(
            RangeFn::CountOverTime,
            &st,
            w,
            60 * M,
            Params::default(),
            90 * M,
            &mut Vec::new(),
            &mut notes,
        );
        assert_eq!(n, 1);
        assert_eq!(
            got,
            Some(samples.iter().filter(|s| s.t <= 60 * M).count() as f64)
        );
        assert_eq!(notes.partial_windows, 60 * M);
        let (_, infos) = notes.annotations("count_over_time");
        assert!(
            infos[0].contains("not made of whole rollup windows (1h"),
            "{infos:?}"
        );
        // A function the columns cannot answer is approximated, with a warning.
        let (got, _) = apply(
            RangeFn::Irate,
            &st,
            w,
            60 * M,
            Params::default(),
            90 * M,
            &mut Vec::new(),
            &mut notes,
        );
        assert!(got.is_none(), "one window has one last sample: no irate");
        assert_eq!(notes.approximated, 60 * M);
    }

    #[test]
    fn instant_values_fill_the_gaps_between_windows() {
        let floor = 4 * 60 * M;
        let (samples, rolled) = counter(floor);
        let after: Vec<Sample> = samples.iter().filter(|s| s.t > floor).copied().collect();
        // 59 minutes after a 1-hour window's end it still answers (lookback 5m).
        let ends = [
            60 * M + 59 * M,
            3 * 60 * M + 30_000,
            floor + 30_000,
            floor + 10 * M,
        ];
        let mut counts = vec![0; ends.len()];
        let got = instant_values(&after, &rolled, &ends, 5 * M, false, &mut counts).unwrap();
        let last_before = |t: i64| samples.iter().rev().find(|s| s.t <= t).unwrap().v;
        assert_eq!(got[0], Some(last_before(60 * M)));
        assert_eq!(got[1], Some(last_before(3 * 60 * M)));
        assert_eq!(
            got[2],
            Some(last_before(floor + 30_000)),
            "raw after the floor wins"
        );
        assert_eq!(got[3], Some(last_before(floor + 10 * M)));
        assert_eq!(counts, vec![1, 1, 1, 1]);
    }
}
