//! The `consistency` check, run after healing: the replicas of every shard, once they have
//! applied the same index, must hold identical data. Each node reports, per shard, its applied
//! index and a digest of the shard's logical content (`GET /api/v1/admin/shards/digest`); a
//! non-deterministic apply shows up here even when every read looks right.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tidemark_api::{LocalShard, ShardDigest};

use crate::api;

/// How long the check waits for every replica of a shard to reach the same applied index.
pub const CONVERGE_MS: u64 = 30_000;

/// What the check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsistencyResult {
    /// Shards whose replicas were compared at one applied index.
    pub compared_shards: usize,
    /// Shards whose replicas hold different data at the same applied index, with the digests
    /// by node.
    pub divergent_shards: Vec<(u32, String)>,
    /// Shards whose replicas never reached the same applied index (or could not be asked),
    /// with what was seen last.
    pub unconverged_shards: Vec<(u32, String)>,
    /// (node, shard) pairs whose data a node still stored, without holding the shard, when the
    /// check gave up waiting: a removed replica the node should have emptied.
    pub leftover_replicas: Vec<(u32, u32)>,
}

impl ConsistencyResult {
    /// True when every shard was compared and agreed.
    pub fn valid(&self) -> bool {
        self.divergent_shards.is_empty()
            && self.unconverged_shards.is_empty()
            && self.leftover_replicas.is_empty()
    }
}

/// (applied index, digest) of one shard on one node.
type Replica = (u64, String);

/// What each node answered for one shard: (node, its replica or why it could not be asked).
type Answers = Vec<(u32, Result<Replica, String>)>;

/// Which nodes hold each shard (`placement` of `GET /api/v1/status/cluster`), as the first
/// node of `nodes` that answers reports it.
async fn placement(http: &reqwest::Client, nodes: &[(u32, String)]) -> BTreeMap<u32, Vec<u32>> {
    for (_, url) in nodes {
        let Ok(status) = api::cluster_status(http, url, Duration::from_secs(10)).await else {
            continue;
        };
        return status
            .placement
            .into_iter()
            .map(|(shard, nodes)| (shard, nodes.into_iter().map(|n| n as u32).collect()))
            .collect();
    }
    BTreeMap::new()
}

/// Every shard the node at `url` holds a replica of: its applied index and digest.
async fn digests(http: &reqwest::Client, url: &str) -> Result<BTreeMap<u32, Replica>, String> {
    let url = format!("{url}/api/v1/admin/shards/digest");
    let shards: Vec<ShardDigest> = api::get(http, &url, Duration::from_secs(60)).await?;
    Ok(shards
        .into_iter()
        .map(|s| (s.shard, (s.applied_index, s.digest)))
        .collect())
}

/// The shards node `url` stores series of without holding them (`GET
/// /api/v1/admin/shards/local`).
async fn unheld_with_data(http: &reqwest::Client, url: &str) -> Result<Vec<u32>, String> {
    let url = format!("{url}/api/v1/admin/shards/local");
    let shards: Vec<LocalShard> = api::get(http, &url, Duration::from_secs(10)).await?;
    Ok(shards
        .into_iter()
        .filter(|s| !s.held && s.series > 0)
        .map(|s| s.shard)
        .collect())
}

/// Waits (up to [`CONVERGE_MS`]) until no node of `nodes` stores data of a shard it does not
/// hold, and returns the (node, shard) pairs still left then. Each node empties a replica its
/// group removed it from within seconds (`Placement::retire_replica`); a node that cannot be
/// asked counts as leaving nothing.
pub async fn check_leftovers(http: &reqwest::Client, nodes: &[(u32, String)]) -> Vec<(u32, u32)> {
    let deadline = Instant::now() + Duration::from_millis(CONVERGE_MS);
    loop {
        let mut left = Vec::new();
        for (node, url) in nodes {
            match unheld_with_data(http, url).await {
                Ok(shards) => left.extend(shards.into_iter().map(|s| (*node, s))),
                Err(e) => eprintln!("node {node}: cannot list its shards: {e}"),
            }
        }
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
}

/// The verdict on one shard's replicas.
#[derive(Debug, PartialEq)]
enum Judgement {
    /// Every node answered at one applied index with one digest.
    Agree,
    /// Every node answered at one applied index, with different digests.
    Diverge(String),
    /// A node did not answer, or the applied indexes differ: ask again.
    NotYet(String),
}

/// Judges one shard from what each node (`(node, answer)`) reported; `nodes` answers needed.
fn judge(replicas: &[(u32, Result<Replica, String>)], nodes: usize) -> Judgement {
    let ok: Vec<(u32, &Replica)> = replicas
        .iter()
        .filter_map(|(n, r)| r.as_ref().ok().map(|r| (*n, r)))
        .collect();
    if ok.len() < nodes || ok.iter().any(|(_, r)| r.0 != ok[0].1.0) {
        return Judgement::NotYet(format!("{replicas:?}"));
    }
    if ok.iter().any(|(_, r)| r.1 != ok[0].1.1) {
        return Judgement::Diverge(format!("{ok:?}"));
    }
    Judgement::Agree
}

/// Compares every shard's replicas on the nodes at `urls` (node `i + 1` at `urls[i]`).
pub async fn check_replicas(http: &reqwest::Client, urls: &[String]) -> ConsistencyResult {
    let numbered: Vec<(u32, String)> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| (i as u32 + 1, u.clone()))
        .collect();
    check_replicas_of(http, &numbered).await
}

