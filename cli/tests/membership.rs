//! `tidemarkctl cluster status`, `cluster set-replication`, `node add`, `shard list`, `shard
//! transfer-leader`, `rebalance`, `node remove` and `node drain` against real nodes: a
//! one-node cluster started without cluster flags raises its replication factor, grows by a
//! node that joins it, spreads its leaders, then shrinks again.
//! Needs the `tidemark` binary next to `tidemarkctl` (a workspace build puts it there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tidemark_api::{
    ClusterStatus, Envelope, MemberChange, MemberChangeAnswer, MemberChangeOp, MemberOutcome,
    ShardVersionOutcome,
};
use tidemark_testkit::{ChildProcess, free_port};

const TOKEN: &str = "cli-test-token";
/// Time a node may take to answer `/-/ready` after start.
const READY_TIMEOUT_MS: u64 = 60_000;

fn tidemark_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_tidemarkctl")).with_file_name("tidemark");
    assert!(p.is_file(), "{} missing: build the workspace", p.display());
    p
}

/// Starts node `name` (data in `dir/name`, output in `dir/name.log`) with the admin token and
/// waits until it is ready; killed when dropped.
fn start(dir: &Path, name: &str, http: &str, grpc: &str, extra: &[&str]) -> ChildProcess {
    let config = dir.join("node.yaml");
    std::fs::write(&config, format!("admin_token: {TOKEN}\n")).unwrap();
    let mut command = Command::new(tidemark_bin());
    command
        .arg("--data-dir")
        .arg(dir.join(name))
        .args(["--http-listen", http, "--grpc-listen", grpc])
        .arg("--config")
        .arg(&config)
        .args(extra);
    let log = dir.join(format!("{name}.log"));
    let mut node = ChildProcess::spawn(name, command, &log).unwrap();
    node.expect_ready(&format!("http://{http}/-/ready"), READY_TIMEOUT_MS);
    node
}

