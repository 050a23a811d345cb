//! A remote-write body, 1.0 or 2.0, as an agent (or anyone reaching the port) sends it: the
//! first byte picks the protocol (bit 0), whether the rest is compressed here first so that the
//! protobuf decoding is what gets fuzzed (bit 1 clear) or sent as it is to the snappy decoder
//! (bit 1 set), and the name rules (bit 2). Decoding answers a request or an error, within the
//! limits; what it answers holds together
//! (histograms too: each one valid, sorted per series).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_ingest::{DecodeLimits, NameValidation, Protocol, decode, testing::snappy};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let protocol = if mode & 1 == 0 { Protocol::V1 } else { Protocol::V2 };
    let body = if mode & 2 == 0 { snappy(rest) } else { rest.to_vec() };
    let names = if mode & 4 == 0 {
        NameValidation::Utf8
    } else {
        NameValidation::Legacy
    };
    // Small bounds, so that inputs reach them (a 2.0 symbol referenced many times, say).
    let limits = DecodeLimits {
        write_decoded_bytes_max: 1 << 20,
        labels_per_series_max: 16,
        label_name_bytes_max: 64,
        label_value_bytes_max: 256,
        series_per_request_max: 1_000,
        samples_per_request_max: 10_000,
    };
    if let Ok(d) = decode(protocol, &body, &limits, names) {
        assert!(d.series.len() <= limits.series_per_request_max);
        assert!(d.samples + d.histograms <= limits.samples_per_request_max);
        let histograms = d.histogram_series.iter().map(|s| s.samples.len()).sum::<usize>();
        assert_eq!(d.histograms, histograms);
        for s in &d.histogram_series {
            assert!(s.samples.windows(2).all(|w| w[0].t <= w[1].t), "histograms sorted");
            assert!(s.samples.iter().all(|h| h.h.validate().is_ok()), "histograms valid");
        }
        assert_eq!(d.samples, d.series.iter().map(|s| s.samples.len()).sum::<usize>());
        for s in &d.series {
            assert!(s.samples.windows(2).all(|w| w[0].t <= w[1].t), "samples sorted");
            let labels = s.key.labels();
            assert!(labels.len() <= limits.labels_per_series_max);
        }
    }
});
