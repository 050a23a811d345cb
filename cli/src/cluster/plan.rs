//! Placement plans: the cluster as the placement commands see it ([`Layout`]) and the steps
//! (add a voter, move a leadership, remove a voter) that drain a node or bring every shard to
//! the replication factor with replicas evened out over the nodes. Plain functions over a
//! [`Layout`]; `membership.rs` runs the steps.

use std::collections::BTreeMap;

use serde::Serialize;
use tidemark_api::ClusterStatus;

/// One shard group as the status reports it (also a row of `shard list --output json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardView {
    /// The shard (its group is `shard + 1`).
    pub shard: u64,
    /// The shard's leader, if known.
    pub leader: Option<u64>,
    /// The shard's voters.
    pub voters: Vec<u64>,
}

/// The cluster as `/api/v1/status/cluster` reports it: what the placement commands plan with.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Target voters per shard.
    pub rf: usize,
    /// Nodes and their gRPC addresses.
    pub nodes: BTreeMap<u64, String>,
    /// The meta group's leader, if known.
    pub meta_leader: Option<u64>,
    pub shards: Vec<ShardView>,
}

impl From<ClusterStatus> for Layout {
    fn from(status: ClusterStatus) -> Layout {
        Layout {
            rf: (status.replication_factor as usize).max(1),
            nodes: status.nodes,
            meta_leader: status
                .groups
                .iter()
                .find(|g| g.group_id == tidemark_api::META_GROUP_ID)
                .and_then(|g| g.leader),
            shards: status
                .groups
                .into_iter()
                .filter_map(|g| {
                    Some(ShardView {
                        shard: u64::from(g.shard?),
                        leader: g.leader,
                        voters: g.voters,
                    })
                })
                .collect(),
        }
    }
}

impl Layout {
    /// Replicas per node (every node of the map, holding some or none).
    pub fn replicas_per_node(&self) -> BTreeMap<u64, usize> {
        let mut count: BTreeMap<u64, usize> = self.nodes.keys().map(|&n| (n, 0)).collect();
        for s in &self.shards {
            for v in &s.voters {
                *count.entry(*v).or_default() += 1;
            }
        }
        count
    }
}

/// One step of a placement plan.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Adds a voter to a shard (learner first, promoted once caught up).
    Add { shard: u64, node: u64 },
    /// Moves a shard's leadership.
    Lead { shard: u64, node: u64 },
    /// Removes a voter from a shard.
    Remove { shard: u64, node: u64 },
}

/// Moving shard `shard`'s replica from `from` to `to`: add, hand over the leadership if `from`
/// has it, remove.
pub fn move_steps(view: &ShardView, from: u64, to: u64) -> Vec<Step> {
    let shard = view.shard;
    let mut steps = vec![Step::Add { shard, node: to }];
    if view.leader == Some(from) {
        steps.push(Step::Lead { shard, node: to });
    }
    steps.push(Step::Remove { shard, node: from });
    steps
}

/// Applies `steps` to `layout` as the cluster would (for planning further steps).
fn apply(layout: &mut Layout, steps: &[Step]) {
    for step in steps {
        let (shard, node) = match step {
            Step::Add { shard, node }
            | Step::Lead { shard, node }
            | Step::Remove { shard, node } => (*shard, *node),
        };
        let Some(v) = layout.shards.iter_mut().find(|v| v.shard == shard) else {
            continue;
        };
        match step {
            Step::Add { .. } => {
                if !v.voters.contains(&node) {
                    v.voters.push(node);
                    v.voters.sort_unstable();
                }
            }
            Step::Lead { .. } => v.leader = Some(node),
            Step::Remove { .. } => {
                v.voters.retain(|&x| x != node);
                if v.leader == Some(node) {
                    v.leader = v.voters.first().copied();
                }
            }
        }
    }
}

/// The node outside `exclude` that holds the fewest replicas and none of `view`'s shard.
fn emptiest(layout: &Layout, view: &ShardView, exclude: &[u64]) -> Option<u64> {
    let count = layout.replicas_per_node();
    count
        .iter()
        .filter(|(n, _)| !view.voters.contains(n) && !exclude.contains(n))
        .min_by_key(|(n, c)| (**c, **n))
        .map(|(n, _)| *n)
}

