//! Rollup chunk: one series' rollup windows as columns (`rollup.md`). Pure functions, no I/O.

use super::ENCODING_ROLLUP;
use super::columns::{put_int_column, put_values, read_int_column, read_values};
use crate::error::{Error, Result};
use crate::rollup::Window;
use crate::varint::{Reader, put_uvarint, put_varint};

/// Layout version written after the encoding byte.
pub const ROLLUP_VERSION: u8 = 1;

/// Windows one rollup chunk may hold (a day of 1-minute windows is 1,440).
pub const ROLLUP_WINDOWS_MAX: usize = 1 << 20;

fn corrupt(what: &str) -> Error {
    Error::Decode(format!("rollup chunk: {what}"))
}

/// Encodes `windows` (ascending by end, each a window of `resolution_ms`).
pub fn encode(resolution_ms: i64, windows: &[Window]) -> Result<Vec<u8>> {
    if resolution_ms <= 0 {
        return Err(Error::Encode("rollup resolution must be positive".into()));
    }
    if windows.len() > ROLLUP_WINDOWS_MAX {
        return Err(Error::Encode(format!(
            "{} windows exceed the rollup chunk limit of {ROLLUP_WINDOWS_MAX}",
            windows.len()
        )));
    }
    let res = resolution_ms;
    for (i, w) in windows.iter().enumerate() {
        let ok = w.end_ms.rem_euclid(res) == 0
            && w.count >= 1
            && w.first_t <= w.last_t
            && w.last_t <= w.end_ms
            && w.first_t > w.end_ms - res
            && (i == 0 || windows[i - 1].end_ms < w.end_ms);
        if !ok {
            return Err(Error::Encode(format!("malformed rollup window {w:?}")));
        }
    }
    let mut out = vec![ENCODING_ROLLUP, ROLLUP_VERSION];
    put_uvarint(&mut out, res as u64);
    put_uvarint(&mut out, windows.len() as u64);
    let Some(first) = windows.first() else {
        return Ok(out);
    };
    put_varint(&mut out, first.end_ms);
    if windows.len() >= 2 {
        let gaps: Vec<i64> = windows
            .windows(2)
            .map(|p| (p[1].end_ms - p[0].end_ms) / res - 1)
            .collect();
        put_int_column(&mut out, &gaps)?;
    }
    let ints = |f: fn(&Window) -> i64| windows.iter().map(f).collect::<Vec<i64>>();
    put_int_column(&mut out, &ints(|w| w.count as i64))?;
    put_int_column(&mut out, &ints(|w| w.end_ms - w.first_t))?;
    put_int_column(&mut out, &ints(|w| w.end_ms - w.last_t))?;
    let floats = |f: fn(&Window) -> f64| windows.iter().map(f).collect::<Vec<f64>>();
    for column in [
        floats(|w| w.sum),
        floats(|w| w.first_v),
        floats(|w| w.last_v),
    ] {
        put_values(&mut out, &column)?;
    }
    // A counter's window starts at its minimum and ends at its maximum: those columns are
    // flags unless a value differs.
    put_same_or(&mut out, windows, |w| w.min, |w| w.first_v)?;
    put_same_or(&mut out, windows, |w| w.max, |w| w.last_v)?;
    for column in [floats(|w| w.increase), floats(|w| w.jump)] {
        put_values(&mut out, &column)?;
    }
    Ok(out)
}

/// A column that usually equals another bit for bit: a flag per window (1: equal), then the
/// values of the windows that differ.
fn put_same_or(
    out: &mut Vec<u8>,
    windows: &[Window],
    value: fn(&Window) -> f64,
    reference: fn(&Window) -> f64,
) -> Result<()> {
    let same: Vec<i64> = windows
        .iter()
        .map(|w| i64::from(value(w).to_bits() == reference(w).to_bits()))
        .collect();
    put_int_column(out, &same)?;
    let differing: Vec<f64> = windows
        .iter()
        .zip(&same)
        .filter(|(_, s)| **s == 0)
        .map(|(w, _)| value(w))
        .collect();
    if !differing.is_empty() {
        put_values(out, &differing)?;
    }
    Ok(())
}

/// Reads what [`put_same_or`] wrote, given the reference column.
fn read_same_or(r: &mut Reader<'_>, reference: &[f64]) -> Result<Vec<f64>> {
    let n = reference.len();
    let flags = read_int_column(r, n)?;
    if flags.iter().any(|f| *f != 0 && *f != 1) {
        return Err(corrupt("flag column"));
    }
    let k = flags.iter().filter(|f| **f == 0).count();
    let mut differing = vec![0.0; k];
    if k > 0 {
        read_values(r, &mut differing)?;
    }
    let mut next = differing.into_iter();
    Ok(flags
        .iter()
        .zip(reference)
        .map(|(f, r)| {
            if *f == 1 {
                *r
            } else {
                next.next().unwrap_or(f64::NAN)
            }
        })
        .collect())
}

