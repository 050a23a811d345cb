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
}

impl Nemesis {
    /// Every kind.
    pub const ALL: [Nemesis; 9] = [
        Nemesis::Kill,
        Nemesis::Pause,
        Nemesis::Membership,
        Nemesis::Partition,
        Nemesis::IsolateLeader,
        Nemesis::Ring,
        Nemesis::Bridge,
        Nemesis::Loss,
        Nemesis::KillMajority,
    ];

    /// Whether the fault is made in the network (namespace mode only).
    pub fn is_network(self) -> bool {
        !matches!(
            self,
            Nemesis::Kill | Nemesis::Pause | Nemesis::Membership | Nemesis::KillMajority
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
/// Gap between the end of one fault and the start of the next (min, max).
pub const GAP_MS: (u64, u64) = (1_000, 3_000);
/// How long a fault lasts (min, max).
pub const DURATION_MS: (u64, u64) = (1_000, 4_000);

/// The faults of a run of `time_limit_ms` over `nodes` nodes, one at a time (a majority always
/// survives), drawn from `kinds` with a seeded RNG. The first faults cover every kind once (in
/// a seeded order), so a short run still exercises each; every fault is healed before the time limit.
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
    loop {
        let duration_ms = rng.random_range(DURATION_MS.0..=DURATION_MS.1);
        if t + duration_ms >= time_limit_ms {
            break;
        }
        let kind = match first.get(faults.len()) {
            Some(&k) => k,
            None => kinds[rng.random_range(0..kinds.len())],
        };
        let node = rng.random_range(1..=nodes);
        faults.push(Fault {
            at_ms: t,
            node,
            kind,
            duration_ms,
        });
        t += duration_ms + rng.random_range(GAP_MS.0..=GAP_MS.1);
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
    fn faults_do_not_overlap_and_end_in_time() {
        let f = schedule(1, 30_000, 3, &[Nemesis::Kill, Nemesis::Pause]);
        for w in f.windows(2) {
            assert!(w[0].at_ms + w[0].duration_ms < w[1].at_ms);
        }
        for x in &f {
            assert!(x.at_ms + x.duration_ms < 30_000);
            assert!((1..=3).contains(&x.node));
        }
        assert!(schedule(1, 30_000, 3, &[]).is_empty());
    }

    #[test]
    fn every_kind_comes_early() {
        for seed in 0..20 {
            let f = schedule(seed, 20_000, 3, &[Nemesis::Kill, Nemesis::Pause]);
            assert!(f.iter().take(2).any(|x| x.kind == Nemesis::Kill), "{f:?}");
            assert!(f.iter().take(2).any(|x| x.kind == Nemesis::Pause), "{f:?}");
        }
    }
}
