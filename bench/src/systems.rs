//! The systems under test and how each is started, probed, flushed and measured on disk.
//!
//! Disk measure, chosen to compare the persisted (compressed) form of the same data:
//! - Tidemark: `POST /api/v1/admin/flush` (head chunks persisted, Raft log purged below the
//!   flushed index), then the whole data dir.
//! - VictoriaMetrics: `GET /internal/force_flush`, then, after the queries, a clean stop (which
//!   writes its in-memory parts) and the data dir (`-storageDataPath`) without `cache/`.
//! - Prometheus: `POST /api/v1/admin/tsdb/snapshot` (needs `--web.enable-admin-api`), which writes
//!   the head as a block next to hard links of the blocks already compacted: the snapshot directory
//!   is all the data in the form Prometheus converges to once its head is compacted. Its WAL (which
//!   Prometheus keeps for ~2-3 h of samples) is reported separately as `dir_bytes`, for every
//!   system the whole data directory minus snapshots.
//!
//! The disk is measured after the query phase (queries do not add data), and every system gets a
//! few seconds for background merges to settle
//! ([`crate::process::settled_disk_usage`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use tidemark_testkit::{ChildProcess, try_free_port};

use crate::process::{self, check_alive, disk_usage, settled_disk_usage};

/// How long a system gets to become ready after start.
const READY_TIMEOUT_MS: u64 = 120_000;
/// How long background merges get to settle after a flush.
const SETTLE_TIMEOUT_MS: u64 = 30_000;
/// Timeout of one admin call (flush, snapshot).
const ADMIN_TIMEOUT_MS: u64 = 600_000;

/// A system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemKind {
    Tidemark,
    /// Three Tidemark nodes on this machine, every shard replicated on all three (RF = 3):
    /// writes go to node 1, queries to node 2.
    #[serde(rename = "tidemark-rf3")]
    TidemarkRf3,
    VictoriaMetrics,
    Prometheus,
}

/// Nodes of [`SystemKind::TidemarkRf3`].
const RF3_NODES: usize = 3;

impl SystemKind {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "tidemark" => SystemKind::Tidemark,
            "tidemark-rf3" | "rf3" => SystemKind::TidemarkRf3,
            "victoriametrics" | "vm" | "victoria-metrics" => SystemKind::VictoriaMetrics,
            "prometheus" | "prom" => SystemKind::Prometheus,
            other => bail!(
                "unknown system {other:?} (tidemark, tidemark-rf3, victoriametrics, prometheus)"
            ),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Tidemark => "tidemark",
            SystemKind::TidemarkRf3 => "tidemark-rf3",
            SystemKind::VictoriaMetrics => "victoriametrics",
            SystemKind::Prometheus => "prometheus",
        }
    }
}

/// Where the binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub tidemark: Option<PathBuf>,
    pub peers_dir: PathBuf,
    /// Extra arguments for `tidemark` (whitespace separated on the command line).
    pub tidemark_args: Vec<String>,
}

impl Binaries {
    fn path(&self, kind: SystemKind) -> Result<PathBuf> {
        let path = match kind {
            SystemKind::Tidemark | SystemKind::TidemarkRf3 => self
                .tidemark
                .clone()
                .context("--tidemark-bin is required to benchmark tidemark")?,
            SystemKind::VictoriaMetrics => self.peers_dir.join("victoria-metrics"),
            SystemKind::Prometheus => self.peers_dir.join("prometheus"),
        };
        if !path.is_file() {
            bail!(
                "{} binary not found at {} (scripts/install-peers.sh installs the peers)",
                kind.name(),
                path.display()
            );
        }
        Ok(path)
    }
}

/// A started system with its own data directory, killed on drop.
pub struct RunningSystem {
    pub kind: SystemKind,
    pub child: ChildProcess,
    /// Where writes go.
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    /// The other nodes of a cluster (their HTTP address and process).
    pub others: Vec<(SocketAddr, ChildProcess)>,
    /// Where queries go: a node that did not take the writes, for a cluster.
    pub query_http: SocketAddr,
}

