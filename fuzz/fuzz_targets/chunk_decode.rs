//! Stored chunk bytes as a corrupted disk or snapshot would hand them over: every decoder
//! (XOR, sealed, rollup) answers samples or an error, never panics or allocates without bound;
//! so does splitting a sealed chunk into its time part and values, and joining the parts of a
//! chunk that names a shared time column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_storage::chunk;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = chunk::decode_range(data, i64::MIN, i64::MAX, &mut out);
    let _ = chunk::sample_count(data);
    let _ = chunk::sealed::decode(data);
    let _ = chunk::sealed::min_time(data);
    let _ = chunk::rollup::decode(data);
    if let Ok(Some((times, values))) = chunk::shared_times::split(data) {
        let named = chunk::shared_times::naming(&chunk::shared_times::column_id(times), values);
        let _ = chunk::sealed::decode(&chunk::shared_times::join(&named, times).unwrap());
    }
    let half = data.len() / 2;
    let _ = chunk::shared_times::join(&data[..half], &data[half..]);
});
