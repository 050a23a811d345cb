//! PromQL evaluated over random data: the first bytes draw a few series (names, labels, samples
//! with odd values: NaN, infinities, huge and tiny numbers, stale markers), the rest is the
//! expression, evaluated at an instant and over a short range. Any answer or error is fine; a
//! panic is not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tidemark_query::{EngineQuerier, PromqlEngine, QueryLimits};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, MemEngine, Sample, SeriesRef, WriteBatch,
};

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

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let (seed, expr) = data.split_at(24);
    let Ok(expr) = std::str::from_utf8(expr) else {
        return;
    };
    let engine = MemEngine::new(EngineOptions::default());
    write_series(&engine, seed);
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
