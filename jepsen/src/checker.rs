//! The `samples` checker: a plain function over the history and what each node read back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::history::{FaultEvent, Op, Outcome, ReadOp, ReadOutcome, SampleId};

/// What one node returned for the final read: every `jepsen_sample` sample, or why it could not.
pub type NodeRead = Result<BTreeSet<SampleId>, String>;

/// The checker's findings; `valid()` says whether the run passes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckResult {
    /// Operations in the history.
    pub ops: usize,
    /// Operations by outcome.
    pub ok: usize,
    /// Definitely failed operations.
    pub fail: usize,
    /// Operations with unknown outcome.
    pub indeterminate: usize,
    /// Acknowledged samples missing (or with another value) on at least one node.
    pub lost: Vec<SampleId>,
    /// Samples read that no operation ever attempted.
    pub phantom: Vec<SampleId>,
    /// Samples of definitely failed operations that were read anyway.
    pub failed_but_visible: Vec<SampleId>,
    /// Indeterminate samples that turned out to be present (on every node).
    pub indeterminate_present: usize,
    /// Indeterminate samples that turned out to be absent (on every node).
    pub indeterminate_absent: usize,
    /// Nodes whose read differs from node 1's (or the first readable node's).
    pub divergent_nodes: Vec<u32>,
    /// Nodes that could not be read at all, with the reason.
    pub unreadable_nodes: Vec<(u32, String)>,
}

impl CheckResult {
    /// True when no anomaly was found.
    pub fn valid(&self) -> bool {
        self.lost.is_empty()
            && self.phantom.is_empty()
            && self.failed_but_visible.is_empty()
            && self.divergent_nodes.is_empty()
            && self.unreadable_nodes.is_empty()
    }
}

/// Checks the history against the reads of every node (`reads[i]` is node `i + 1`).
///
/// A sample read is matched by series, timestamp and exact value: a sample at the right time with
/// another value counts as lost (the acknowledged one) and phantom (the one read).
pub fn check_samples(history: &[Op], reads: &[NodeRead]) -> CheckResult {
    let numbered: Vec<(u32, &NodeRead)> = reads
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u32 + 1, r))
        .collect();
    check_samples_of(history, &numbered)
}

/// [`check_samples`] over the reads of the nodes named by id (the members at the end of a run
/// in which nodes joined and left).
pub fn check_samples_of(history: &[Op], reads: &[(u32, &NodeRead)]) -> CheckResult {
    let mut r = CheckResult {
        ops: history.len(),
        ..Default::default()
    };
    let mut attempted: HashMap<SampleId, Outcome> = HashMap::new();
    for op in history {
        match op.outcome {
            Outcome::Ok => r.ok += 1,
            Outcome::Fail => r.fail += 1,
            Outcome::Indeterminate => r.indeterminate += 1,
        }
        for s in &op.samples {
            attempted.insert(*s, op.outcome);
        }
    }
    let mut lost = BTreeSet::new();
    let mut phantom = BTreeSet::new();
    let mut failed_visible = BTreeSet::new();
    let mut readable: Vec<(u32, &BTreeSet<SampleId>)> = Vec::new();
    for &(node, read) in reads {
        match read {
            Err(e) => r.unreadable_nodes.push((node, e.clone())),
            Ok(set) => readable.push((node, set)),
        }
    }
    for (_, set) in &readable {
        for (s, outcome) in &attempted {
            if *outcome == Outcome::Ok && !set.contains(s) {
                lost.insert(*s);
            }
        }
        for s in set.iter() {
            match attempted.get(s) {
                None => {
                    phantom.insert(*s);
                }
                Some(Outcome::Fail) => {
                    failed_visible.insert(*s);
                }
                Some(_) => {}
            }
        }
    }
    if let Some((_, first)) = readable.first() {
        for (node, set) in &readable[1..] {
            if set != first {
                r.divergent_nodes.push(*node);
            }
        }
        for (s, outcome) in &attempted {
            if *outcome == Outcome::Indeterminate {
                if readable.iter().all(|(_, set)| set.contains(s)) {
                    r.indeterminate_present += 1;
                } else if readable.iter().all(|(_, set)| !set.contains(s)) {
                    r.indeterminate_absent += 1;
                }
            }
        }
    }
    r.lost = lost.into_iter().collect();
    r.phantom = phantom.into_iter().collect();
    r.failed_but_visible = failed_visible.into_iter().collect();
    r
}