/// What a flush left on disk.
#[derive(Clone, Debug, Serialize)]
pub struct DiskMeasure {
    /// Bytes of the persisted form of the data (see the module doc).
    pub data_bytes: u64,
    /// Bytes of the whole data directory (WAL included, snapshots excluded).
    pub dir_bytes: u64,
    pub how: String,
}

/// What a benchmark adds to a system's default start (the `rules` benchmark: a rule file and an
/// evaluation interval).
#[derive(Clone, Debug, Default)]
pub struct StartExtras {
    /// Appended to Tidemark's arguments (after `Binaries::tidemark_args`).
    pub tidemark_args: Vec<String>,
    /// Prometheus' whole configuration file, instead of the default (no scrapes, no rules).
    pub prometheus_config: Option<String>,
}

impl RunningSystem {
    /// Starts `kind` on free loopback ports with a fresh data dir inside `work_dir`. Call from the
    /// main thread (see [`process::spawn`]).
    pub fn start(kind: SystemKind, bins: &Binaries, work_dir: &Path) -> Result<RunningSystem> {
        Self::start_with(kind, bins, work_dir, &StartExtras::default())
    }

    /// [`RunningSystem::start`] with `extras` (single-node systems only).
    pub fn start_with(
        kind: SystemKind,
        bins: &Binaries,
        work_dir: &Path,
        extras: &StartExtras,
    ) -> Result<RunningSystem> {
        let program = bins.path(kind)?;
        if kind == SystemKind::TidemarkRf3 {
            return Self::start_rf3(&program, bins, work_dir);
        }
        let data_dir = work_dir.join(format!("{}-data", kind.name()));
        std::fs::create_dir_all(&data_dir)?;
        let port = try_free_port()?;
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        let args: Vec<String> = match kind {
            SystemKind::Tidemark | SystemKind::TidemarkRf3 => {
                let grpc: SocketAddr = ([127, 0, 0, 1], try_free_port()?).into();
                let mut args = vec![
                    "--data-dir".to_string(),
                    data_dir.display().to_string(),
                    "--http-listen".to_string(),
                    http.to_string(),
                    "--grpc-listen".to_string(),
                    grpc.to_string(),
                    // The harness flushes through the admin API.
                    "--enable-admin-api".to_string(),
                ];
                args.extend(bins.tidemark_args.iter().cloned());
                args.extend(extras.tidemark_args.iter().cloned());
                args
            }
            SystemKind::VictoriaMetrics => vec![
                format!("-storageDataPath={}", data_dir.display()),
                format!("-httpListenAddr={http}"),
                "-retentionPeriod=100y".to_string(),
                // Its rollup result cache stays on for the dashboard refreshes; the engine
                // comparison skips it per query (`nocache=1`, `queries.rs`).
                "-loggerLevel=WARN".to_string(),
            ],
            SystemKind::Prometheus => {
                let config = work_dir.join("prometheus.yml");
                std::fs::write(
                    &config,
                    extras
                        .prometheus_config
                        .as_deref()
                        .unwrap_or("global:\n  scrape_interval: 15s\nscrape_configs: []\n"),
                )?;
                vec![
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", data_dir.display()),
                    "--storage.tsdb.retention.time=100y".to_string(),
                    format!("--web.listen-address={http}"),
                    "--web.enable-remote-write-receiver".to_string(),
                    "--web.enable-admin-api".to_string(),
                    "--log.level=warn".to_string(),
                ]
            }
        };
        let log_path = work_dir.join(format!("{}.log", kind.name()));
        let child = process::spawn(kind.name(), &program, &args, &log_path)?;
        Ok(RunningSystem {
            kind,
            child,
            http,
            data_dir,
            others: Vec::new(),
            query_http: http,
        })
    }

