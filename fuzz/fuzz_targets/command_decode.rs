//! A shard log entry's bytes (what a peer sends in a Raft batch or a snapshot carries): decoding
//! answers a command or an error; a command that decodes encodes back to what decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_storage::Command;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::decode(data) {
        let again = Command::decode(&cmd.encode()).expect("a decoded command encodes back");
        assert_eq!(format!("{again:?}"), format!("{cmd:?}"));
    }
});
