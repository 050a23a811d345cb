//! Stored chunk bytes as a corrupted disk or snapshot would hand them over: every decoder
//! (XOR, sealed, rollup) answers samples or an error, never panics or allocates without bound.
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
});
