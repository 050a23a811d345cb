//! The nemesis schedule: a pure function of the seed, so the same seed gives the same faults.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The fault kinds. The network ones need namespace mode (`--net netns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Nemesis {
    /// kill -9 a node, restart it after a while.
    Kill,
    /// SIGSTOP a node, SIGCONT it after a while.
    Pause,
    /// Remove a node from every group with `tidemarkctl node remove`, add it back with
    /// `tidemarkctl node add` after a while (it catches up from the log or a snapshot).
    Membership,
    /// Cut the nodes into two random sides, the smaller a minority.
    Partition,
    /// Cut the node that leads the most groups off from every other node.
    IsolateLeader,
    /// A majority ring: every node reaches only its two neighbours in a random ring, so each
    /// sees a majority but no two see the same one.
    Ring,
    /// Two sides that reach each other only through one bridge node.
    Bridge,
    /// Random packet loss (20-50 % of packets, both directions) between random pairs of nodes.
    Loss,
    /// kill -9 a majority of the nodes at once (the fault's node and the next ones), restart
    /// them together: nothing can commit meanwhile, and nothing acknowledged may be lost.
    KillMajority,
    /// Restart a node with its wall clock 30 s to 4 min ahead or behind (libfaketime; its
    /// monotonic clock untouched), and with the true time again after a while: time-based
    /// routing, the future window and the shard map rest on clocks agreeing.
    ClockSkew,
}

impl Nemesis {
    /// Every kind.
    pub const ALL: [Nemesis; 10] = [
        Nemesis::Kill,
        Nemesis::Pause,
        Nemesis::Membership,
        Nemesis::Partition,
        Nemesis::IsolateLeader,
        Nemesis::Ring,
        Nemesis::Bridge,
        Nemesis::Loss,
        Nemesis::KillMajority,
        Nemesis::ClockSkew,
    ];

    /// Whether the fault is made in the network (namespace mode only).
    pub fn is_network(self) -> bool {
        !matches!(
            self,
            Nemesis::Kill
                | Nemesis::Pause
                | Nemesis::Membership
                | Nemesis::KillMajority
                | Nemesis::ClockSkew
        )
    }
}

/// One scheduled fault: starts at `at_ms` (since the run started) and is healed `duration_ms` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Start, ms since the run started.
    pub at_ms: u64,
    /// Target node id (1-based).
    pub node: u32,
    /// What to do.
    pub kind: Nemesis,
    /// Time until it is healed.
    pub duration_ms: u64,
}

/// Quiet time before the first fault, so that the cluster takes writes first.
pub const FIRST_FAULT_MS: u64 = 2_000;
/// Gap between the end of one fault (or of an overlapping pair) and the start of the next
/// (min, max).
pub const GAP_MS: (u64, u64) = (1_000, 3_000);
/// How long a fault lasts (min, max).
pub const DURATION_MS: (u64, u64) = (1_000, 4_000);
/// Chance that a fault gets a second one overlapping it, in percent.
pub const OVERLAP_PERCENT: u32 = 35;

/// Whether `kind` may overlap another fault: kill, pause and the network faults may; a
/// membership change (which blocks until the node is back in every group) and a majority kill
/// (which stops a majority already) run alone.
pub fn may_overlap(kind: Nemesis) -> bool {
    !matches!(kind, Nemesis::Membership | Nemesis::KillMajority)
}