    /// Three Tidemark nodes of one `--initial-cluster` (every shard on all three), data under
    /// `work_dir/tidemark-rf3-data/n<i>`.
    fn start_rf3(program: &Path, bins: &Binaries, work_dir: &Path) -> Result<RunningSystem> {
        let data_dir = work_dir.join("tidemark-rf3-data");
        let mut addrs = Vec::new();
        for _ in 0..RF3_NODES {
            let http: SocketAddr = ([127, 0, 0, 1], try_free_port()?).into();
            let grpc: SocketAddr = ([127, 0, 0, 1], try_free_port()?).into();
            addrs.push((http, grpc));
        }
        let initial = addrs
            .iter()
            .enumerate()
            .map(|(i, (_, g))| format!("{}={g}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "bench-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut nodes = Vec::new();
        for (i, (http, grpc)) in addrs.iter().enumerate() {
            let dir = data_dir.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir)?;
            let mut args = vec![
                "--node-id".to_string(),
                (i + 1).to_string(),
                "--data-dir".to_string(),
                dir.display().to_string(),
                "--http-listen".to_string(),
                http.to_string(),
                "--grpc-listen".to_string(),
                grpc.to_string(),
                "--enable-admin-api".to_string(),
                "--initial-cluster".to_string(),
                initial.clone(),
                // The cluster secret derives from it: the same on every member.
                "--initial-cluster-token".to_string(),
                token.clone(),
            ];
            args.extend(bins.tidemark_args.iter().cloned());
            let name = format!("tidemark-rf3-n{}", i + 1);
            let log_path = work_dir.join(format!("{name}.log"));
            nodes.push((*http, process::spawn(&name, program, &args, &log_path)?));
        }
        let mut nodes = nodes.into_iter();
        let (http, child) = nodes.next().context("no node")?;
        let others: Vec<(SocketAddr, ChildProcess)> = nodes.collect();
        let query_http = others.first().map_or(http, |o| o.0);
        Ok(RunningSystem {
            kind: SystemKind::TidemarkRf3,
            child,
            http,
            data_dir,
            others,
            query_http,
        })
    }

    /// Every node's process.
    fn children(&self) -> impl Iterator<Item = &ChildProcess> {
        std::iter::once(&self.child).chain(self.others.iter().map(|o| &o.1))
    }

    /// URL of `path` on the node that answers queries.
    pub fn query_url(&self, path: &str) -> String {
        format!("http://{}{}", self.query_http, path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// Paths that answer 2xx once the system is ready (any of them).
    fn ready_paths(&self) -> &'static [&'static str] {
        match self.kind {
            SystemKind::Tidemark => &["/-/ready", "/api/v1/status/buildinfo"],
            SystemKind::TidemarkRf3 => &["/-/ready"],
            SystemKind::VictoriaMetrics => &["/health"],
            SystemKind::Prometheus => &["/-/ready"],
        }
    }

    /// Waits until the system answers its readiness probe; fails if it exits or times out.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> Result<Duration> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(READY_TIMEOUT_MS);
        let bases: Vec<SocketAddr> = std::iter::once(self.http)
            .chain(self.others.iter().map(|o| o.0))
            .collect();
        while Instant::now() < deadline {
            check_alive(&mut self.child)?;
            for other in &mut self.others {
                check_alive(&mut other.1)?;
            }
            let mut ready = 0;
            for base in &bases {
                for path in self.ready_paths() {
                    if let Ok(resp) = client.get(format!("http://{base}{path}")).send().await
                        && resp.status().is_success()
                    {
                        ready += 1;
                        break;
                    }
                }
            }
            if ready == bases.len() {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} not ready after {READY_TIMEOUT_MS} ms; log tail:\n{}",
            self.kind.name(),
            process::log_tail(&self.child)
        )
    }

    /// RSS of the server (of all its nodes, for a cluster).
    pub fn rss_bytes(&self) -> Result<u64> {
        self.children()
            .map(|c| process::rss_bytes(process::pid(c)?))
            .sum()
    }

    /// CPU seconds the server (all its nodes, for a cluster) has used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        self.children()
            .map(|c| process::cpu_seconds(process::pid(c)?))
            .sum()
    }