/// The resolution and windows of a rollup chunk.
pub fn decode(bytes: &[u8]) -> Result<(i64, Vec<Window>)> {
    let mut r = Reader::new(bytes);
    if r.u8()? != ENCODING_ROLLUP {
        return Err(corrupt("not a rollup chunk"));
    }
    let version = r.u8()?;
    if version != ROLLUP_VERSION {
        return Err(corrupt(&format!("unknown version {version}")));
    }
    let res = i64::try_from(r.uvarint()?)
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| corrupt("resolution"))?;
    let n = usize::try_from(r.uvarint()?)
        .ok()
        .filter(|&n| n <= ROLLUP_WINDOWS_MAX)
        .ok_or_else(|| corrupt("window count exceeds the limit"))?;
    if n == 0 {
        return finish(&r).map(|()| (res, Vec::new()));
    }
    // Every column takes at least a byte per window or a constant: a count the input cannot
    // hold is refused before anything is allocated for it.
    if r.remaining() < 10 {
        return Err(corrupt("truncated"));
    }
    let end0 = r.varint()?;
    let mut ends = Vec::with_capacity(n);
    ends.push(end0);
    if n >= 2 {
        for gap in read_int_column(&mut r, n - 1)? {
            let step = gap
                .checked_add(1)
                .filter(|&g| g >= 1)
                .and_then(|g| g.checked_mul(res))
                .ok_or_else(|| corrupt("window gap"))?;
            let prev = ends[ends.len() - 1];
            ends.push(
                prev.checked_add(step)
                    .ok_or_else(|| corrupt("window end"))?,
            );
        }
    }
    let counts = read_int_column(&mut r, n)?;
    let first_off = read_int_column(&mut r, n)?;
    let last_off = read_int_column(&mut r, n)?;
    let column = |r: &mut Reader<'_>| -> Result<Vec<f64>> {
        let mut c = vec![0.0; n];
        read_values(r, &mut c)?;
        Ok(c)
    };
    let sum = column(&mut r)?;
    let first_v = column(&mut r)?;
    let last_v = column(&mut r)?;
    let min = read_same_or(&mut r, &first_v)?;
    let max = read_same_or(&mut r, &last_v)?;
    let increase = column(&mut r)?;
    let jump = column(&mut r)?;
    finish(&r)?;
    (0..n)
        .map(|i| {
            let (f, l) = (first_off[i], last_off[i]);
            if counts[i] < 1 || !(0..res).contains(&f) || l < 0 || l > f {
                return Err(corrupt("window columns out of range"));
            }
            Ok(Window {
                end_ms: ends[i],
                count: counts[i] as u64,
                sum: sum[i],
                min: min[i],
                max: max[i],
                first_t: ends[i] - f,
                first_v: first_v[i],
                last_t: ends[i] - l,
                last_v: last_v[i],
                increase: increase[i],
                jump: jump[i],
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(|ws| (res, ws))
}

fn finish(r: &Reader<'_>) -> Result<()> {
    if r.remaining() != 0 {
        return Err(corrupt("trailing bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{STALE_NAN_BITS, Sample};
    use crate::rollup::windows;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const M: i64 = 60_000;

    fn same(a: &[Window], b: &[Window]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                let f = |p: f64, q: f64| p.to_bits() == q.to_bits();
                (x.end_ms, x.count, x.first_t, x.last_t) == (y.end_ms, y.count, y.first_t, y.last_t)
                    && f(x.sum, y.sum)
                    && f(x.min, y.min)
                    && f(x.max, y.max)
                    && f(x.first_v, y.first_v)
                    && f(x.last_v, y.last_v)
                    && f(x.increase, y.increase)
                    && f(x.jump, y.jump)
            })
    }

    /// A day of a jittered counter scraped every 15 s with gaps, resets and odd values.
    fn day(seed: u64) -> Vec<Window> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v = 0.0f64;
        let mut t = 0i64;
        let mut samples = Vec::new();
        while t < 24 * 60 * M {
            t += 15_000 + rng.random_range(-30..30);
            if rng.random_bool(0.01) {
                t += rng.random_range(0..30 * M);
            }
            v = match rng.random_range(0..1000) {
                0 => 0.0,
                1 => f64::NAN,
                2 => f64::from_bits(STALE_NAN_BITS),
                3 => f64::INFINITY,
                _ => ((v + rng.random_range(0.0..5.0)) * 100.0).round() / 100.0,
            };
            if v.is_nan() || v.is_infinite() {
                samples.push(Sample::new(t, v));
                v = 1.0;
            } else {
                samples.push(Sample::new(t, v));
            }
        }
        windows(&samples, M, 0, 24 * 60 * M)
    }

    #[test]
    fn round_trips_bit_exactly_and_compresses() {
        for seed in 0..20 {
            let ws = day(seed);
            let bytes = encode(M, &ws).unwrap();
            let (res, back) = decode(&bytes).unwrap();
            assert_eq!(res, M);
            assert!(same(&ws, &back), "seed {seed}");
            // Eleven numbers a window, 88 bytes raw.
            let per = bytes.len() as f64 / ws.len() as f64;
            if seed == 0 {
                println!("{} windows, {per:.1} bytes per window", ws.len());
            }
            assert!(per < 40.0, "{per:.1} bytes per window");
        }
        assert_eq!(decode(&encode(M, &[]).unwrap()).unwrap(), (M, vec![]));
    }

    #[test]
    fn bad_input_is_refused() {
        let ws = day(1);
        let bytes = encode(M, &ws).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..1000 {
            let mut b = bytes.clone();
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
            let _ = decode(&b);
        }
        let mut unordered = ws[..3].to_vec();
        unordered.swap(0, 1);
        assert!(encode(M, &unordered).is_err());
        assert!(encode(0, &ws).is_err());
    }
}
