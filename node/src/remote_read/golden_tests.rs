//! Golden bytes of a `STREAMED_XOR_CHUNKS` response body: the frames Tidemark writes for one
//! query's series (sorted and merged, cut into chunks of [`CHUNK_SAMPLES_MAX`] samples, framed
//! under a byte limit), pinned in `golden_tests/*.bin`. Prometheus decodes this body with its
//! own code, so it never changes by accident.

use std::sync::atomic::AtomicBool;

use tidemark_storage::model::STALE_NAN_BITS;
use tidemark_storage::{Labels, Sample, SeriesSamples};

use super::response::{Budget, chunked_series, frames};
use super::xor::CHUNK_SAMPLES_MAX;

/// Series as a querier may yield them: unsorted, one met twice, one longer than a chunk.
fn selected() -> Vec<SeriesSamples> {
    let series = |pairs: &[(&str, &str)], samples: Vec<Sample>| SeriesSamples {
        histograms: Vec::new(),
        labels: Labels::from_pairs(pairs),
        samples,
    };
    let start = 1_700_000_000_000i64;
    let long: Vec<Sample> = (0..250)
        .map(|i| {
            let t = start + i * 15_000 + (i * 7919) % 1000 - 500;
            Sample::new(t, (i * 31 % 1013) as f64 * 0.37)
        })
        .collect();
    let stale = f64::from_bits(STALE_NAN_BITS);
    let special = [1.0, f64::NAN, stale, f64::INFINITY, f64::NEG_INFINITY, -2.5];
    vec![
        series(
            &[("__name__", "up"), ("job", "b")],
            special
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(start + i as i64 * 15_000, v))
                .collect(),
        ),
        series(&[("__name__", "up"), ("job", "a")], long[100..].to_vec()),
        series(&[("__name__", "one")], vec![Sample::new(-5, -0.0)]),
        series(&[("__name__", "up"), ("job", "a")], long[..100].to_vec()),
    ]
}

/// The response body for `selected()` as query `query_index` with frames of at most
/// `frame_bytes_max` bytes.
fn body(query_index: i64, frame_bytes_max: usize) -> Vec<u8> {
    let mut iter = selected().into_iter().map(Ok);
    let series = chunked_series(
        &mut iter,
        &mut Budget::new(10_000, 100),
        &AtomicBool::new(false),
        CHUNK_SAMPLES_MAX,
    )
    .unwrap();
    frames(query_index, series, frame_bytes_max)
        .flatten()
        .collect()
}

#[test]
fn streamed_body_is_unchanged() {
    assert_eq!(
        body(0, 1 << 20),
        include_bytes!("golden_tests/streamed_1mib.bin")
    );
}

/// A small frame limit splits the long series over several frames.
#[test]
fn streamed_body_in_small_frames_is_unchanged() {
    assert_eq!(
        body(2, 600),
        include_bytes!("golden_tests/streamed_600b.bin")
    );
}
