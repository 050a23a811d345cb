//! Stored chunk bytes as a corrupted disk or snapshot would hand them over: every decoder
//! (XOR, sealed, rollup, histogram) answers samples or an error, never panics or allocates without bound;
//! so does splitting a sealed chunk into its time part and values, and joining the parts of a
//! chunk that names a shared time column. A histogram chunk that reopens for appending takes
//! another sample.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_storage::chunk;
use tidemark_storage::chunk::histogram::{HistogramAppender, HistogramIter};
use tidemark_storage::histogram::Histogram;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = chunk::decode_range(data, i64::MIN, i64::MAX, &mut out);
    let _ = chunk::sample_count(data);
    let _ = chunk::sealed::decode(data);
    let _ = chunk::sealed::min_time(data);
    let _ = chunk::rollup::decode(data);
    if let Ok(it) = HistogramIter::new(data) {
        for s in it {
            if s.is_err() {
                break;
            }
        }
    }
    if let Ok(mut c) = HistogramAppender::<u64>::from_bytes(data) {
        let t = c.max_time().wrapping_add(1);
        let _ = c.append(t, &Histogram::stale_marker());
        let _ = HistogramIter::new(c.bytes()).map(|it| it.count());
    }
    if let Ok(mut c) = HistogramAppender::<f64>::from_bytes(data) {
        let _ = c.append(c.max_time(), &Histogram::default());
    }
    if let Ok(Some((times, values))) = chunk::shared_times::split(data) {
        let named = chunk::shared_times::naming(&chunk::shared_times::column_id(times), values);
        let _ = chunk::sealed::decode(&chunk::shared_times::join(&named, times).unwrap());
    }
    let half = data.len() / 2;
    let _ = chunk::shared_times::join(&data[..half], &data[half..]);
});
