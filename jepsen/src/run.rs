//! One run: start the cluster, run the workload under the nemesis schedule, heal, check, report.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checker::{CheckResult, NodeRead, Recovery, check_samples, recovery_times};
use crate::cluster::Cluster;
use crate::consistency::{ConsistencyResult, check_replicas};
use crate::history::{FaultEvent, Op};
use crate::schedule::{Fault, Nemesis, schedule};
use crate::workload::{CLIENTS, now_ms, read_all, run_client};
use crate::{Error, Workload};

/// The banner printed at the start of every loopback run.
pub const LOOPBACK_BANNER: &str = "loopback mode: process-level faults only (kill -9/restart, SIGSTOP/SIGCONT); network partitions not implemented yet";

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Workload duration in seconds.
    pub time_limit_s: u64,
    /// Seed of the nemesis schedule and the clients' choices.
    pub seed: u64,
    /// The `tidemark` binary.
    pub binary: PathBuf,
    /// Number of nodes.
    pub nodes: u32,
    /// Fault kinds to schedule.
    pub nemeses: Vec<Nemesis>,
    /// Workloads to run.
    pub workloads: Vec<Workload>,
    /// Output directory (history, summary, node data and logs); a fresh temp dir when `None`.
    pub out: Option<PathBuf>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seed used.
    pub seed: u64,
    /// Nodes.
    pub nodes: u32,
    /// Workload duration.
    pub time_limit_s: u64,
    /// Where history, summary and node logs are.
    pub out_dir: PathBuf,
    /// The schedule that was run.
    pub schedule: Vec<Fault>,
    /// Fault events applied, with times.
    pub faults: Vec<FaultEvent>,
    /// The checker's findings.
    pub check: CheckResult,
    /// The replica digest comparison.
    pub consistency: ConsistencyResult,
    /// Samples each node read back.
    pub samples_read_per_node: Vec<usize>,
    /// Time for each healed node to take writes again.
    pub recovery: Vec<Recovery>,
}

impl Report {
    /// True when no anomaly was found.
    pub fn pass(&self) -> bool {
        self.check.valid() && self.consistency.valid()
    }

    /// The one-line verdict printed last.
    pub fn verdict(&self) -> String {
        let c = &self.check;
        let word = if self.pass() { "PASS" } else { "FAIL" };
        format!(
            "VERDICT: {word} seed={} nodes={} ops={} ok={} fail={} indeterminate={} lost={} phantom={} failed_visible={} divergent_nodes={} unreadable_nodes={} shards_compared={} divergent_shards={} unconverged_shards={} faults={}",
            self.seed,
            self.nodes,
            c.ops,
            c.ok,
            c.fail,
            c.indeterminate,
            c.lost.len(),
            c.phantom.len(),
            c.failed_but_visible.len(),
            c.divergent_nodes.len(),
            c.unreadable_nodes.len(),
            self.consistency.compared_shards,
            self.consistency.divergent_shards.len(),
            self.consistency.unconverged_shards.len(),
            self.schedule.len(),
        )
    }

    /// A readable table of the results.
    pub fn table(&self) -> String {
        let c = &self.check;
        let mut s = String::new();
        let rows: Vec<(&str, String)> = vec![
            ("ops", c.ops.to_string()),
            ("ok", c.ok.to_string()),
            ("fail", c.fail.to_string()),
            ("indeterminate", c.indeterminate.to_string()),
            (
                "  indeterminate present/absent",
                format!("{}/{}", c.indeterminate_present, c.indeterminate_absent),
            ),
            ("lost", c.lost.len().to_string()),
            ("phantom", c.phantom.len().to_string()),
            ("failed but visible", c.failed_but_visible.len().to_string()),
            ("divergent nodes", format!("{:?}", c.divergent_nodes)),
            (
                "unreadable nodes",
                format!(
                    "{:?}",
                    c.unreadable_nodes.iter().map(|x| x.0).collect::<Vec<_>>()
                ),
            ),
            (
                "samples read per node",
                format!("{:?}", self.samples_read_per_node),
            ),
            (
                "shards compared (digest)",
                self.consistency.compared_shards.to_string(),
            ),
            (
                "divergent shards",
                format!("{:?}", self.consistency.divergent_shards),
            ),
            (
                "unconverged shards",
                format!("{:?}", self.consistency.unconverged_shards),
            ),
            ("faults", self.schedule.len().to_string()),
        ];
        for (k, v) in rows {
            s.push_str(&format!("{k:<32} {v}\n"));
        }
        for f in &self.schedule {
            s.push_str(&format!(
                "  fault at {:>6} ms: {:?} node {} for {} ms\n",
                f.at_ms, f.kind, f.node, f.duration_ms
            ));
        }
        for r in &self.recovery {
            let after = r
                .recovered_after_ms
                .map_or("no ok write after it".to_string(), |ms| format!("{ms} ms"));
            s.push_str(&format!(
                "  node {} {} at {:>6} ms: first ok write through it after {after}\n",
                r.node, r.action, r.healed_at_ms
            ));
        }
        s
    }
}

