//! The nemesis of a run: starting and healing each fault the schedule names (kills, pauses,
//! network cuts in the namespaces), and the leader a fault aims at.

use super::*;

/// Runs the nemesis schedule; returns the fault events (heals of the last fault included).
pub(super) async fn run_nemesis(
    cluster: &Mutex<Cluster>,
    nodes: u32,
    faults: &[Fault],
    seed: u64,
    http: &reqwest::Client,
    started: Instant,
) -> Result<Vec<FaultEvent>, Error> {
    let mut events = Vec::new();
    let mut log = |node: u32, action: &str| {
        let at_ms = started.elapsed().as_millis() as u64;
        if node == 0 {
            println!("[{at_ms:>6} ms] nemesis: {action}");
        } else {
            println!("[{at_ms:>6} ms] nemesis: {action} node {node}");
        }
        events.push(FaultEvent {
            at_ms,
            node,
            action: action.to_string(),
        });
    };
    // A timeline of starts and heals: overlapping faults interleave, and a heal is due
    // `duration_ms` after its fault actually started. A fault that runs alone (a membership
    // change, a majority kill) is healed inline, and when it ran late (a membership change
    // blocks until the node has caught up) everything after it moves back by as much, so it
    // still runs alone.
    let mut due: std::collections::BTreeMap<(u64, usize, bool), Fault> = faults
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.at_ms, i, false), *f))
        .collect();
    let elapsed = || started.elapsed().as_millis() as u64;
    while let Some(((at_ms, i, heal), f)) = due.pop_first() {
        sleep_until(started + Duration::from_millis(at_ms)).await;
        if heal {
            heal_fault(cluster, nodes, &f, &mut log).await?;
            continue;
        }
        if !may_overlap(f.kind) {
            // Heal what is still going on first (a pair whose start ran a little late).
            let pending: Vec<_> = due
                .iter()
                .filter(|(k, _)| k.2)
                .map(|(k, g)| (*k, *g))
                .collect();
            for (k, g) in pending {
                due.remove(&k);
                sleep_until(started + Duration::from_millis(k.0)).await;
                heal_fault(cluster, nodes, &g, &mut log).await?;
            }
        }
        start_fault(cluster, nodes, &f, seed, http, &mut log).await?;
        if may_overlap(f.kind) {
            due.insert((elapsed().max(at_ms) + f.duration_ms, i, true), f);
            continue;
        }
        tokio::time::sleep(Duration::from_millis(f.duration_ms)).await;
        heal_fault(cluster, nodes, &f, &mut log).await?;
        let late = elapsed().saturating_sub(at_ms + f.duration_ms);
        if late > 0 {
            due = due
                .into_iter()
                .map(|((t, j, h), g)| ((t + late, j, h), g))
                .collect();
        }
    }
    Ok(events)
}

/// Makes fault `f`.
async fn start_fault(
    cluster: &Mutex<Cluster>,
    nodes: u32,
    f: &Fault,
    seed: u64,
    http: &reqwest::Client,
    log: &mut impl FnMut(u32, &str),
) -> Result<(), Error> {
    match f.kind {
        Nemesis::Kill => {
            cluster.lock().await.kill(f.node);
            log(f.node, "kill");
        }
        Nemesis::Pause => {
            cluster.lock().await.signal_pause(f.node, true);
            log(f.node, "pause");
        }
        Nemesis::Membership => {
            let plan = cluster.lock().await.membership_plan(f.node);
            plan.run(false).await?;
            log(f.node, "remove");
        }
        Nemesis::KillMajority => {
            let mut c = cluster.lock().await;
            for id in majority_from(f.node, nodes) {
                c.kill(id);
                log(id, "kill");
            }
        }
        Nemesis::ClockSkew => {
            let mut rng = StdRng::seed_from_u64(seed ^ f.at_ms.rotate_left(29));
            let magnitude: i64 = rng.random_range(30..=240);
            let skew_s = if rng.random_bool(0.5) {
                magnitude
            } else {
                -magnitude
            };
            let mut c = cluster.lock().await;
            c.kill(f.node);
            c.set_clock_skew(f.node, Some(skew_s));
            c.start(f.node)?;
            log(f.node, &format!("restart with clock {skew_s:+} s"));
        }
        kind => {
            // The same seed cuts the same links (but for `isolate-leader`, whose target is
            // whoever leads at that moment).
            let mut rng = StdRng::seed_from_u64(seed ^ f.at_ms.rotate_left(17));
            let what = cut_network(&*cluster.lock().await, kind, &mut rng, http).await?;
            log(0, &what);
        }
    }
    Ok(())
}

