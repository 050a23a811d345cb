//! One run: start the cluster, run the workload under the nemesis schedule, heal, check, report.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

use crate::alerts::{
    AlertCheck, AlertHistory, FakeAlertmanager, check_alerts, disturbed_intervals, final_episode,
    run_alerts,
};
use crate::api;
use crate::checker::{
    CheckResult, NodeRead, ReadCheck, Recovery, check_reads, check_samples_of, recovery_times,
};
use crate::cluster::Cluster;
use crate::consistency::{ConsistencyResult, check_leftovers, check_replicas_of};
use crate::history::{FaultEvent, Op, ReadOp};
use crate::membership::{MemberStep, MembershipSummary, run_membership};
use crate::net::NetNs;
use crate::notifier::{
    CheckInput, NotifierCheck, NotifierHistory, NotifierRecord, RECEIVER_NAMES, RunTimes,
    WebhookReceiver, all_requests, check_notifier, final_phase, run_notifier,
};
use crate::schedule::{Fault, Nemesis, may_overlap, schedule};
use crate::tiers::{TierCheck, TierHistory, check_tiers, run_tiers};
use crate::workload::{CLIENTS, ClientMode, now_ms, read_all, run_client};
use crate::{Error, NetMode, Workload};

mod nemesis;
use nemesis::run_nemesis;

/// The banner printed at the start of every loopback run.
pub const LOOPBACK_BANNER: &str = "loopback mode: process-level faults only (kill -9/restart, SIGSTOP/SIGCONT, membership); no network faults";

/// The banner printed at the start of every namespace run.
pub const NETNS_BANNER: &str = "namespace mode: every node in its own network namespace on a bridge; partitions and packet loss drop real packets (iptables)";

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
    /// Where the nodes run.
    pub net: NetMode,
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
    /// When the workloads started, ms since the epoch: `at_ms` and `invoke_ms` of the
    /// nemesis and the writes count from it; the `alerts` and `notifier` lines use the epoch.
    pub started_epoch_ms: i64,
    /// Where history, summary and node logs are.
    pub out_dir: PathBuf,
    /// The schedule that was run.
    pub schedule: Vec<Fault>,
    /// Fault events applied, with times.
    pub faults: Vec<FaultEvent>,
    /// Where the nodes ran.
    pub mode: &'static str,
    /// The checker's findings.
    pub check: CheckResult,
    /// The linearizable-read checker's findings.
    pub reads: ReadCheck,
    /// The replica digest comparison.
    pub consistency: ConsistencyResult,
    /// Samples each member read back, by node id.
    pub samples_read_per_node: Vec<(u32, usize)>,
    /// What the membership workload did.
    pub membership: MembershipSummary,
    /// Its steps.
    pub member_steps: Vec<MemberStep>,
    /// Time for each healed node to take writes again.
    pub recovery: Vec<Recovery>,
    /// The alerts checker's findings.
    pub alerts: AlertCheck,
    /// The notifier checker's findings.
    pub notifier: NotifierCheck,
    /// The tiers checker's findings.
    pub tiers: TierCheck,
}

impl Report {
    /// True when no anomaly was found.
    pub fn pass(&self) -> bool {
        self.check.valid()
            && self.consistency.valid()
            && self.reads.valid()
            && self.alerts.valid()
            && self.notifier.valid()
            && self.tiers.valid()
    }