/// Groups read samples by series, for reports: `(client, key) -> count`.
pub fn samples_per_series(set: &BTreeSet<SampleId>) -> BTreeMap<(u32, u32), usize> {
    let mut m = BTreeMap::new();
    for s in set {
        *m.entry((s.client, s.key)).or_default() += 1;
    }
    m
}

/// How long a node took to take writes again after one of its faults was healed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Node id.
    pub node: u32,
    /// The healing action (`restart`, `resume`).
    pub action: String,
    /// When it was healed, ms since the run started.
    pub healed_at_ms: u64,
    /// From the heal to the completion of the first acknowledged write through that node
    /// invoked after it; `None` when none was.
    pub recovered_after_ms: Option<u64>,
}

/// The recovery time after every `restart`/`resume` event of the nemesis.
pub fn recovery_times(history: &[Op], events: &[FaultEvent]) -> Vec<Recovery> {
    events
        .iter()
        .filter(|e| matches!(e.action.as_str(), "restart" | "resume" | "re-add"))
        .map(|e| Recovery {
            node: e.node,
            action: e.action.clone(),
            healed_at_ms: e.at_ms,
            recovered_after_ms: history
                .iter()
                .filter(|op| {
                    op.node == e.node && op.outcome == Outcome::Ok && op.invoke_ms >= e.at_ms
                })
                .map(|op| op.complete_ms - e.at_ms)
                .min(),
        })
        .collect()
}

/// The linearizable-read checker's findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadCheck {
    /// Reads issued after acknowledged writes.
    pub reads: usize,
    /// Reads that saw the acknowledged sample.
    pub seen: usize,
    /// Reads without a usable answer (503, timeout): they prove nothing either way.
    pub unknown: usize,
    /// Reads answered without the acknowledged sample: each one an anomaly.
    pub stale: Vec<ReadOp>,
}

impl ReadCheck {
    /// True when no read was stale.
    pub fn valid(&self) -> bool {
        self.stale.is_empty()
    }
}