    /// Persists in-memory data (see the module doc) and says where to measure the disk afterwards
    /// with [`RunningSystem::measure_disk`].
    /// Persists what the system buffers in memory, as its own periodic flush would, so that
    /// memory is measured as it stands between two of them: Tidemark's admin flush on every
    /// node (its flush runs each minute), VictoriaMetrics' `force_flush` (each second or so);
    /// nothing for Prometheus, whose head stays in memory until it is compacted (2-3 h). Says
    /// what it did.
    pub async fn flush_buffers(&self, client: &reqwest::Client) -> Result<&'static str> {
        let timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
        Ok(match self.kind {
            SystemKind::Tidemark | SystemKind::TidemarkRf3 => {
                for base in std::iter::once(self.http).chain(self.others.iter().map(|o| o.0)) {
                    expect_success(
                        client
                            .post(format!("http://{base}/api/v1/admin/flush"))
                            .timeout(timeout)
                            .send()
                            .await,
                    )
                    .await?;
                }
                "POST /api/v1/admin/flush"
            }
            SystemKind::VictoriaMetrics => {
                expect_success(
                    client
                        .get(self.url("/internal/force_flush"))
                        .timeout(timeout)
                        .send()
                        .await,
                )
                .await?;
                "GET /internal/force_flush"
            }
            SystemKind::Prometheus => "nothing (the head stays in memory)",
        })
    }

    pub async fn flush(&mut self, client: &reqwest::Client) -> Result<DiskPlan> {
        let timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
        Ok(match self.kind {
            SystemKind::Tidemark | SystemKind::TidemarkRf3 => {
                self.flush_buffers(client).await?;
                let bases = 1 + self.others.len();
                DiskPlan {
                    path: self.data_dir.clone(),
                    stop_first: false,
                    how: if bases > 1 {
                        format!("POST /api/v1/admin/flush on each node; du of all {bases} replicas")
                    } else {
                        "POST /api/v1/admin/flush; du of the data dir".to_string()
                    },
                }
            }
            SystemKind::VictoriaMetrics => {
                // force_flush makes buffered rows searchable as in-memory parts; they reach the disk
                // on the next in-memory flush or at shutdown, so the disk is measured after a clean
                // stop (without the caches VictoriaMetrics dumps at shutdown).
                self.flush_buffers(client).await?;
                DiskPlan {
                    path: self.data_dir.clone(),
                    stop_first: true,
                    how: "GET /internal/force_flush, clean stop; du of the data dir without cache/"
                        .to_string(),
                }
            }
            SystemKind::Prometheus => {
                let body = expect_success(
                    client
                        .post(self.url("/api/v1/admin/tsdb/snapshot"))
                        .timeout(timeout)
                        .send()
                        .await,
                )
                .await?;
                let json: serde_json::Value =
                    serde_json::from_str(&body).context("snapshot response")?;
                let name = json["data"]["name"]
                    .as_str()
                    .context("snapshot response without data.name")?;
                DiskPlan {
                    path: self.data_dir.join("snapshots").join(name),
                    stop_first: false,
                    how: "POST /api/v1/admin/tsdb/snapshot (head written as a block); du of the snapshot".to_string(),
                }
            }
        })
    }

    /// Measures the disk as `plan` says, after background work settles (stopping the system first
    /// if the plan needs it).
    pub async fn measure_disk(&mut self, plan: DiskPlan) -> Result<DiskMeasure> {
        if plan.stop_first {
            process::stop(&mut self.child);
        }
        let settle = Duration::from_millis(SETTLE_TIMEOUT_MS);
        let dir = self.data_dir.clone();
        let (data_bytes, dir_bytes) = tokio::task::spawn_blocking(move || {
            let dir_bytes = settled_disk_usage(&dir, &["snapshots"], settle);
            let data_bytes = if plan.path == dir {
                disk_usage(&dir, &["snapshots", "cache"])
            } else {
                disk_usage(&plan.path, &[])
            };
            (data_bytes, dir_bytes)
        })
        .await?;
        Ok(DiskMeasure {
            data_bytes,
            dir_bytes,
            how: plan.how,
        })
    }
}

/// Where and how to measure the disk after a flush.
#[derive(Clone, Debug)]
pub struct DiskPlan {
    pub path: PathBuf,
    pub stop_first: bool,
    pub how: String,
}

/// The body of a 2xx response, or an error with the status and body.
async fn expect_success(resp: reqwest::Result<reqwest::Response>) -> Result<String> {
    let resp = resp?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("HTTP {status}: {}", truncate(&body, 300));
    }
    Ok(body)
}

/// `s` cut to at most `max` bytes on a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
