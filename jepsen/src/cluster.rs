//! Real `tidemark` processes, on loopback ports or each in a network namespace of its own
//! ([`NetNs`]), and the guard that kills them all on drop (normal exit, error, panic, or the
//! run future dropped by Ctrl-C) and then removes the namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tidemark_testkit::process::die_with_parent;
use tidemark_testkit::{ChildProcess, try_free_port};

use crate::Error;
use crate::net::NetNs;

/// HTTP and gRPC ports of a node in its own namespace (its address is its own).
const NETNS_HTTP_PORT: u16 = 9201;
const NETNS_GRPC_PORT: u16 = 9202;
/// Debian's libfaketime (package `faketime`), for [`crate::Nemesis::ClockSkew`].
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The nodes' configuration: flushes every second keeping little log below them, so that a
/// node that was killed or paused for a while catches up from a shard snapshot, not only from
/// the log, and both paths are under test.
///
/// Three meta voters of five nodes, and a voter silent for 3 s gives its seat to a learner:
/// kills and pauses move meta seats around all the time. Shard-map versions start on a whole
/// second 3 s (plus the write timeout) after `shards set`, so that the run crosses them; a
/// node cut off from the meta leader for 3 s refuses current samples (503) until it is back.
/// (The admin API is open to the harness: it reads digests and changes retention, the shard
/// map and the notifier without tokens.)
const NODE_CONFIG: &str = "flush_interval_ms: 1000\nmeta_voters_max: 3\nmeta_dead_voter_ms: 3000\n\
                           shard_version_lead_ms: 3000\nshard_version_align_ms: 1000\n\
                           future_window_ms: 500\nauth:\n  enable_admin_api: true\n\
                           raft:\n  log_keep_entries: 8\n";

/// How long a membership change keeps being retried through the other nodes.
pub const MEMBERSHIP_RETRY_MS: u64 = 60_000;

/// Time a node may take to answer `/-/ready` (members wait for a quorum).
pub const READY_TIMEOUT_MS: u64 = 60_000;

/// How much of the end of a node's log a readiness error quotes.
const LOG_TAIL_BYTES_MAX: u64 = 4_000;

/// Whether the `/-/ready` URL `url` answers 200 (within 2 s).
pub async fn is_ready(http: &reqwest::Client, url: &str) -> bool {
    http.get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// A membership change of one node, ready to run without the cluster.
pub struct MembershipPlan {
    ctl: PathBuf,
    id: u32,
    grpc_addr: String,
    /// The other members (id, URL), tried in turn.
    helpers: Vec<(u32, String)>,
    /// The cluster's join token, which member changes need (the nodes have no admin token).
    token: Option<String>,
}

impl MembershipPlan {
    /// Changes the node's membership in every group with `tidemarkctl`: `add` (at its gRPC
    /// address) or `remove`. Tries the other nodes in turn (one may be restarting after an
    /// earlier fault) for up to [`MEMBERSHIP_RETRY_MS`]; every attempt is idempotent. An error
    /// names what `tidemarkctl` said last.
    pub async fn run(&self, add: bool) -> Result<(), Error> {
        let id = self.id.to_string();
        if add {
            self.run_ctl_args(&["node", "add", &id, &self.grpc_addr])
                .await
        } else {
            self.run_ctl_args(&["node", "remove", &id]).await
        }
    }

    /// Moves every replica off the node, then removes it from every group (`tidemarkctl node
    /// drain`), retried like [`MembershipPlan::run`].
    pub async fn drain(&self) -> Result<(), Error> {
        let id = self.id.to_string();
        self.run_ctl_args(&["node", "drain", &id]).await
    }

    async fn run_ctl_args(&self, args: &[&str]) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_millis(MEMBERSHIP_RETRY_MS);
        let mut attempt = 0;
        loop {
            let (through, url) = &self.helpers[attempt % self.helpers.len()];
            attempt += 1;
            let said = match run_ctl(&self.ctl, url, args, self.token.as_deref()).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(Error::Setup(said));
            }
            println!("  membership change through node {through} failed; retrying");
            tokio::time::sleep(Duration::from_millis(1_000)).await;
        }
    }
}