/// The faults of a run of `time_limit_ms` over `nodes` nodes, drawn from `kinds` with a seeded
/// RNG, sorted by start. The first faults cover every kind once (in a seeded order), so a short
/// run still exercises each. A fault may get a second one that starts while it lasts (about
/// one in three): the two target different nodes, at most one of them is a network fault (a
/// heal clears every rule), and neither is a membership change or a majority kill. Every fault
/// is healed before the time limit.
pub fn schedule(seed: u64, time_limit_ms: u64, nodes: u32, kinds: &[Nemesis]) -> Vec<Fault> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut faults = Vec::new();
    if kinds.is_empty() || nodes == 0 {
        return faults;
    }
    let mut first: Vec<Nemesis> = Vec::new();
    for k in kinds {
        if !first.contains(k) {
            first.push(*k);
        }
    }
    first.shuffle(&mut rng);
    let mut t = FIRST_FAULT_MS;
    let mut drawn = 0;
    loop {
        let duration_ms = rng.random_range(DURATION_MS.0..=DURATION_MS.1);
        if t + duration_ms >= time_limit_ms {
            break;
        }
        let kind = match first.get(drawn) {
            Some(&k) => k,
            None => kinds[rng.random_range(0..kinds.len())],
        };
        drawn += 1;
        let node = rng.random_range(1..=nodes);
        let fault = Fault {
            at_ms: t,
            node,
            kind,
            duration_ms,
        };
        faults.push(fault);
        let mut end = t + duration_ms;
        // A second fault while this one lasts.
        let partners: Vec<Nemesis> = kinds
            .iter()
            .copied()
            .filter(|k| may_overlap(*k) && !(k.is_network() && kind.is_network()))
            .collect();
        if nodes > 1
            && may_overlap(kind)
            && !partners.is_empty()
            && rng.random_range(0..100) < OVERLAP_PERCENT
        {
            let at_ms = t + rng.random_range(0..=duration_ms / 2);
            let d = rng.random_range(DURATION_MS.0..=DURATION_MS.1);
            let other = partners[rng.random_range(0..partners.len())];
            let mut node2 = rng.random_range(1..nodes);
            if node2 >= node {
                node2 += 1;
            }
            if at_ms + d < time_limit_ms {
                faults.push(Fault {
                    at_ms,
                    node: node2,
                    kind: other,
                    duration_ms: d,
                });
                end = end.max(at_ms + d);
            }
        }
        t = end + rng.random_range(GAP_MS.0..=GAP_MS.1);
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule() {
        let kinds = [Nemesis::Kill, Nemesis::Pause];
        let a = schedule(7, 60_000, 3, &kinds);
        assert_eq!(a, schedule(7, 60_000, 3, &kinds));
        assert_ne!(a, schedule(8, 60_000, 3, &kinds));
        assert!(a.len() >= 5, "{a:?}");
    }

    #[test]
    fn faults_overlap_only_in_pairs_that_can_and_end_in_time() {
        let kinds = Nemesis::ALL;
        let mut overlapping = 0;
        for seed in 0..20 {
            let f = schedule(seed, 120_000, 5, &kinds);
            for x in &f {
                assert!(x.at_ms + x.duration_ms < 120_000);
                assert!((1..=5).contains(&x.node));
            }
            for (i, a) in f.iter().enumerate() {
                for b in &f[i + 1..] {
                    assert!(b.at_ms >= a.at_ms, "sorted by start: {f:?}");
                    if b.at_ms <= a.at_ms + a.duration_ms {
                        overlapping += 1;
                        assert!(may_overlap(a.kind) && may_overlap(b.kind), "{a:?} {b:?}");
                        assert!(!(a.kind.is_network() && b.kind.is_network()), "{a:?} {b:?}");
                        assert_ne!(a.node, b.node);
                    }
                }
            }
        }
        assert!(
            overlapping > 20,
            "{overlapping} overlapping pairs in 20 runs"
        );
        // Faults that cannot overlap never do.
        let f = schedule(1, 60_000, 3, &[Nemesis::Membership]);
        for w in f.windows(2) {
            assert!(w[0].at_ms + w[0].duration_ms < w[1].at_ms);
        }
        assert!(schedule(1, 30_000, 3, &[]).is_empty());
    }

    #[test]
    fn every_kind_comes_early() {
        for seed in 0..20 {
            let f = schedule(seed, 20_000, 3, &[Nemesis::Kill, Nemesis::Pause]);
            // The first two drawn, each possibly followed by an overlapping partner.
            assert!(f.iter().take(4).any(|x| x.kind == Nemesis::Kill), "{f:?}");
            assert!(f.iter().take(4).any(|x| x.kind == Nemesis::Pause), "{f:?}");
        }
    }
}
