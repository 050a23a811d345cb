//! What the suite's tests share.

use std::path::PathBuf;

/// `target/release/tidemark`, next to this test executable (`target/release/deps/<test>-*`).
pub fn tidemark_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable under target/<profile>/deps");
    let bin = release.join("tidemark");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace first (`source scripts/env.sh && cargo build --release --workspace`)",
        bin.display()
    );
    bin
}
