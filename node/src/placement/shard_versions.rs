//! Shard-map versions: `tidemarkctl shards set S` adds a version of `S` shards from a
//! partition boundary ahead on, and every node adopts each version as its meta replica
//! applies it (starting the groups of new shards, and initialising the group of each new
//! shard it is a first voter of).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidemark_storage::ShardId;

use super::Placement;
use crate::error::NodeError;
use tidemark_api::ShardVersionOutcome;

use crate::meta::{ClusterMap, MetaCommand, ShardMap};
use crate::raft::{NodeId, NodeInfo};

pub use crate::meta::SHARD_COUNT_MAX;

impl Placement {
    /// Starts the shard groups the shard map has and this node does not have yet, and
    /// initialises the group of each shard a version created with this node among its first
    /// voters, while the map still records exactly those voters (a group whose membership has
    /// moved on is running without this node, whose leader adds it if it should).
    pub async fn adopt_shard_map(&self) -> Result<(), NodeError> {
        let (groups, created, nodes, replicas) = self.host.meta().sm.with_cluster_map(|m| {
            (
                m.shard_map.groups(),
                m.created.clone(),
                m.nodes.clone(),
                m.replicas.clone(),
            )
        });
        if groups > self.host.shard_count() {
            let _guard = self.host.grow_lock.lock().await;
            self.host.grow_to(groups).await?;
        }
        let me = self.host.node_id();
        for (shard, voters) in created {
            if !voters.contains(&me) || replicas.get(&shard) != Some(&voters) {
                continue;
            }
            let g = self.host.slot(shard)?.group;
            let initialized = g
                .raft
                .is_initialized()
                .await
                .map_err(|e| NodeError::raft(g.id)(e.to_string()))?;
            if initialized {
                continue;
            }
            let Some(members) = voters
                .iter()
                .map(|id| {
                    nodes
                        .get(id)
                        .map(|addr| (*id, NodeInfo { addr: addr.clone() }))
                })
                .collect::<Option<BTreeMap<NodeId, NodeInfo>>>()
            else {
                tracing::warn!(
                    shard,
                    ?voters,
                    "a first voter of a new shard is not in the cluster map"
                );
                continue;
            };
            // A leader elected meanwhile may have reached this replica first: then there is
            // nothing to initialise, and openraft says so.
            match g.raft.initialize(members).await {
                Ok(()) => tracing::info!(shard, ?voters, "initialised the group of a new shard"),
                Err(e) => tracing::debug!(shard, error = %e, "new shard's group not initialised"),
            }
        }
        Ok(())
    }

    /// Starts the groups of shards in `map` this node has not started yet (the background
    /// adoption may not have run yet), so that routing and reads cover every shard.
    pub async fn start_groups_of(&self, map: &ShardMap) -> Result<(), NodeError> {
        if map.groups() > self.host.shard_count() {
            self.adopt_shard_map().await?;
        }
        Ok(())
    }