/// [`check_replicas`] over the nodes named by id.
pub async fn check_replicas_of(
    http: &reqwest::Client,
    nodes: &[(u32, String)],
) -> ConsistencyResult {
    let deadline = Instant::now() + Duration::from_millis(CONVERGE_MS);
    let mut result = ConsistencyResult::default();
    let mut pending: Option<Vec<u32>> = None;
    loop {
        // Each shard is compared over the nodes checked here that hold it; without a recorded
        // placement, over every node.
        let placement = placement(http, nodes).await;
        let holders = |shard: u32| -> usize {
            match placement.get(&shard) {
                Some(p) => nodes.iter().filter(|(n, _)| p.contains(n)).count(),
                None => nodes.len(),
            }
        };
        let holds = |node: u32, shard: u32| placement.get(&shard).is_none_or(|p| p.contains(&node));
        let mut seen: BTreeMap<u32, Answers> = BTreeMap::new();
        for (node, url) in nodes {
            let node = *node;
            match digests(http, url).await {
                Ok(map) => {
                    for (shard, r) in map.into_iter().filter(|(s, _)| holds(node, *s)) {
                        seen.entry(shard).or_default().push((node, Ok(r)));
                    }
                }
                Err(e) => {
                    for shard in pending.iter().flatten().filter(|s| holds(node, **s)) {
                        seen.entry(*shard).or_default().push((node, Err(e.clone())));
                    }
                }
            }
        }
        let todo: Vec<u32> = pending
            .clone()
            .unwrap_or_else(|| seen.keys().copied().collect());
        let mut still = Vec::new();
        for shard in todo {
            let replicas = seen.remove(&shard).unwrap_or_default();
            match judge(&replicas, holders(shard)) {
                Judgement::Agree => result.compared_shards += 1,
                Judgement::Diverge(what) => {
                    result.compared_shards += 1;
                    result.divergent_shards.push((shard, what));
                }
                Judgement::NotYet(what) if Instant::now() >= deadline => {
                    result.unconverged_shards.push((shard, what))
                }
                Judgement::NotYet(_) => still.push(shard),
            }
        }
        if still.is_empty() {
            return result;
        }
        pending = Some(still);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(applied: u64, digest: &str) -> Result<Replica, String> {
        Ok((applied, digest.to_string()))
    }

    #[test]
    fn replicas_are_judged_only_at_one_applied_index() {
        let agree = [(1, r(9, "a")), (2, r(9, "a")), (3, r(9, "a"))];
        assert_eq!(judge(&agree, 3), Judgement::Agree);
        let diverge = [(1, r(9, "a")), (2, r(9, "b")), (3, r(9, "a"))];
        assert!(matches!(judge(&diverge, 3), Judgement::Diverge(_)));
        // A follower still behind: different digests are expected, ask again.
        let behind = [(1, r(9, "a")), (2, r(8, "b")), (3, r(9, "a"))];
        assert!(matches!(judge(&behind, 3), Judgement::NotYet(_)));
        let missing = [(1, r(9, "a")), (2, Err("refused".into())), (3, r(9, "a"))];
        assert!(matches!(judge(&missing, 3), Judgement::NotYet(_)));
        assert!(matches!(judge(&agree[..2], 3), Judgement::NotYet(_)));
    }
}