/// A read invoked after a write was acknowledged must see it (from any node).
pub fn check_reads(reads: &[ReadOp]) -> ReadCheck {
    let mut out = ReadCheck {
        reads: reads.len(),
        ..ReadCheck::default()
    };
    for r in reads {
        match r.outcome {
            ReadOutcome::Seen => out.seen += 1,
            ReadOutcome::Unknown { .. } => out.unknown += 1,
            ReadOutcome::Stale { .. } => out.stale.push(r.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: u64) -> SampleId {
        SampleId {
            client: 0,
            key: value as u32 % 2,
            t_ms: 1_000 + value as i64,
            value,
        }
    }

    fn op(value: u64, outcome: Outcome) -> Op {
        Op {
            client: 0,
            node: 1,
            invoke_ms: value,
            complete_ms: value + 1,
            samples: vec![sample(value)],
            outcome,
            detail: String::new(),
        }
    }

    fn read(values: &[u64]) -> NodeRead {
        Ok(values.iter().map(|&v| sample(v)).collect())
    }

    #[test]
    fn everything_acknowledged_and_read_passes() {
        let h = vec![op(1, Outcome::Ok), op(2, Outcome::Ok)];
        let r = check_samples(&h, &[read(&[1, 2]), read(&[1, 2])]);
        assert!(r.valid(), "{r:?}");
        assert_eq!((r.ops, r.ok), (2, 2));
    }

    #[test]
    fn a_missing_acknowledged_sample_is_lost() {
        let h = vec![op(1, Outcome::Ok), op(2, Outcome::Ok)];
        let r = check_samples(&h, &[read(&[1, 2]), read(&[1])]);
        assert!(!r.valid());
        assert_eq!(r.lost, vec![sample(2)]);
        assert_eq!(r.divergent_nodes, vec![2]);
    }

    #[test]
    fn a_wrong_value_is_lost_and_phantom() {
        let h = vec![op(1, Outcome::Ok)];
        let mut wrong = sample(1);
        wrong.value = 99;
        let r = check_samples(&h, &[Ok([wrong].into_iter().collect())]);
        assert_eq!(r.lost, vec![sample(1)]);
        assert_eq!(r.phantom, vec![wrong]);
    }

    #[test]
    fn a_never_written_sample_is_phantom() {
        let h = vec![op(1, Outcome::Ok)];
        let r = check_samples(&h, &[read(&[1, 7])]);
        assert_eq!(r.phantom, vec![sample(7)]);
        assert!(!r.valid());
    }

    #[test]
    fn indeterminate_may_go_either_way() {
        let h = vec![
            op(1, Outcome::Ok),
            op(2, Outcome::Indeterminate),
            op(3, Outcome::Indeterminate),
        ];
        let r = check_samples(&h, &[read(&[1, 2]), read(&[1, 2])]);
        assert!(r.valid(), "{r:?}");
        assert_eq!(r.indeterminate, 2);
        assert_eq!((r.indeterminate_present, r.indeterminate_absent), (1, 1));
    }

    #[test]
    fn a_definitely_failed_sample_must_not_appear() {
        let h = vec![op(1, Outcome::Fail)];
        assert!(check_samples(&h, &[read(&[])]).valid());
        let r = check_samples(&h, &[read(&[1])]);
        assert_eq!(r.failed_but_visible, vec![sample(1)]);
        assert!(!r.valid());
    }

    #[test]
    fn an_unreadable_node_fails_the_check() {
        let h = vec![op(1, Outcome::Ok)];
        let r = check_samples(&h, &[read(&[1]), Err("timeout".into())]);
        assert_eq!(r.unreadable_nodes, vec![(2, "timeout".to_string())]);
        assert!(!r.valid());
    }

    #[test]
    fn recovery_is_the_first_ok_through_the_healed_node() {
        let mut late = op(5, Outcome::Ok);
        late.invoke_ms = 120;
        late.complete_ms = 130;
        let mut other_node = op(6, Outcome::Ok);
        other_node.node = 2;
        other_node.invoke_ms = 101;
        other_node.complete_ms = 102;
        let mut failed = op(7, Outcome::Indeterminate);
        failed.invoke_ms = 105;
        failed.complete_ms = 110;
        let h = vec![op(1, Outcome::Ok), other_node, failed, late];
        let ev = |at_ms, action: &str| FaultEvent {
            at_ms,
            node: 1,
            action: action.into(),
        };
        let r = recovery_times(&h, &[ev(50, "kill"), ev(100, "restart"), ev(200, "resume")]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].recovered_after_ms, Some(30));
        assert_eq!(r[1].recovered_after_ms, None);
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;

    fn read(outcome: ReadOutcome) -> ReadOp {
        ReadOp {
            client: 0,
            node: 2,
            invoke_ms: 10,
            complete_ms: 12,
            sample: SampleId {
                client: 0,
                key: 1,
                t_ms: 1_000,
                value: 7,
            },
            outcome,
        }
    }

    #[test]
    fn a_stale_read_is_an_anomaly_and_unknown_reads_are_not() {
        let unknown = read(ReadOutcome::Unknown {
            detail: "503".into(),
        });
        let ok = check_reads(&[read(ReadOutcome::Seen), unknown.clone()]);
        assert!(ok.valid());
        assert_eq!((ok.reads, ok.seen, ok.unknown), (2, 1, 1));
        let stale = read(ReadOutcome::Stale { got: "[]".into() });
        let bad = check_reads(&[read(ReadOutcome::Seen), stale.clone(), unknown]);
        assert!(!bad.valid());
        assert_eq!(bad.stale, vec![stale]);
    }
}
