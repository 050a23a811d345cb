//! Real `tidemark` processes, on loopback ports or each in a network namespace of its own
//! ([`NetNs`]), and the guard that kills them all on drop (normal exit, error, panic, or the
//! run future dropped by Ctrl-C) and then removes the namespaces.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;
use crate::net::NetNs;

/// HTTP and gRPC ports of a node in its own namespace (its address is its own).
const NETNS_HTTP_PORT: u16 = 9201;
const NETNS_GRPC_PORT: u16 = 9202;

/// The nodes' configuration: flushes every second keeping little log below them, so that a
/// node that was killed or paused for a while catches up from a shard snapshot, not only from
/// the log, and both paths are under test.
const NODE_CONFIG: &str = "flush_interval_ms: 1000\nraft:\n  log_keep_entries: 8\n";

/// How long a membership change keeps being retried through the other nodes.
pub const MEMBERSHIP_RETRY_MS: u64 = 60_000;

/// Time a node may take to answer `/-/ready` (members wait for a quorum).
pub const READY_TIMEOUT_MS: u64 = 60_000;

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
    child: Option<Child>,
    paused: bool,
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
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(4_000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(0);
        log[start..].to_string()
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
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts `n` nodes of `binary` with data under `dir` (not waiting): on fresh loopback
    /// ports, or with `net` each in its namespace at its own address.
    pub fn launch(binary: &Path, n: u32, dir: &Path, net: Option<NetNs>) -> Result<Cluster, Error> {
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
                None => (
                    format!("127.0.0.1:{}", free_port()?),
                    format!("127.0.0.1:{}", free_port()?),
                ),
            };
            nodes.push(NodeProc {
                id,
                http_addr,
                grpc_addr,
                data_dir: dir.join(format!("n{id}")),
                child: None,
                paused: false,
            });
        }
        let initial_cluster = nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.grpc_addr))
            .collect::<Vec<_>>()
            .join(",");
        let config = dir.join("node.yaml");
        std::fs::write(&config, NODE_CONFIG)?;
        let mut c = Cluster {
            nodes,
            binary: binary.to_path_buf(),
            initial_cluster,
            config,
            net,
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
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())?;
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
            .arg(&node.grpc_addr)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // SAFETY: prctl is async-signal-safe; it makes the child die with the harness even when
        // the harness itself is SIGKILLed (no Drop runs then).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            Error::Setup(format!(
                "spawn {} for node {id}: {e}",
                self.binary.display()
            ))
        })?;
        let node = self.node_mut(id);
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// The namespace network, in namespace mode.
    pub fn net(&self) -> Option<&NetNs> {
        self.net.as_ref()
    }

    /// `tidemarkctl` next to the `tidemark` binary.
    pub fn ctl_binary(&self) -> PathBuf {
        self.binary.with_file_name("tidemarkctl")
    }

    /// Changes node `id`'s membership in every group with `tidemarkctl`: `add` (at its gRPC
    /// address) or `remove`. Tries the other nodes in turn (one may be restarting after an
    /// earlier fault) for up to [`MEMBERSHIP_RETRY_MS`]; every attempt is idempotent. An error
    /// names what `tidemarkctl` said last.
    pub async fn change_membership(&self, id: u32, add: bool) -> Result<(), Error> {
        let ctl = self.ctl_binary();
        let node = &self.nodes[id as usize - 1];
        let helpers: Vec<&NodeProc> = self.nodes.iter().filter(|n| n.id != id).collect();
        let deadline = Instant::now() + Duration::from_millis(MEMBERSHIP_RETRY_MS);
        let mut attempt = 0;
        loop {
            let through = helpers[attempt % helpers.len()];
            attempt += 1;
            let mut args = vec![
                "--endpoint".to_string(),
                through.url(),
                "--timeout-s".into(),
                "60".into(),
                "node".into(),
            ];
            if add {
                args.extend(["add".into(), id.to_string(), node.grpc_addr.clone()]);
            } else {
                args.extend(["remove".into(), id.to_string()]);
            }
            let out = tokio::process::Command::new(&ctl)
                .args(&args)
                .env_remove("TIDEMARK_ADMIN_TOKEN")
                .output()
                .await
                .map_err(|e| Error::Setup(format!("run {}: {e}", ctl.display())))?;
            if out.status.success() {
                return Ok(());
            }
            let said = format!(
                "tidemarkctl {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if Instant::now() >= deadline {
                return Err(Error::Setup(said));
            }
            println!(
                "  membership change through node {} failed; retrying",
                through.id
            );
            tokio::time::sleep(Duration::from_millis(1_000)).await;
        }
    }

    /// kill -9 node `id` and reap it.
    pub fn kill(&mut self, id: u32) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Sends SIGSTOP (`pause`) or SIGCONT to node `id` if it runs.
    pub fn signal_pause(&mut self, id: u32, pause: bool) {
        let node = self.node_mut(id);
        if let Some(child) = &node.child {
            let sig = if pause { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: plain kill(2) on our own child's pid, which we have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, sig);
            }
            node.paused = pause;
        }
    }

    /// Heals everything: SIGCONT to every process, restarts dead nodes. Returns the actions taken.
    pub fn heal(&mut self) -> Result<Vec<(u32, &'static str)>, Error> {
        let mut actions = Vec::new();
        for id in 1..=self.nodes.len() as u32 {
            let node = self.node_mut(id);
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                node.child = None;
                actions.push((id, "heal-reap-exited"));
            }
            if self.node_mut(id).paused {
                self.signal_pause(id, false);
                actions.push((id, "heal-resume"));
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
            let url = format!("{}/-/ready", self.nodes[i].url());
            loop {
                if let Some(child) = self.nodes[i].child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    return Err(Error::NotReady {
                        node: self.nodes[i].id,
                        why: format!("exited with {status}"),
                        log_tail: self.nodes[i].tail_of_log(),
                    });
                }
                let ok = client
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200);
                if ok {
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
