//! The ruler on a one-node cluster over the test engine: creation of the ruler group, an
//! iteration committed with its samples written, and the committed state after a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidemark_alerting::rules::parse_rule_group;
use tidemark_alerting::state::AlertState;
use tidemark_storage::{Engine, Matcher};

use super::record::{Origin, RulerCommand};
use crate::config::Config;
use crate::error::ErrorKind;
use crate::node::Node;
use crate::raft::test_engine::TestEngine;

const GROUP: &str = "
name: g
interval: 1s
rules:
  - alert: Always
    expr: vector(1)
    for: 2s
    labels:
      severity: page
  - record: seven
    expr: vector(7)
";

async fn open(dir: &Path) -> Arc<Node> {
    let engine = Arc::new(TestEngine::open(&dir.join("data")));
    Node::open(
        Arc::new(Config::test_node(dir, 1)),
        None,
        engine as Arc<dyn Engine>,
    )
    .await
    .unwrap()
}

/// Waits (up to 20 s) until `f` of the ruler's state holds.
async fn wait_for(node: &Node, what: &str, f: impl Fn(&super::RulerState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.ruler().with_state(&f) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn firing_since(s: &super::RulerState) -> Option<i64> {
    let g = s.group("ns", "g")?;
    let a = g.state.rules.first()?.alerts.first()?;
    (a.state == AlertState::Firing).then_some(a.active_at_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_fires_writes_its_samples_and_its_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    let group = parse_rule_group(
        GROUP,
        &Default::default(),
        &tidemark_alerting::template::check_alert,
    )
    .unwrap();
    let cmd = RulerCommand::SetGroup {
        namespace: "ns".into(),
        origin: Origin::Api,
        group,
    };
    // The ruler group is created by the ruler's loop: until it has a leader, 503.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match node.ruler().propose(cmd.clone()).await {
            Ok(()) => break,
            Err(e) if e.kind() == ErrorKind::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    wait_for(&node, "the alert to fire", |s| firing_since(s).is_some()).await;
    let active_at = node.ruler().with_state(firing_since).unwrap();
    // The recording rule's output and ALERTS went through the write path, which an
    // iteration takes only after its state is committed (leader.rs): the firing state can be
    // seen before the firing sample is written, so wait for it.
    // ALERTS has a series while pending and another once firing.
    for (name, series) in [("seven", 1), ("ALERTS", 2), ("ALERTS_FOR_STATE", 1)] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            node.read_barrier().await.unwrap();
            let found = node
                .querier()
                .select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
                .unwrap()
                .count();
            if found == series {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {found} series, not {series}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let iterations = node
        .ruler()
        .with_state(|s| s.group("ns", "g").unwrap().state.iterations);
    assert!(iterations >= 3, "{iterations}");
    node.stop().await;
    drop(node);

    // After a restart the committed state is there before any new iteration: the `for` clock
    // and the firing alert are not reset.
    let node = open(dir.path()).await;
    assert_eq!(node.ruler().with_state(firing_since), Some(active_at));
    let before = node
        .ruler()
        .with_state(|s| s.group("ns", "g").unwrap().state.iterations);
    assert!(before >= iterations);
    wait_for(&node, "an iteration after the restart", |s| {
        s.group("ns", "g").unwrap().state.iterations > before
    })
    .await;
    assert_eq!(node.ruler().with_state(firing_since), Some(active_at));
    node.stop().await;
}