/// Steps that move every replica off node `id`.
pub fn plan_drain(layout: &Layout, id: u64) -> Vec<Step> {
    let mut layout = layout.clone();
    let mut steps = Vec::new();
    let held: Vec<ShardView> = layout
        .shards
        .iter()
        .filter(|v| v.voters.contains(&id))
        .cloned()
        .collect();
    for view in held {
        let view = layout
            .shards
            .iter()
            .find(|v| v.shard == view.shard)
            .cloned()
            .unwrap_or(view);
        let Some(to) = emptiest(&layout, &view, &[id]) else {
            // Nowhere to move the replica: at least hand the leadership to another voter, so
            // the shard stays led when the node is removed.
            if view.leader == Some(id)
                && let Some(&other) = view.voters.iter().find(|&&v| v != id)
            {
                let s = vec![Step::Lead {
                    shard: view.shard,
                    node: other,
                }];
                apply(&mut layout, &s);
                steps.extend(s);
            }
            continue;
        };
        let s = move_steps(&view, id, to);
        apply(&mut layout, &s);
        steps.extend(s);
    }
    steps
}

/// Steps that bring every shard to the replication factor (capped at the node count) and
/// even out replicas per node (counts differ by at most one). Leaders are evened afterwards,
/// from the status as the moves leave it.
pub fn plan_replicas(layout: &Layout) -> Vec<Step> {
    let mut layout = layout.clone();
    let rf = layout.rf.min(layout.nodes.len()).max(1);
    let mut steps = Vec::new();
    // Shards below the factor gain replicas on the emptiest nodes; shards above it lose them
    // on the fullest nodes (not on their leader).
    for i in 0..layout.shards.len() {
        while layout.shards[i].voters.len() < rf {
            let view = layout.shards[i].clone();
            let Some(node) = emptiest(&layout, &view, &[]) else {
                break;
            };
            let s = vec![Step::Add {
                shard: view.shard,
                node,
            }];
            apply(&mut layout, &s);
            steps.extend(s);
        }
        while layout.shards[i].voters.len() > rf {
            let view = layout.shards[i].clone();
            let count = layout.replicas_per_node();
            let Some(&node) = view
                .voters
                .iter()
                .filter(|&&n| Some(n) != view.leader)
                .max_by_key(|&&n| (count.get(&n).copied().unwrap_or(0), n))
            else {
                break;
            };
            let s = vec![Step::Remove {
                shard: view.shard,
                node,
            }];
            apply(&mut layout, &s);
            steps.extend(s);
        }
    }
    // Even out: move a replica from the fullest node to the emptiest while they differ by
    // more than one and some shard can move.
    for _ in 0..layout.shards.len() * layout.nodes.len().max(1) {
        let count = layout.replicas_per_node();
        let Some((&full, &most)) = count
            .iter()
            .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
        else {
            break;
        };
        let Some((&empty, &fewest)) = count.iter().min_by_key(|(n, c)| (**c, **n)) else {
            break;
        };
        if most <= fewest + 1 {
            break;
        }
        let Some(view) = layout
            .shards
            .iter()
            .find(|v| v.voters.contains(&full) && !v.voters.contains(&empty))
            .cloned()
        else {
            break;
        };
        let s = move_steps(&view, full, empty);
        apply(&mut layout, &s);
        steps.extend(s);
    }
    steps
}

/// A shard leadership to hand over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LeaderMove {
    /// The shard whose leadership moves.
    pub shard: u64,
    /// The node leading the shard.
    pub from: u64,
    /// The voter to lead it.
    pub to: u64,
}

/// How many shards a node leads (a row of `rebalance --output json`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NodeLeaders {
    pub node: u64,
    /// Shards the node leads.
    pub leaders: usize,
}

