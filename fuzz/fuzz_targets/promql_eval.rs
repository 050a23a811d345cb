//! PromQL evaluated over random data: the first bytes draw a few series (names, labels, samples
//! with odd values: NaN, infinities, huge and tiny numbers, stale markers) and a few native
//! histogram series (every schema, custom buckets, bucket indexes near the ends of their range,
//! zero buckets, resets), the rest is the expression, evaluated at an instant and over a short
//! range. Any answer or error is fine; a panic is not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tidemark_query::{EngineQuerier, PromqlEngine, QueryLimits};
use tidemark_storage::histogram::{
    CUSTOM_BUCKETS_SCHEMA, FloatHistogram, HistogramSample, HistogramValue, ResetHint, Span,
};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, MemEngine, Sample, SeriesRef, WriteBatch,
};

/// Bytes that draw the float series, then the histogram series.
const FLOAT_SEED: usize = 24;
const HISTOGRAM_SEED: usize = 12;
/// First bucket indexes a histogram series may use.
const OFFSETS: [i32; 6] = [0, -3, 7, 1020, i32::MAX - 3, i32::MIN];

const NAMES: [&str; 3] = ["a", "b", "c_total"];
const VALUES: [f64; 8] = [
    0.0,
    1.0,
    -1.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e308,
    5e-324,
];

/// Series drawn from `seed`: up to 6, each with up to 16 samples over 10 minutes.
fn write_series(engine: &MemEngine, seed: &[u8]) {
    let mut new_series = Vec::new();
    let mut samples = Vec::new();
    for (i, chunk) in seed.chunks(4).take(6).enumerate() {
        let name = NAMES[chunk[0] as usize % NAMES.len()];
        let job = format!("j{}", chunk.get(1).copied().unwrap_or(0) % 3);
        let labels = Labels::from_pairs(&[("__name__", name), ("job", &job), ("i", &i.to_string())]);
        let n = chunk.get(2).copied().unwrap_or(1) % 16 + 1;
        let step = i64::from(chunk.get(3).copied().unwrap_or(1) % 60 + 1) * 1_000;
        let mut points = Vec::new();
        for k in 0..n {
            let v = match (u32::from(k) + u32::from(chunk[0])) % 11 {
                x if (x as usize) < VALUES.len() => VALUES[x as usize],
                x => f64::from(x) * f64::from(k),
            };
            points.push(Sample::new(i64::from(k) * step, v));
        }
        new_series.push(labels);
        samples.push((SeriesRef::New(i as u32), points));
    }
    let cmd = Command::Write(WriteBatch {
        histograms: Vec::new(),
        new_series,
        samples,
    });
    let _ = engine.apply(0, 1, &cmd);
}

/// Native histogram series drawn from `seed`: up to 3, each with up to 12 samples.
fn write_histograms(engine: &MemEngine, seed: &[u8]) {
    let mut new_series = Vec::new();
    let mut histograms = Vec::new();
    for (i, chunk) in seed.chunks(4).take(3).enumerate() {
        let byte = |k: usize| chunk.get(k).copied().unwrap_or(0);
        let name = ["h", "h_bucket", "c_total"][byte(0) as usize % 3];
        let labels = Labels::from_pairs(&[("__name__", name), ("hist", &i.to_string())]);
        let schema = match byte(1) % 14 {
            13 => CUSTOM_BUCKETS_SCHEMA,
            s => i32::from(s) - 4,
        };
        let offset = OFFSETS[byte(2) as usize % OFFSETS.len()];
        let buckets = usize::from(byte(3) % 5);
        let mut points = Vec::new();
        for k in 0..(byte(0) % 12 + 2) {
            // Counts grow, except that every fifth sample starts again (a counter reset).
            let level = f64::from(k % 5) + f64::from(byte(k as usize % 4) % 3);
            let counts: Vec<f64> = (0..buckets).map(|b| level * (b as f64 + 1.0)).collect();
            let zero_count = if byte(1) % 2 == 0 { level } else { 0.0 };
            let custom = schema == CUSTOM_BUCKETS_SCHEMA;
            let h = FloatHistogram {
                hint: if byte(2) % 7 == 0 { ResetHint::Gauge } else { ResetHint::Unknown },
                schema,
                zero_threshold: if custom { 0.0 } else { [0.0, 1e-3, 1.0][k as usize % 3] },
                zero_count: if custom { 0.0 } else { zero_count },
                count: counts.iter().sum::<f64>() + if custom { 0.0 } else { zero_count },
                sum: level * 1.5 - 2.0,
                positive_spans: if buckets == 0 {
                    Vec::new()
                } else {
                    vec![Span {
                        offset: if custom { 0 } else { offset },
                        length: buckets as u32,
                    }]
                },
                positive: counts,
                custom_values: if custom {
                    (0..buckets.saturating_sub(1)).map(|b| b as f64 + 0.5).collect()
                } else {
                    Vec::new()
                },
                ..FloatHistogram::default()
            };
            points.push(HistogramSample {
                t: i64::from(k) * 30_000,
                h: HistogramValue::Float(h),
            });
        }
        new_series.push(labels);
        histograms.push((SeriesRef::New(i as u32), points));
    }
    let cmd = Command::Write(WriteBatch {
        histograms,
        new_series,
        samples: Vec::new(),
    });
    let _ = engine.apply(0, 2, &cmd);
}

fuzz_target!(|data: &[u8]| {
    if data.len() < FLOAT_SEED + HISTOGRAM_SEED {
        return;
    }
    let (seed, expr) = data.split_at(FLOAT_SEED + HISTOGRAM_SEED);
    let Ok(expr) = std::str::from_utf8(expr) else {
        return;
    };
    let engine = MemEngine::new(EngineOptions::default());
    write_series(&engine, &seed[..FLOAT_SEED]);
    write_histograms(&engine, &seed[FLOAT_SEED..]);
    let engine: Arc<dyn Engine> = Arc::new(engine);
    let querier = EngineQuerier::new(engine, vec![0]);
    let promql = PromqlEngine::new(QueryLimits {
        samples_max: 100_000,
        timeout_ms: 1_000,
        ..QueryLimits::default()
    });
    let _ = promql.instant(&querier, expr, 300_000);
    let _ = promql.range(&querier, expr, 0, 600_000, 30_000);
});