/// Runs `tidemarkctl` (at `ctl`) with `args` through the member at `url`, with `token` as its
/// bearer (the cluster's join token: member changes need it); `Err` carries its output.
pub async fn run_ctl(
    ctl: &Path,
    url: &str,
    args: &[&str],
    token: Option<&str>,
) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(ctl);
    cmd.args(["--endpoint", url, "--timeout-s", "60"])
        .args(args)
        .env_remove("TIDEMARK_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("TIDEMARK_ADMIN_TOKEN", t);
    }
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("run {}: {e}", ctl.display()))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(format!(
            "tidemarkctl {} through {url}: {said}",
            args.join(" ")
        ))
    }
}

/// One node's process, addresses and data directory.
pub struct NodeProc {
    /// Node id (1-based).
    pub id: u32,
    /// HTTP listen address.
    pub http_addr: String,
    /// gRPC listen address.
    pub grpc_addr: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// For a node that joined a running cluster: the member URL it joins through (`--join`).
    pub join: Option<String>,
    /// Removed from the cluster and stopped for good: not restarted, not read at the end.
    pub retired: bool,
    child: Option<ChildProcess>,
    paused: bool,
    /// The offset of its wall clock from the true time at its next start, in seconds
    /// (libfaketime; `None`: the true time).
    clock_skew_s: Option<i64>,
}

impl NodeProc {
    /// Base URL of the node's HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The node's log file (stdout and stderr of every incarnation).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    fn tail_of_log(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.log_tail(LOG_TAIL_BYTES_MAX))
            .unwrap_or_default()
    }
}

/// The cluster of node processes; dropping it SIGCONTs and SIGKILLs every process.
pub struct Cluster {
    /// The nodes, index `i` is node `i + 1`.
    pub nodes: Vec<NodeProc>,
    binary: PathBuf,
    initial_cluster: String,
    config: PathBuf,
    /// The namespace network (namespace mode); dropped after the processes are killed.
    net: Option<NetNs>,
    /// Where node data directories go.
    dir: PathBuf,
}

/// A loopback address on a free port that stays free while its node is down between a kill and
/// a restart (see [`try_free_port`]).
fn loopback_addr() -> Result<String, Error> {
    let port = try_free_port().map_err(|e| Error::Setup(e.to_string()))?;
    Ok(format!("127.0.0.1:{port}"))
}

