//! What the suite's tests share.

use std::path::{Path, PathBuf};

use tidemark_jepsen::{Nemesis, Report};

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

/// What every suite test asserts of its run: no anomaly, some writes acknowledged, some reads
/// after writes answered, and every requested kind of fault scheduled (`out` is named when
/// something fails: its history and node logs are kept there).
pub fn assert_clean(report: &Report, kinds: &[Nemesis], out: &Path) {
    print!("{}", report.table());
    println!("{}", report.verdict());
    assert!(
        report.pass(),
        "{} (history in {})",
        report.verdict(),
        out.display()
    );
    assert!(report.check.ok > 0, "no write was acknowledged");
    assert!(report.reads.seen > 0, "no read after a write saw it");
    for kind in kinds {
        assert!(
            report.schedule.iter().any(|f| f.kind == *kind),
            "no {kind:?} fault in {:?}",
            report.schedule
        );
    }
}
