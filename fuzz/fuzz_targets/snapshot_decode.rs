//! A shard snapshot stream as a peer sends it when a replica catches up: reading it answers
//! its records or an error, never a panic or an allocation past the stated limits; what reads
//! writes back to the same bytes' records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_storage::snapshot_stream::{Writer, read};

fuzz_target!(|data: &[u8]| {
    // The shard the stream is offered for: the bytes' own (bytes 8..12) when there, so that
    // inputs get past the shard check.
    let shard = data
        .get(8..12)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let mut records = Vec::new();
    let read_ok = read(shard, &mut &data[..], |cf, k, v| {
        records.push((cf, k, v));
        Ok(())
    });
    if read_ok.is_ok() {
        let mut again = Vec::new();
        let mut w = Writer::new(&mut again, shard).expect("writes to memory");
        for (cf, k, v) in &records {
            w.record(*cf, k, v).expect("writes to memory");
        }
        w.finish().expect("writes to memory");
        let mut back = Vec::new();
        read(shard, &mut &again[..], |cf, k, v| {
            back.push((cf, k, v));
            Ok(())
        })
        .expect("a stream written back reads");
        assert_eq!(back, records);
    }
});
