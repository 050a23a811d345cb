//! A short namespace-mode run against the release `tidemark` binary: five nodes, each in a
//! network namespace of its own, under every network nemesis (random-halves partitions, an
//! isolated leader, a majority ring, a bridge, random packet loss) and kill -9: no acknowledged
//! sample lost, no phantom, no stale read, every shard's replicas agree, the ruler's alerts
//! reach the harness' fake Alertmanager, fire once per episode and never resolve while their
//! condition holds. Needs root, `ip` and
//! `iptables` (`scripts/test.sh` installs them); without them it fails and says why.

mod common;

use common::{assert_clean, tidemark_binary};
use tidemark_jepsen::{Nemesis, NetMode, RunOptions, Workload, run};

#[tokio::test]
async fn partitions_and_packet_loss_lose_nothing() {
    if let Some(why) = tidemark_jepsen::net::unsupported() {
        panic!("namespace mode cannot run here: {why}");
    }
    let out = std::env::temp_dir().join(format!("tidemark-jepsen-netns-{}", std::process::id()));
    let kinds = vec![
        Nemesis::Partition,
        Nemesis::IsolateLeader,
        Nemesis::Ring,
        Nemesis::Bridge,
        Nemesis::Loss,
        Nemesis::Kill,
    ];
    let opts = RunOptions {
        time_limit_s: 45,
        seed: 3,
        binary: tidemark_binary(),
        nodes: 5,
        nemeses: kinds.clone(),
        workloads: vec![
            Workload::Samples,
            Workload::LinearizableRead,
            Workload::Alerts,
        ],
        net: NetMode::Netns,
        out: Some(out.clone()),
    };
    let report = run(&opts).await.expect("setup");
    assert_clean(&report, &kinds, &out);
    // Every namespace of the run is gone.
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let mine = format!("tmj{}-", std::process::id());
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&mine),
        "namespaces left behind"
    );
    let _ = std::fs::remove_dir_all(&out);
}