/// Heals fault `f`.
async fn heal_fault(
    cluster: &Mutex<Cluster>,
    nodes: u32,
    f: &Fault,
    log: &mut impl FnMut(u32, &str),
) -> Result<(), Error> {
    match f.kind {
        Nemesis::Kill => {
            cluster.lock().await.start(f.node)?;
            log(f.node, "restart");
        }
        Nemesis::Pause => {
            cluster.lock().await.signal_pause(f.node, false);
            log(f.node, "resume");
        }
        Nemesis::Membership => {
            let plan = cluster.lock().await.membership_plan(f.node);
            plan.run(true).await?;
            log(f.node, "re-add");
        }
        Nemesis::KillMajority => {
            let mut c = cluster.lock().await;
            for id in majority_from(f.node, nodes) {
                c.start(id)?;
                log(id, "restart");
            }
        }
        Nemesis::ClockSkew => {
            let mut c = cluster.lock().await;
            c.kill(f.node);
            c.set_clock_skew(f.node, None);
            c.start(f.node)?;
            log(f.node, "restart with the true time");
        }
        _ => {
            net_of(&*cluster.lock().await)?.heal().await?;
            log(0, "heal-network");
        }
    }
    Ok(())
}

/// A majority of the first `nodes` nodes: `first` and the ones after it, wrapping around.
pub(super) fn majority_from(first: u32, nodes: u32) -> Vec<u32> {
    (0..nodes / 2 + 1)
        .map(|k| (first - 1 + k) % nodes + 1)
        .collect()
}

fn net_of(cluster: &Cluster) -> Result<&NetNs, Error> {
    cluster
        .net()
        .ok_or_else(|| Error::NotAvailable("network faults need namespace mode".into()))
}

/// Makes one network fault; returns what it did, for the log.
async fn cut_network(
    cluster: &Cluster,
    kind: Nemesis,
    rng: &mut StdRng,
    http: &reqwest::Client,
) -> Result<String, Error> {
    let net = net_of(cluster)?;
    let mut order = cluster.live_ids();
    let n = order.len() as u32;
    order.shuffle(rng);
    let set = |ids: &[u32]| ids.iter().copied().collect::<BTreeSet<u32>>();
    Ok(match kind {
        Nemesis::Partition => {
            let minority = rng.random_range(1..=(n - 1) / 2);
            let (a, b) = order.split_at(minority as usize);
            net.partition(&set(a), &set(b)).await?;
            format!("partition {a:?} | {b:?}")
        }
        Nemesis::IsolateLeader => {
            let leader = busiest_leader(cluster, http).await.unwrap_or(order[0]);
            let rest: Vec<u32> = order.iter().copied().filter(|&x| x != leader).collect();
            net.partition(&set(&[leader]), &set(&rest)).await?;
            format!("isolate-leader {leader}")
        }
        Nemesis::Ring => {
            // Only ring neighbours reach each other.
            let n_i = i64::from(n);
            for i in 0..order.len() {
                for j in i + 1..order.len() {
                    let d = (i as i64 - j as i64).rem_euclid(n_i);
                    if d != 1 && d != n_i - 1 {
                        net.drop_between(order[i], order[j], 1.0).await?;
                    }
                }
            }
            format!("ring {order:?}")
        }
        Nemesis::Bridge => {
            let half = (n as usize - 1) / 2;
            let (a, rest) = order.split_at(half);
            let (bridge, b) = rest.split_at(1);
            net.partition(&set(a), &set(b)).await?;
            format!("bridge {a:?} <{}> {b:?}", bridge[0])
        }
        Nemesis::Loss => {
            let p = rng.random_range(0.2..=0.5);
            let mut pairs = Vec::new();
            let mut ids = order.clone();
            ids.sort_unstable();
            for (i, &a) in ids.iter().enumerate() {
                for &b in &ids[i + 1..] {
                    if rng.random_bool(0.5) {
                        net.drop_between(a, b, p).await?;
                        pairs.push((a, b));
                    }
                }
            }
            format!("loss {:.0}% on {pairs:?}", p * 100.0)
        }
        Nemesis::Kill
        | Nemesis::Pause
        | Nemesis::Membership
        | Nemesis::KillMajority
        | Nemesis::ClockSkew => {
            return Err(Error::Setup(format!("{kind:?} is not a network fault")));
        }
    })
}

/// The node that leads the most groups, as some node reports (`/api/v1/status/cluster`).
async fn busiest_leader(cluster: &Cluster, http: &reqwest::Client) -> Option<u32> {
    for node in cluster.nodes.iter().filter(|n| !n.retired) {
        let Ok(status) = api::cluster_status(http, &node.url(), Duration::from_secs(2)).await
        else {
            continue;
        };
        let mut counts = std::collections::BTreeMap::<u32, usize>::new();
        for l in status.groups.iter().filter_map(|g| g.leader) {
            *counts.entry(l as u32).or_default() += 1;
        }
        return counts.into_iter().max_by_key(|&(_, c)| c).map(|(l, _)| l);
    }
    None
}