fn ctl(endpoint: &str, args: &[&str], token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidemarkctl"));
    cmd.args(["--endpoint", endpoint]).args(args);
    cmd.env_remove("TIDEMARK_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.args(["--admin-token", t]);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A row of `shard list --output json`.
#[derive(Debug, Deserialize)]
struct ShardRow {
    leader: Option<u64>,
}

/// A step of `node drain --output json`: the member change (what it did aside).
#[derive(Debug, Deserialize)]
struct StepDone {
    #[serde(flatten)]
    change: MemberChange,
}

/// What `node drain --output json` prints.
#[derive(Debug, Deserialize)]
struct DrainReport {
    moves: Vec<StepDone>,
    removed: Vec<MemberChangeAnswer>,
}

/// The JSON output `o` of a successful `tidemarkctl ... --output json`, read as a `T`.
fn json_output<T: DeserializeOwned>(o: &Output) -> T {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// Every group's voters, from `cluster status --output json`.
fn voters(endpoint: &str) -> Vec<Vec<u64>> {
    let o = ctl(endpoint, &["cluster", "status", "--output", "json"], None);
    let status: Envelope<ClusterStatus> = json_output(&o);
    let status = status.into_result().unwrap();
    // The meta group and the shards (the ruler group follows the meta group's voters).
    status
        .groups
        .into_iter()
        .filter(|g| g.group_id != tidemark_api::RULER_GROUP_ID)
        .map(|g| g.voters)
        .collect()
}

/// Every shard's leader, from `shard list --output json`.
fn leaders(endpoint: &str) -> Vec<Option<u64>> {
    let o = ctl(endpoint, &["shard", "list", "--output", "json"], None);
    let rows: Vec<ShardRow> = json_output(&o);
    rows.into_iter().map(|s| s.leader).collect()
}

#[test]
fn a_single_node_grows_by_a_joining_node_and_shrinks_back() {
    let dir = tempfile::tempdir().unwrap();
    let (h1, g1) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let (h2, g2) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _n1 = start(dir.path(), "n1", &h1, &g1, &[]);
    let e1 = format!("http://{h1}");
    let o = ctl(&e1, &["cluster", "status"], None);
    assert!(o.status.success(), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("meta") && table.contains("VOTERS"),
        "{table}"
    );
    assert_eq!(voters(&e1), vec![vec![1]; 5]);

    // A one-node cluster holds one replica per shard; raising the factor with one node
    // records it and says that replicas come as nodes join.
    let o = ctl(&e1, &["cluster", "set-replication", "2"], Some(TOKEN));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("as nodes join"), "{}", text(&o));
    assert_eq!(voters(&e1), vec![vec![1]; 5]);

    // Node 2 joins: the meta group, then every shard below the factor (all of them); `node
    // add` afterwards changes nothing.
    // It needs the join token, which only an admin reads.
    let o = ctl(&e1, &["cluster", "join-token"], None);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("401"), "{}", text(&o));
    let o = ctl(&e1, &["cluster", "join-token"], Some(TOKEN));
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(
        token,
        std::fs::read_to_string(dir.path().join("n1/join-token"))
            .unwrap()
            .trim(),
        "the join token file in the data directory holds the same token"
    );
    let _n2 = start(
        dir.path(),
        "n2",
        &h2,
        &g2,
        &["--node-id", "2", "--join", &e1, "--join-token", &token],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while voters(&e1) != vec![vec![1, 2]; 5] {
        assert!(
            Instant::now() < deadline,
            "node 2 never joined: {:?}",
            voters(&e1)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = ctl(&e1, &["node", "add", "2", &g2], Some(TOKEN));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("unchanged").count(), 1, "{}", text(&o));

    // Leadership moves on request, then `rebalance` spreads the 4 shard leaders 2 and 2.
    let o = ctl(
        &e1,
        &["shard", "transfer-leader", "0", "--to", "2"],
        Some(TOKEN),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leaders(&e1)[0], Some(2));
    let o = ctl(
        &e1,
        &["shard", "transfer-leader", "0", "--to", "2"],
        Some(TOKEN),
    );
    assert!(text(&o).contains("unchanged"), "{}", text(&o));
    let o = ctl(
        &e1,
        &["shard", "transfer-leader", "1", "--to", "7"],
        Some(TOKEN),
    );
    assert!(!o.status.success(), "not a voter: {}", text(&o));
    let o = ctl(&e1, &["rebalance", "--wait"], Some(TOKEN));
    assert!(o.status.success(), "{}", text(&o));
    let l = leaders(&e1);
    let on = |n: u64| l.iter().filter(|x| **x == Some(n)).count();
    assert_eq!((on(1), on(2)), (2, 2), "{l:?}\n{}", text(&o));

    // Without the token the admin API refuses, and the CLI exits non-zero.
    let o = ctl(&e1, &["node", "remove", "2"], None);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("401"), "{}", text(&o));

    // Draining node 2: no other node can take its replicas, so it hands the shard
    // leaderships it holds to node 1, then leaves every group.
    let led_by_2 = leaders(&e1).iter().filter(|l| **l == Some(2)).count();
    assert!(led_by_2 > 0);
    let o = ctl(
        &format!("http://{h2}"),
        &["node", "drain", "2", "--output", "json"],
        Some(TOKEN),
    );
    let results: DrainReport = json_output(&o);
    // Every shard node 2 led moved to node 1 first.
    assert_eq!(results.moves.len(), led_by_2, "{results:?}");
    assert!(
        results
            .moves
            .iter()
            .all(|m| m.change.op == MemberChangeOp::TransferLeader && m.change.node_id == 1),
        "{results:?}"
    );
    // Node 2 leaves the meta group, the four shards and the ruler group.
    let outcomes: Vec<MemberOutcome> = results.removed.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec![MemberOutcome::Removed; 6]);
    assert_eq!(voters(&e1), vec![vec![1]; 5]);
    assert!(
        leaders(&e1).iter().all(|l| *l == Some(1)),
        "{:?}",
        leaders(&e1)
    );
    // Again, with the table output: nothing left to move or remove, and it says so.
    let o = ctl(&e1, &["node", "drain", "2"], Some(TOKEN));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 placement steps done"), "{}", text(&o));
    assert_eq!(text(&o).matches("unchanged").count(), 6, "{}", text(&o));
}

#[test]
fn shards_set_adds_a_shard_map_version_from_a_partition_boundary_on() {
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _node = start(dir.path(), "n1", &http, &grpc, &[]);
    let endpoint = format!("http://{http}");
    let o = ctl(&endpoint, &["shards", "set", "6"], None);
    assert!(!o.status.success(), "no admin token: {}", text(&o));
    let o = ctl(&endpoint, &["shards", "set", "0"], Some(TOKEN));
    assert!(
        !o.status.success() && text(&o).contains("at least 1"),
        "{}",
        text(&o)
    );

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let o = ctl(
        &endpoint,
        &["shards", "set", "6", "--output", "json"],
        Some(TOKEN),
    );
    let v: ShardVersionOutcome = json_output(&o);
    assert!(v.changed, "{v:?}");
    assert_eq!(v.version.shard_count, 6, "{v:?}");
    // The default lead: the first 2 h partition boundary at least 2 h from now.
    let start = v.version.start_ms;
    assert_eq!(start % 7_200_000, 0, "{v:?}");
    assert!(
        start >= now_ms + 7_200_000 && start < now_ms + 4 * 3_600_000 + 60_000,
        "{v:?}"
    );
    assert_eq!(
        v.placement,
        BTreeMap::from([(4, vec![1]), (5, vec![1])]),
        "{v:?}"
    );
    assert_eq!(leaders(&endpoint), vec![Some(1); 6]);

    let o = ctl(&endpoint, &["shards", "set", "6"], Some(TOKEN));
    assert!(
        o.status.success() && text(&o).contains("unchanged"),
        "{}",
        text(&o)
    );
    let o = ctl(&endpoint, &["cluster", "status"], None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("SHARD MAP FROM") && t.contains("the beginning"),
        "{t}"
    );
    assert!(t.contains(" UTC") && t.contains("shards 6"), "{t}");
    // A second change before the first has started takes the next boundary.
    let o = ctl(
        &endpoint,
        &["shards", "set", "3", "--output", "json"],
        Some(TOKEN),
    );
    let v: ShardVersionOutcome = json_output(&o);
    assert!(v.version.start_ms > start, "{v:?}");
    assert!(v.placement.is_empty(), "{v:?}");
    assert_eq!(leaders(&endpoint).len(), 6);
}