impl Cluster {
    /// Starts `n` nodes of `binary` with data under `dir` (not waiting): on fresh loopback
    /// ports, or with `net` each in its namespace at its own address. `extra_config` is
    /// appended to the nodes' configuration (whole top-level YAML keys).
    pub fn launch(
        binary: &Path,
        n: u32,
        dir: &Path,
        net: Option<NetNs>,
        extra_config: &str,
    ) -> Result<Cluster, Error> {
        if !binary.is_file() {
            return Err(Error::Setup(format!(
                "tidemark binary not found at {}",
                binary.display()
            )));
        }
        let mut nodes = Vec::new();
        for id in 1..=n {
            let (http_addr, grpc_addr) = match &net {
                Some(net) => (
                    format!("{}:{NETNS_HTTP_PORT}", net.addr(id)),
                    format!("{}:{NETNS_GRPC_PORT}", net.addr(id)),
                ),
                None => (loopback_addr()?, loopback_addr()?),
            };
            nodes.push(NodeProc {
                id,
                http_addr,
                grpc_addr,
                data_dir: dir.join(format!("n{id}")),
                join: None,
                retired: false,
                child: None,
                paused: false,
                clock_skew_s: None,
            });
        }
        let initial_cluster = nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.grpc_addr))
            .collect::<Vec<_>>()
            .join(",");
        let config = dir.join("node.yaml");
        // The cluster secret derives from the token: the same for every member, unguessable.
        let token = format!("jepsen-{:032x}", rand::random::<u128>());
        std::fs::write(
            &config,
            format!("initial_cluster_token: {token}\n{NODE_CONFIG}{extra_config}"),
        )?;
        let mut c = Cluster {
            nodes,
            binary: binary.to_path_buf(),
            initial_cluster,
            config,
            net,
            dir: dir.to_path_buf(),
        };
        for id in 1..=n {
            c.start(id)?;
        }
        Ok(c)
    }

    fn node_mut(&mut self, id: u32) -> &mut NodeProc {
        &mut self.nodes[id as usize - 1]
    }

    /// Starts node `id` (not waiting until it is ready); a no-op if it runs.
    pub fn start(&mut self, id: u32) -> Result<(), Error> {
        let node = &self.nodes[id as usize - 1];
        if node.child.is_some() {
            return Ok(());
        }
        // In namespace mode `ip netns exec` enters the node's namespace and execs the binary
        // (same pid, so signals reach tidemark itself).
        let mut cmd = match &self.net {
            Some(net) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &net.node_ns(id)])
                    .arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        cmd.arg("--node-id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--http-listen")
            .arg(&node.http_addr)
            .arg("--grpc-listen")
            .arg(&node.grpc_addr);
        match &node.join {
            Some(url) => {
                cmd.arg("--join").arg(url);
                if let Some(token) = self.join_token() {
                    cmd.arg("--join-token").arg(token);
                }
            }
            None => {
                cmd.arg("--initial-cluster").arg(&self.initial_cluster);
            }
        };
        cmd.arg("--config").arg(&self.config);
        if let Some(skew_s) = node.clock_skew_s {
            // `ip netns exec` passes the environment on to the node it execs.
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME", format!("{skew_s:+}s"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        // The node dies with the harness even when the harness itself is SIGKILLed (no Drop
        // runs then).
        die_with_parent(&mut cmd);
        let child = ChildProcess::spawn(&format!("node {id}"), cmd, &node.log_path())
            .map_err(|e| Error::Setup(e.to_string()))?;
        let node = self.node_mut(id);
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Ids of the nodes that are members (not retired).
    pub fn live_ids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| !n.retired)
            .map(|n| n.id)
            .collect()
    }

    /// The cluster's join token, from the file every member keeps in its data directory.
    pub fn join_token(&self) -> Option<String> {
        self.nodes
            .iter()
            .filter(|n| !n.retired)
            .find_map(|n| std::fs::read_to_string(n.data_dir.join("join-token")).ok())
            .map(|t| t.trim().to_string())
    }

    /// Starts a brand-new node (the next id, empty data directory) that joins the running
    /// cluster through `through` (a member's URL); returns its id. Not waiting until ready.
    pub fn add_joining_node(&mut self, through: String) -> Result<u32, Error> {
        let id = self.nodes.len() as u32 + 1;
        let (http_addr, grpc_addr) = match &mut self.net {
            Some(net) => {
                net.add_node(id)?;
                (
                    format!("{}:{NETNS_HTTP_PORT}", net.addr(id)),
                    format!("{}:{NETNS_GRPC_PORT}", net.addr(id)),
                )
            }
            None => (loopback_addr()?, loopback_addr()?),
        };
        self.nodes.push(NodeProc {
            id,
            http_addr,
            grpc_addr,
            data_dir: self.dir.join(format!("n{id}")),
            join: Some(through),
            retired: false,
            child: None,
            paused: false,
            clock_skew_s: None,
        });
        self.start(id)?;
        Ok(id)
    }

    /// Stops node `id` for good (after it was removed from every group) and deletes its data
    /// directory (its log stays): a long run joins a node every few seconds, and each data
    /// directory holds about 150 MB of preallocated RocksDB write-ahead logs.
    pub fn retire(&mut self, id: u32) {
        self.kill(id);
        let node = self.node_mut(id);
        node.retired = true;
        let _ = std::fs::remove_dir_all(&node.data_dir);
    }

    /// The namespace network, in namespace mode.
    pub fn net(&self) -> Option<&NetNs> {
        self.net.as_ref()
    }

    /// `tidemarkctl` next to the `tidemark` binary.
    pub fn ctl_binary(&self) -> PathBuf {
        self.binary.with_file_name("tidemarkctl")
    }

    /// What changing node `id`'s membership needs, taken out of the cluster so that the
    /// change (which can take a minute) runs without holding it.
    pub fn membership_plan(&self, id: u32) -> MembershipPlan {
        MembershipPlan {
            ctl: self.ctl_binary(),
            id,
            grpc_addr: self.nodes[id as usize - 1].grpc_addr.clone(),
            helpers: self
                .nodes
                .iter()
                .filter(|n| n.id != id && !n.retired)
                .map(|n| (n.id, n.url()))
                .collect(),
            token: self.join_token(),
        }
    }

    /// Changes node `id`'s membership (see [`MembershipPlan::run`]).
    pub async fn change_membership(&self, id: u32, add: bool) -> Result<(), Error> {
        self.membership_plan(id).run(add).await
    }

    /// Sets the clock offset node `id` runs with from its next start ([`Nemesis::ClockSkew`]).
    pub fn set_clock_skew(&mut self, id: u32, skew_s: Option<i64>) {
        self.node_mut(id).clock_skew_s = skew_s;
    }

    /// kill -9 node `id` and reap it.
    pub fn kill(&mut self, id: u32) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            child.kill();
        }
        node.paused = false;
    }

    /// Sends SIGSTOP (`pause`) or SIGCONT to node `id` if it runs.
    pub fn signal_pause(&mut self, id: u32, pause: bool) {
        let node = self.node_mut(id);
        if let Some(child) = node.child.as_mut() {
            child.signal(if pause { libc::SIGSTOP } else { libc::SIGCONT });
            node.paused = pause;
        }
    }

    /// Heals everything: SIGCONT to every process, restarts dead nodes. Returns the actions taken.
    pub fn heal(&mut self) -> Result<Vec<(u32, &'static str)>, Error> {
        let mut actions = Vec::new();
        for id in self.live_ids() {
            let node = self.node_mut(id);
            if let Some(child) = node.child.as_mut()
                && child.exited().is_some()
            {
                node.child = None;
                actions.push((id, "heal-reap-exited"));
            }
            if self.node_mut(id).paused {
                self.signal_pause(id, false);
                actions.push((id, "heal-resume"));
            }
            if self.node_mut(id).clock_skew_s.is_some() {
                self.kill(id);
                self.set_clock_skew(id, None);
                actions.push((id, "heal-clock"));
            }
            if self.node_mut(id).child.is_none() {
                self.start(id)?;
                actions.push((id, "heal-restart"));
            }
        }
        Ok(actions)
    }

    /// Waits until every node answers `/-/ready` with 200.
    pub async fn wait_all_ready(&mut self, client: &reqwest::Client) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        for i in 0..self.nodes.len() {
            if self.nodes[i].retired {
                continue;
            }
            let url = format!("{}/-/ready", self.nodes[i].url());
            loop {
                if let Some(child) = self.nodes[i].child.as_mut()
                    && let Some(status) = child.exited()
                {
                    return Err(Error::NotReady {
                        node: self.nodes[i].id,
                        why: format!("exited with {status}"),
                        log_tail: self.nodes[i].tail_of_log(),
                    });
                }
                if is_ready(client, &url).await {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(Error::NotReady {
                        node: self.nodes[i].id,
                        why: format!("no 200 from /-/ready within {READY_TIMEOUT_MS} ms"),
                        log_tail: self.nodes[i].tail_of_log(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u32 {
            self.signal_pause(id, false);
            self.kill(id);
        }
    }
}