/// Leadership moves from the node leading the most shards to the node leading the fewest
/// (among each shard's voters) until the counts differ by at most one; and how many shards
/// each voter leads once they are done.
pub fn plan_leaders(shards: &[ShardView]) -> (Vec<LeaderMove>, Vec<NodeLeaders>) {
    let mut shards = shards.to_vec();
    let mut nodes: Vec<u64> = shards
        .iter()
        .flat_map(|s| s.voters.iter().copied())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let led = |shards: &[ShardView], n: u64| shards.iter().filter(|s| s.leader == Some(n)).count();
    let mut moves = Vec::new();
    for _ in 0..shards.len() * nodes.len().max(1) {
        let Some(&most) = nodes.iter().max_by_key(|&&n| (led(&shards, n), n)) else {
            break;
        };
        let Some(&fewest) = nodes.iter().min_by_key(|&&n| (led(&shards, n), n)) else {
            break;
        };
        if led(&shards, most) <= led(&shards, fewest) + 1 {
            break;
        }
        let Some(shard) = shards
            .iter_mut()
            .find(|s| s.leader == Some(most) && s.voters.contains(&fewest))
        else {
            break;
        };
        shard.leader = Some(fewest);
        moves.push(LeaderMove {
            shard: shard.shard,
            from: most,
            to: fewest,
        });
    }
    let per_node = nodes
        .iter()
        .map(|&node| NodeLeaders {
            node,
            leaders: led(&shards, node),
        })
        .collect();
    (moves, per_node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(rf: usize, nodes: &[u64], shards: &[(Option<u64>, &[u64])]) -> Layout {
        Layout {
            rf,
            nodes: nodes.iter().map(|&n| (n, format!("h:{n}"))).collect(),
            meta_leader: nodes.first().copied(),
            shards: shards
                .iter()
                .enumerate()
                .map(|(i, (leader, voters))| ShardView {
                    shard: i as u64,
                    leader: *leader,
                    voters: voters.to_vec(),
                })
                .collect(),
        }
    }

    fn after(l: &Layout, steps: &[Step]) -> Layout {
        let mut l = l.clone();
        apply(&mut l, steps);
        l
    }

    #[test]
    fn a_fourth_node_gets_its_share_of_replicas() {
        let l = layout(
            3,
            &[1, 2, 3, 4],
            &[
                (Some(1), &[1, 2, 3]),
                (Some(2), &[1, 2, 3]),
                (Some(3), &[1, 2, 3]),
                (Some(1), &[1, 2, 3]),
            ],
        );
        let steps = plan_replicas(&l);
        let end = after(&l, &steps);
        let count = end.replicas_per_node();
        assert_eq!(count.values().sum::<usize>(), 12, "{steps:?}");
        assert!(count.values().all(|&c| c == 3), "{count:?}");
        assert!(end.shards.iter().all(|s| s.voters.len() == 3));
        // Every move adds before it removes, and hands over the leadership first.
        for w in steps.windows(2) {
            if let Step::Remove { shard, node } = &w[1] {
                assert!(
                    matches!(&w[0], Step::Add { shard: s, .. } | Step::Lead { shard: s, .. } if s == shard)
                );
                assert!(!matches!(&w[0], Step::Add { node: n, .. } if n == node));
            }
        }
        assert!(plan_replicas(&end).is_empty());
    }

    #[test]
    fn raising_the_factor_adds_replicas_and_lowering_it_removes_them() {
        let l = layout(3, &[1, 2, 3], &[(Some(1), &[1]), (Some(1), &[1])]);
        let end = after(&l, &plan_replicas(&l));
        assert!(end.shards.iter().all(|s| s.voters == vec![1, 2, 3]));
        let mut down = end.clone();
        down.rf = 2;
        let steps = plan_replicas(&down);
        let end = after(&down, &steps);
        assert!(
            end.shards
                .iter()
                .all(|s| s.voters.len() == 2 && s.voters.contains(&1))
        );
        assert!(
            steps
                .iter()
                .all(|s| matches!(s, Step::Remove { node, .. } if *node != 1))
        );
    }

    #[test]
    fn more_replicas_than_nodes_is_capped() {
        let l = layout(5, &[1, 2], &[(Some(1), &[1])]);
        let end = after(&l, &plan_replicas(&l));
        assert_eq!(end.shards[0].voters, vec![1, 2]);
    }

    #[test]
    fn leaderships_spread_over_the_voters() {
        let l = layout(
            2,
            &[1, 2, 3],
            &[
                (Some(1), &[1, 2]),
                (Some(1), &[1, 2]),
                (Some(1), &[1, 3]),
                (Some(1), &[1, 3]),
                (None, &[2, 3]),
            ],
        );
        let (moves, per_node) = plan_leaders(&l.shards);
        assert!(moves.iter().all(|m| m.from == 1), "{moves:?}");
        let leaders: Vec<usize> = per_node.iter().map(|p| p.leaders).collect();
        assert_eq!(leaders, vec![2, 1, 1], "{moves:?}");
        let (again, _) = plan_leaders(&after(&l, &lead_steps(&moves)).shards);
        assert!(again.is_empty(), "{again:?}");
    }

    fn lead_steps(moves: &[LeaderMove]) -> Vec<Step> {
        moves
            .iter()
            .map(|m| Step::Lead {
                shard: m.shard,
                node: m.to,
            })
            .collect()
    }

    #[test]
    fn drain_moves_every_replica_off_the_node() {
        let l = layout(
            2,
            &[1, 2, 3],
            &[(Some(2), &[1, 2]), (Some(3), &[2, 3]), (Some(1), &[1, 3])],
        );
        let steps = plan_drain(&l, 2);
        let end = after(&l, &steps);
        assert!(
            end.shards.iter().all(|s| !s.voters.contains(&2)),
            "{steps:?}"
        );
        assert!(end.shards.iter().all(|s| s.voters.len() == 2));
        assert!(steps.contains(&Step::Lead { shard: 0, node: 3 }));
        // With nowhere to go, a replica stays (the removal that follows drops it), but the
        // leadership moves.
        let tight = layout(2, &[1, 2], &[(Some(1), &[1, 2]), (Some(2), &[1, 2])]);
        assert_eq!(
            plan_drain(&tight, 2),
            vec![Step::Lead { shard: 1, node: 1 }]
        );
    }
}