fn out_dir(opts: &RunOptions) -> Result<PathBuf, Error> {
    let dir = match &opts.out {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "tidemark-jepsen-seed{}-{}-{}",
            opts.seed,
            std::process::id(),
            now_ms()
        )),
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Runs the nemesis schedule; returns the fault events (heals of the last fault included).
async fn run_nemesis(
    cluster: &mut Cluster,
    faults: &[Fault],
    started: Instant,
) -> Result<Vec<FaultEvent>, Error> {
    let mut events = Vec::new();
    let mut log = |node: u32, action: &str| {
        let at_ms = started.elapsed().as_millis() as u64;
        println!("[{at_ms:>6} ms] nemesis: {action} node {node}");
        events.push(FaultEvent {
            at_ms,
            node,
            action: action.to_string(),
        });
    };
    for f in faults {
        sleep_until(started + Duration::from_millis(f.at_ms)).await;
        match f.kind {
            Nemesis::Kill => {
                cluster.kill(f.node);
                log(f.node, "kill");
            }
            Nemesis::Pause => {
                cluster.signal_pause(f.node, true);
                log(f.node, "pause");
            }
            Nemesis::Membership => {
                cluster.change_membership(f.node, false).await?;
                log(f.node, "remove");
            }
            Nemesis::Partition => return Err(Error::NotImplemented("partition nemesis")),
        }
        // The fault lasts its full duration even when it started late (a membership change
        // blocks until the node has caught up, which can push the next fault back).
        tokio::time::sleep(Duration::from_millis(f.duration_ms)).await;
        match f.kind {
            Nemesis::Kill => {
                cluster.start(f.node)?;
                log(f.node, "restart");
            }
            Nemesis::Pause => {
                cluster.signal_pause(f.node, false);
                log(f.node, "resume");
            }
            Nemesis::Membership => {
                cluster.change_membership(f.node, true).await?;
                log(f.node, "re-add");
            }
            Nemesis::Partition => {}
        }
    }
    Ok(events)
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

/// Runs one test. `Err` is a setup error (nothing was checked); anomalies are in the report.
/// Every node process is killed when this returns or its future is dropped.
pub async fn run(opts: &RunOptions) -> Result<Report, Error> {
    println!("{LOOPBACK_BANNER}");
    if opts.nemeses.contains(&Nemesis::Partition) {
        return Err(Error::NotImplemented(
            "--nemesis partition needs network namespaces (loopback mode has process faults only)",
        ));
    }
    if opts.nodes < 3 {
        return Err(Error::Setup(format!(
            "--nodes {}: at least 3 are needed for a majority to survive one fault",
            opts.nodes
        )));
    }
    let dir = out_dir(opts)?;
    println!("output: {}", dir.display());
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Setup(format!("http client: {e}")))?;
    let mut cluster = Cluster::launch(&opts.binary, opts.nodes, &dir)?;
    cluster.wait_all_ready(&http).await?;
    println!("{} nodes ready", opts.nodes);

    let time_limit_ms = opts.time_limit_s * 1000;
    let faults = schedule(opts.seed, time_limit_ms, opts.nodes, &opts.nemeses);
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let from_ms = now_ms();
    let started = Instant::now();
    let until = started + Duration::from_millis(time_limit_ms);
    let clients = futures::future::join_all(
        (0..CLIENTS).map(|c| run_client(c, opts.seed, http.clone(), urls.clone(), started, until)),
    );
    let (ops, events) = tokio::join!(clients, run_nemesis(&mut cluster, &faults, started));
    let mut events = events?;
    let mut history: Vec<Op> = ops.into_iter().flatten().collect();
    history.sort_by_key(|op| (op.invoke_ms, op.client));

    for (node, action) in cluster.heal()? {
        events.push(FaultEvent {
            at_ms: started.elapsed().as_millis() as u64,
            node,
            action: action.to_string(),
        });
    }
    cluster.wait_all_ready(&http).await?;
    let to_ms = now_ms() + 1_000;
    println!("healed, all ready; reading back through every node");
    let mut reads: Vec<NodeRead> = Vec::new();
    for url in &urls {
        reads.push(read_all(&http, url, from_ms - 1_000, to_ms).await);
    }
    let check = check_samples(&history, &reads);
    println!("comparing every shard's replicas (digest at equal applied index)");
    let consistency = check_replicas(&http, &urls).await;
    let recovery = recovery_times(&history, &events);
    let report = Report {
        seed: opts.seed,
        nodes: opts.nodes,
        time_limit_s: opts.time_limit_s,
        out_dir: dir.clone(),
        schedule: faults,
        faults: events,
        samples_read_per_node: reads
            .iter()
            .map(|r| r.as_ref().map(|s| s.len()).unwrap_or(0))
            .collect(),
        check,
        consistency,
        recovery,
    };
    write_outputs(&dir, &history, &report)?;
    Ok(report)
}

fn write_outputs(dir: &std::path::Path, history: &[Op], report: &Report) -> Result<(), Error> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    for e in &report.faults {
        let line = serde_json::json!({"type": "nemesis", "at_ms": e.at_ms, "node": e.node, "action": e.action});
        writeln!(f, "{line}")?;
    }
    for op in history {
        let mut v = serde_json::to_value(op).map_err(std::io::Error::other)?;
        v["type"] = "write".into();
        writeln!(f, "{v}")?;
    }
    f.flush()?;
    let mut summary = serde_json::to_value(report).map_err(std::io::Error::other)?;
    summary["verdict"] = report.verdict().into();
    summary["pass"] = report.pass().into();
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?,
    )?;
    Ok(())
}