    /// The one-line verdict printed last.
    pub fn verdict(&self) -> String {
        let c = &self.check;
        let word = if self.pass() { "PASS" } else { "FAIL" };
        format!(
            "VERDICT: {word} mode={} seed={} nodes={} ops={} ok={} fail={} indeterminate={} lost={} phantom={} failed_visible={} divergent_nodes={} unreadable_nodes={} reads={} stale_reads={} shards_compared={} divergent_shards={} unconverged_shards={} leftover_replicas={} faults={}{}{}{}",
            self.mode,
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
            self.reads.reads,
            self.reads.stale.len(),
            self.consistency.compared_shards,
            self.consistency.divergent_shards.len(),
            self.consistency.unconverged_shards.len(),
            self.consistency.leftover_replicas.len(),
            self.schedule.len(),
            self.alerts.verdict_fields(),
            self.notifier.verdict_fields(),
            self.tiers.verdict_fields(),
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
                "reads after writes seen/unknown",
                format!("{}/{}", self.reads.seen, self.reads.unknown),
            ),
            ("stale reads", self.reads.stale.len().to_string()),
            (
                "joins ok/failed",
                format!(
                    "{}/{}",
                    self.membership.joins_ok, self.membership.joins_failed
                ),
            ),
            (
                "rebalances ok/failed",
                format!(
                    "{}/{}",
                    self.membership.rebalances_ok, self.membership.rebalances_failed
                ),
            ),
            (
                "shard-map changes ok/failed",
                format!(
                    "{}/{}",
                    self.membership.reshards_ok, self.membership.reshards_failed
                ),
            ),
            (
                "removals ok/failed",
                format!(
                    "{}/{}",
                    self.membership.removals_ok, self.membership.removals_failed
                ),
            ),
            (
                "joined nodes that are members",
                format!("{:?}", self.membership.joined_members),
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
            (
                "replicas left on nodes that no longer hold them",
                format!("{:?}", self.consistency.leftover_replicas),
            ),
            ("faults", self.schedule.len().to_string()),
        ];
        for (k, v) in rows {
            s.push_str(&format!("{k:<32} {v}\n"));
        }
        for f in &self.schedule {
            let target = if f.kind.is_network() {
                String::new()
            } else {
                format!(" node {}", f.node)
            };
            s.push_str(&format!(
                "  fault at {:>6} ms: {:?}{target} for {} ms\n",
                f.at_ms, f.kind, f.duration_ms
            ));
        }
        for e in self.faults.iter().filter(|e| e.node == 0) {
            s.push_str(&format!("  network at {:>6} ms: {}\n", e.at_ms, e.action));
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
        s.push_str(&self.alerts.table());
        s.push_str(&self.notifier.table());
        s.push_str(&self.tiers.table());
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

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

/// Runs one test. `Err` is a setup error (nothing was checked); anomalies are in the report.
/// Every node process is killed when this returns or its future is dropped.
pub async fn run(opts: &RunOptions) -> Result<Report, Error> {
    let mode = match opts.net {
        NetMode::Netns => "netns",
        NetMode::Loopback => "loopback",
    };
    if opts.net == NetMode::Loopback
        && let Some(k) = opts.nemeses.iter().find(|k| k.is_network())
    {
        return Err(Error::NotAvailable(format!(
            "--nemesis {k:?} drops packets between nodes: it needs --net netns (loopback mode has process faults only)"
        )));
    }
    if opts.nemeses.contains(&Nemesis::ClockSkew)
        && !std::path::Path::new(crate::cluster::LIBFAKETIME).exists()
    {
        return Err(Error::NotAvailable(format!(
            "--nemesis clock-skew runs nodes under libfaketime: {} is missing (apt-get \
             install faketime)",
            crate::cluster::LIBFAKETIME
        )));
    }
    if opts.nodes < 3 {
        return Err(Error::Setup(format!(
            "--nodes {}: at least 3 are needed for a majority to survive one fault",
            opts.nodes
        )));
    }
    let net = match opts.net {
        NetMode::Netns => {
            println!("{NETNS_BANNER}");
            Some(NetNs::create(opts.nodes)?)
        }
        NetMode::Loopback => {
            println!("{LOOPBACK_BANNER}");
            None
        }
    };
    let dir = out_dir(opts)?;
    println!("output: {}", dir.display());
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Setup(format!("http client: {e}")))?;
    let with_alerts = opts.workloads.contains(&Workload::Alerts);
    let with_notifier = opts.workloads.contains(&Workload::Notifier);
    // The fake Alertmanager and the webhook receivers listen where the nodes reach the
    // harness.
    let harness_ip = match &net {
        Some(net) => std::net::IpAddr::V4(net.host_addr()),
        None => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    };
    let am = if with_alerts {
        let am = FakeAlertmanager::start(harness_ip).await?;
        println!("fake Alertmanager at {}", am.url());
        Some(am)
    } else {
        None
    };
    let mut receivers: Vec<WebhookReceiver> = Vec::new();
    if with_notifier {
        for (i, name) in RECEIVER_NAMES.iter().enumerate() {
            let r = WebhookReceiver::start(harness_ip, name, opts.seed ^ (i as u64 + 1)).await?;
            println!("webhook receiver {name} at {}", r.url());
            receivers.push(r);
        }
    }
    let mut extra_config = am
        .as_ref()
        .map(|am| crate::alerts::node_config(am.url()))
        .unwrap_or_default();
    if with_notifier {
        extra_config.push_str(&crate::notifier::node_config());
    }
    let mut cluster = Cluster::launch(&opts.binary, opts.nodes, &dir, net, &extra_config)?;
    cluster.wait_all_ready(&http).await?;
    println!("{} nodes ready", opts.nodes);

    let time_limit_ms = opts.time_limit_s * 1000;
    let faults = schedule(opts.seed, time_limit_ms, opts.nodes, &opts.nemeses);
    // The clients use the first nodes (the nemesis' targets); joined nodes come and go.
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let read_after_write = opts.workloads.contains(&Workload::LinearizableRead);
    let from_ms = now_ms();
    let started = Instant::now();
    let started_epoch_ms = now_ms();
    let until = started + Duration::from_millis(time_limit_ms);
    let clients = futures::future::join_all((0..CLIENTS).map(|c| {
        run_client(
            c,
            opts.seed,
            http.clone(),
            urls.clone(),
            (started, until),
            ClientMode {
                read_after_write,
                histograms: opts.workloads.contains(&Workload::Histograms),
            },
        )
    }));
    let shared = Mutex::new(cluster);
    let membership = async {
        if opts.workloads.contains(&Workload::Membership) {
            run_membership(&shared, opts.seed, http.clone(), started, until, opts.nodes).await
        } else {
            Vec::new()
        }
    };
    let alerts = async {
        if with_alerts {
            run_alerts(opts.seed, http.clone(), urls.clone(), started, until).await
        } else {
            AlertHistory::default()
        }
    };
    let notifier = async {
        if with_notifier {
            run_notifier(
                opts.seed,
                http.clone(),
                urls.clone(),
                started,
                until,
                &receivers,
            )
            .await
        } else {
            NotifierHistory::default()
        }
    };
    let with_tiers = opts.workloads.contains(&Workload::Tiers);
    let tiers = async {
        if with_tiers {
            run_tiers(opts.seed, http.clone(), urls.clone(), started, until).await
        } else {
            TierHistory::default()
        }
    };
    let (clients, events, member_steps, mut alert_history, mut notifier_history, tier_history) = tokio::join!(
        clients,
        run_nemesis(&shared, opts.nodes, &faults, opts.seed, &http, started),
        membership,
        alerts,
        notifier,
        tiers
    );
    let mut cluster = shared.into_inner();
    let mut events = events?;
    let mut history: Vec<Op> = Vec::new();
    let mut read_ops: Vec<ReadOp> = Vec::new();
    for c in clients {
        history.extend(c.writes);
        read_ops.extend(c.reads);
    }
    history.sort_by_key(|op| (op.invoke_ms, op.client));
    read_ops.sort_by_key(|op| (op.invoke_ms, op.client));

    if let Some(net) = cluster.net() {
        net.heal().await?;
    }
    for (node, action) in cluster.heal()? {
        events.push(FaultEvent {
            at_ms: started.elapsed().as_millis() as u64,
            node,
            action: action.to_string(),
        });
    }
    let heal_epoch_ms = now_ms();
    cluster.wait_all_ready(&http).await?;
    let to_ms = now_ms() + 1_000;
    // Every member at the end: the first nodes and whichever joined and stayed.
    let members: Vec<(u32, String)> = cluster
        .live_ids()
        .into_iter()
        .map(|id| (id, cluster.nodes[id as usize - 1].url()))
        .collect();
    println!(
        "healed, all ready; reading back through every member {:?}",
        members.iter().map(|m| m.0).collect::<Vec<_>>()
    );
    let member_urls: Vec<String> = members.iter().map(|m| m.1.clone()).collect();
    // The alerts' final episode (no fault any more) runs while the samples are read back.
    let final_alerts = async {
        if let Some(am) = &am {
            println!("alerts: final episode after healing");
            final_episode(
                &mut alert_history,
                &http,
                &member_urls,
                started,
                opts.seed,
                am,
            )
            .await;
        }
    };
    let read_back = async {
        let mut reads: Vec<(u32, NodeRead)> = Vec::new();
        for (id, url) in &members {
            reads.push((*id, read_all(&http, url, from_ms - 1_000, to_ms).await));
        }
        reads
    };
    // The disturbed times so far (every fault is healed), ms since the epoch.
    let disturbed_epoch = |end_run_ms: u64| -> Vec<(i64, i64)> {
        disturbed_intervals(&events, &member_steps, end_run_ms)
            .into_iter()
            .map(|(a, b)| (started_epoch_ms + a, started_epoch_ms + b))
            .collect()
    };
    let notifier_disturbed = disturbed_epoch(started.elapsed().as_millis() as u64);
    // The notifier's final episode and the wait for what is pending, meanwhile.
    let final_notifier = async {
        if with_notifier {
            println!("notifier: final episode after healing");
            final_phase(
                &mut notifier_history,
                &http,
                &members,
                opts.seed,
                &receivers,
                RunTimes {
                    disturbed: &notifier_disturbed,
                    heal_ms: heal_epoch_ms,
                    origin_ms: started_epoch_ms,
                },
            )
            .await
        } else {
            Vec::new()
        }
    };
    let ((), reads, notifier_statuses) = tokio::join!(final_alerts, read_back, final_notifier);
    let numbered: Vec<(u32, &NodeRead)> = reads.iter().map(|(id, r)| (*id, r)).collect();
    let check = check_samples_of(&history, &numbered);
    let tiers = if with_tiers {
        println!("tiers: one more retention run, then every member counts every series");
        check_tiers(&tier_history, &http, &members).await
    } else {
        TierCheck::default()
    };
    println!("comparing every shard's replicas (digest at equal applied index)");
    let mut consistency = check_replicas_of(&http, &members).await;
    println!("checking that no member stores a replica it no longer holds");
    consistency.leftover_replicas = check_leftovers(&http, &members).await;
    let recovery = recovery_times(&history, &events);
    let membership = MembershipSummary::of(&member_steps, &cluster.live_ids(), opts.nodes);
    let alerts = match &am {
        Some(am) => {
            let disturbed = disturbed_epoch(started.elapsed().as_millis() as u64);
            check_alerts(
                &alert_history,
                &am.received(),
                &am.malformed(),
                &disturbed,
                now_ms(),
            )
        }
        None => AlertCheck::default(),
    };
    let notifier = if with_notifier {
        let names: Vec<String> = receivers.iter().map(|r| r.name().to_string()).collect();
        check_notifier(&CheckInput {
            history: &notifier_history,
            requests: &all_requests(&receivers),
            receivers: &names,
            disturbed: &notifier_disturbed,
            heal_ms: heal_epoch_ms,
            origin_ms: started_epoch_ms,
            statuses: &notifier_statuses,
        })
    } else {
        NotifierCheck::default()
    };
    let notifications = am.as_ref().map(|am| am.received()).unwrap_or_default();
    let report = Report {
        seed: opts.seed,
        nodes: opts.nodes,
        time_limit_s: opts.time_limit_s,
        started_epoch_ms,
        out_dir: dir.clone(),
        schedule: faults,
        faults: events,
        samples_read_per_node: reads
            .iter()
            .map(|(id, r)| (*id, r.as_ref().map(|s| s.len()).unwrap_or(0)))
            .collect(),
        mode,
        check,
        reads: check_reads(&read_ops),
        membership,
        member_steps,
        consistency,
        recovery,
        alerts,
        notifier,
        tiers,
    };
    let notifier_record = NotifierRecord {
        history: &notifier_history,
        receivers: &receivers,
        statuses: &notifier_statuses,
    };
    write_outputs(
        &dir,
        &Records {
            history: &history,
            read_ops: &read_ops,
            alerts: &alert_history,
            notifications: &notifications,
            notifier: &notifier_record,
            tiers: &tier_history,
        },
        &report,
    )?;
    Ok(report)
}

/// Everything a run recorded, for `history.jsonl`.
struct Records<'a> {
    history: &'a [Op],
    read_ops: &'a [ReadOp],
    alerts: &'a AlertHistory,
    notifications: &'a [crate::alerts::Notification],
    notifier: &'a NotifierRecord<'a>,
    tiers: &'a TierHistory,
}

fn write_outputs(
    dir: &std::path::Path,
    records: &Records<'_>,
    report: &Report,
) -> Result<(), Error> {
    let &Records {
        history,
        read_ops,
        alerts,
        notifications,
        notifier,
        tiers,
    } = records;
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
    for op in read_ops {
        let mut v = serde_json::to_value(op).map_err(std::io::Error::other)?;
        v["type"] = "read".into();
        writeln!(f, "{v}")?;
    }
    for u in &alerts.uploads {
        let mut v = serde_json::to_value(u).map_err(std::io::Error::other)?;
        v["type"] = "rule-upload".into();
        writeln!(f, "{v}")?;
    }
    for w in &alerts.writes {
        let mut v = serde_json::to_value(w).map_err(std::io::Error::other)?;
        v["type"] = "alert-gauge-write".into();
        writeln!(f, "{v}")?;
    }
    for n in notifications {
        let mut v = serde_json::to_value(n).map_err(std::io::Error::other)?;
        v["type"] = "alert-notification".into();
        writeln!(f, "{v}")?;
    }
    notifier.write_jsonl(&mut f)?;
    for w in &tiers.writes {
        let mut v = serde_json::to_value(w).map_err(std::io::Error::other)?;
        v["type"] = "tier-write".into();
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

#[cfg(test)]
mod tests {
    use super::nemesis::majority_from;

    #[test]
    fn a_majority_wraps_around() {
        assert_eq!(majority_from(1, 3), vec![1, 2]);
        assert_eq!(majority_from(3, 3), vec![3, 1]);
        assert_eq!(majority_from(4, 5), vec![4, 5, 1]);
    }
}
