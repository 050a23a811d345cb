//! A short loopback run (seed 1: kill -9/restart of one node and of a majority at once,
//! SIGSTOP/SIGCONT, and removing a node from every group and adding it back with `tidemarkctl`),
//! while a brand-new node joins and leaders
//! are rebalanced onto it, against the release `tidemark` binary: no acknowledged sample lost,
//! no phantom, no stale read, all members (the new one included) agree, the ruler's alerts
//! fire once per episode and never resolve while their condition holds, and samples backfilled
//! while retention rolls up and expires raw data all stay counted.

mod common;

use std::path::PathBuf;

use common::{assert_clean, tidemark_binary};
use tidemark_jepsen::{Nemesis, NetMode, RunOptions, Workload, run};

#[tokio::test]
async fn kills_pauses_and_membership_changes_lose_nothing() {
    let out = std::env::temp_dir().join(format!("tidemark-jepsen-test-{}", std::process::id()));
    let kinds = vec![
        Nemesis::Kill,
        Nemesis::Pause,
        Nemesis::Membership,
        Nemesis::KillMajority,
    ];
    let opts = RunOptions {
        time_limit_s: 25,
        seed: 1,
        binary: tidemark_binary(),
        nodes: 3,
        nemeses: kinds.clone(),
        workloads: vec![
            Workload::Samples,
            Workload::LinearizableRead,
            Workload::Histograms,
            Workload::Membership,
            Workload::Alerts,
            Workload::Tiers,
        ],
        net: NetMode::Loopback,
        out: Some(out.clone()),
    };
    let report = run(&opts).await.expect("setup");
    assert_clean(&report, &kinds, &out);
    // Backfilled samples were taken while the tiers rolled up and expired raw data.
    assert!(
        report.tiers.writes_ok > 0 && report.tiers.raw_expired,
        "{:?}",
        report.tiers
    );
    // Native histograms were among the acknowledged writes, so among what was read back.
    let history = std::fs::read_to_string(out.join("history.jsonl")).expect("history");
    let histograms_ok = history
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "write" && v["outcome"] == "ok")
        .filter(|v| {
            v["samples"].as_array().into_iter().flatten().any(|s| {
                s["value"]
                    .as_u64()
                    .is_some_and(tidemark_jepsen::workload::as_histogram)
            })
        })
        .count();
    assert!(
        histograms_ok > 0,
        "no native histogram write was acknowledged"
    );
    // A brand-new node joined while the faults went on, and its replicas were compared.
    assert!(
        report.membership.joins_ok > 0 && !report.membership.joined_members.is_empty(),
        "{:?}",
        report.member_steps
    );
    // Keep the node data only when something needs looking at.
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn network_nemeses_are_refused_in_loopback_mode() {
    let opts = RunOptions {
        time_limit_s: 1,
        seed: 1,
        binary: PathBuf::from("/nonexistent/tidemark"),
        nodes: 3,
        nemeses: vec![Nemesis::Kill, Nemesis::Partition],
        workloads: vec![Workload::Samples],
        net: NetMode::Loopback,
        out: None,
    };
    let err = run(&opts).await.expect_err("partition must be refused");
    assert!(err.to_string().contains("needs --net netns"), "{err}");
}

/// Nodes restarted with their wall clock minutes ahead or behind (libfaketime), besides
/// kills, while samples are written and read through every node: nothing acknowledged is
/// lost, no phantom, no stale read, replicas agree. (The ruler and the tiers are left out:
/// they take the time from their leader's clock, as Prometheus' rule evaluation does, and
/// their checkers compare it with the harness's.)
#[tokio::test]
async fn skewed_clocks_lose_nothing() {
    if !std::path::Path::new(tidemark_jepsen::cluster::LIBFAKETIME).exists() {
        eprintln!("skipped: libfaketime missing (apt-get install faketime)");
        return;
    }
    let out = std::env::temp_dir().join(format!("tidemark-jepsen-skew-{}", std::process::id()));
    let kinds = vec![Nemesis::ClockSkew, Nemesis::Kill];
    let opts = RunOptions {
        time_limit_s: 20,
        seed: 2,
        binary: tidemark_binary(),
        nodes: 3,
        nemeses: kinds.clone(),
        workloads: vec![Workload::Samples, Workload::LinearizableRead],
        net: NetMode::Loopback,
        out: Some(out.clone()),
    };
    let report = run(&opts).await.expect("setup");
    assert_clean(&report, &kinds, &out);
    let _ = std::fs::remove_dir_all(&out);
}