    /// Adds a shard-map version of `count` shards (`tidemarkctl shards set`), starting at the
    /// first multiple of `shard_version_align_ms` at least `shard_version_lead_ms` (plus
    /// `write_timeout_ms`) from now, and after the last version's start. Data already written
    /// stays where it is. Shards the version adds get `replication_factor` voters on the
    /// nodes holding the fewest replicas. `Unchanged` when the newest version already has
    /// `count` shards.
    pub async fn set_shard_count(&self, count: u32) -> Result<ShardVersionOutcome, NodeError> {
        if count == 0 || count > SHARD_COUNT_MAX {
            return Err(NodeError::BadRequest(format!(
                "the shard count must be between 1 and {SHARD_COUNT_MAX}, got {count}"
            )));
        }
        let map = self.host.cluster_map();
        if map.cluster_id.is_none() {
            return Err(NodeError::Unavailable(
                "the cluster is not initialised yet; retry".into(),
            ));
        }
        let shard_map = self.host.shard_map();
        let last = *shard_map
            .versions()
            .last()
            .ok_or_else(|| NodeError::Internal("the shard map has no version".into()))?;
        if last.shard_count == count {
            return Ok(ShardVersionOutcome {
                changed: false,
                version: last,
                placement: BTreeMap::new(),
            });
        }
        let c = self.host.config();
        let start_ms = version_start(
            self.router.clock().now_ms(),
            c.shard_version_lead_ms,
            c.write_timeout_ms,
            c.shard_version_align_ms,
            last.start_ms,
        );
        let placement = place_new_shards(&map, shard_map.groups(), count);
        self.propose_meta(MetaCommand::AddShardVersion {
            start_ms,
            shard_count: count,
            placement: placement.clone(),
        })
        .await?;
        // The meta leader applied it; wait until this node's replica has too.
        let deadline = Instant::now() + Duration::from_millis(c.write_timeout_ms);
        loop {
            let now = self.host.shard_map();
            if let Some(v) = now.versions().iter().find(|v| v.start_ms == start_ms) {
                if v.shard_count != count {
                    return Err(NodeError::Unavailable(format!(
                        "another shard-map change ({} shards from {start_ms}) won; retry",
                        v.shard_count
                    )));
                }
                self.adopt_shard_map().await?;
                return Ok(ShardVersionOutcome {
                    changed: true,
                    version: *v,
                    placement,
                });
            }
            if now.versions().last().is_some_and(|v| v.start_ms > start_ms) {
                return Err(NodeError::Unavailable(
                    "another shard-map change was committed first; retry".into(),
                ));
            }
            if Instant::now() > deadline {
                return Err(NodeError::Timeout(
                    "the new shard-map version was committed but this node has not applied it yet"
                        .into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Where a new shard-map version proposed at `now_ms` starts: the first multiple of
/// `align_ms` at least `lead_ms` plus the time the proposal may take to commit
/// (`write_timeout_ms`) ahead (whoever confirmed its map before the commit routes samples up
/// to its confirmation plus the lead), and after the last version's start.
fn version_start(
    now_ms: i64,
    lead_ms: i64,
    write_timeout_ms: u64,
    align_ms: i64,
    last_start_ms: i64,
) -> i64 {
    let width = align_ms.max(1);
    let earliest = now_ms
        .saturating_add(lead_ms.max(0))
        .saturating_add(write_timeout_ms as i64)
        .max(last_start_ms.saturating_add(1));
    earliest
        .div_euclid(width)
        .saturating_add(i64::from(earliest.rem_euclid(width) != 0))
        .saturating_mul(width)
}

/// The voters of shards `from..to` (none when `to <= from`): `replication_factor` each, on the
/// nodes holding the fewest replicas so far (ties to the lowest id).
fn place_new_shards(map: &ClusterMap, from: u32, to: u32) -> BTreeMap<ShardId, Vec<NodeId>> {
    let mut load: BTreeMap<NodeId, usize> = map.nodes.keys().map(|&n| (n, 0)).collect();
    for shard in 0..from {
        for n in map.replicas_of(shard) {
            if let Some(l) = load.get_mut(&n) {
                *l += 1;
            }
        }
    }
    let rf = (map.replication_factor.max(1) as usize).min(load.len());
    (from..to)
        .map(|shard| {
            let mut by_load: Vec<(usize, NodeId)> = load.iter().map(|(&n, &l)| (l, n)).collect();
            by_load.sort_unstable();
            let mut nodes: Vec<NodeId> = by_load.iter().take(rf).map(|&(_, n)| n).collect();
            nodes.sort_unstable();
            for n in &nodes {
                *load.entry(*n).or_default() += 1;
            }
            (shard, nodes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_starts_on_the_first_boundary_past_the_lead() {
        let hour = 3_600_000;
        // Proposed at 00:30 with a 2 h lead and a 10 s commit bound: 02:30:10, so 03:00.
        assert_eq!(version_start(hour / 2, 2 * hour, 10_000, hour, 0), 3 * hour);
        // Exactly on a boundary stays there.
        assert_eq!(version_start(0, 2 * hour, 0, hour, 0), 2 * hour);
        // Never at or before the last version's start.
        assert_eq!(version_start(0, 0, 0, hour, 5 * hour), 6 * hour);
    }

    #[test]
    fn new_shards_go_to_the_least_loaded_nodes() {
        let mut map = ClusterMap {
            replication_factor: 2,
            ..ClusterMap::default()
        };
        for n in 1..=3 {
            map.nodes.insert(n, format!("n{n}:1"));
        }
        map.replicas.insert(0, vec![1, 2]);
        let placed = place_new_shards(&map, 1, 3);
        assert_eq!(placed[&1], vec![1, 3]);
        assert_eq!(placed[&2], vec![2, 3]);
        assert!(place_new_shards(&map, 3, 3).is_empty());
    }
}
