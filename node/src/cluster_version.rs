//! The cluster version gate: a log command added after the first release is proposed only when
//! every node that will apply it says it can (`CommandLevel` RPC), so that during a rolling
//! upgrade no node of the older version is sent an entry it would fail on. A node that predates
//! the RPC answers UNIMPLEMENTED, which counts as level 1.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tidemark_storage::COMMAND_LEVEL;

use crate::error::NodeError;
use crate::peer::{Call, Peer, Peers};
use crate::raft::NodeId;

/// How long a node's answer is trusted (a node may be rolled back meanwhile).
const LEVEL_TTL: Duration = Duration::from_secs(60);
/// How long asking one node may take, in milliseconds.
const LEVEL_TIMEOUT_MS: u64 = 2_000;
/// How long a node that could not be asked is not asked again by
/// [`ClusterVersion::require_reachable`].
const UNREACHABLE_TTL: Duration = Duration::from_secs(10);

/// Asks nodes for their command level and remembers the answers for a while.
pub struct ClusterVersion {
    me: NodeId,
    peers: Peers,
    known: Mutex<HashMap<NodeId, (u32, Instant)>>,
    /// When each node last could not be asked.
    unreachable: Mutex<HashMap<NodeId, Instant>>,
}

impl ClusterVersion {
    /// A gate for node `me`, asking others over `peers`.
    pub fn new(me: NodeId, peers: Peers) -> Self {
        ClusterVersion {
            me,
            peers,
            known: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when every node of `nodes` (id, gRPC address) applies commands of `level`;
    /// otherwise an error naming the first that does not (or could not be asked), for `what`.
    pub async fn require(
        &self,
        nodes: &[(NodeId, String)],
        level: u32,
        what: &str,
    ) -> Result<(), NodeError> {
        self.check(nodes, level, what, false).await
    }

    /// `Ok` unless a node of `nodes` that answers applies commands below `level`. A node that
    /// cannot be asked does not hold the others back: it applies nothing while it is down, and
    /// it is asked again once `UNREACHABLE_TTL` has passed (it comes back upgraded in a rolling
    /// upgrade; one rolled back to an earlier build stops on the first entry it cannot
    /// apply). For what must not stop while a node is down (writes).
    pub async fn require_reachable(
        &self,
        nodes: &[(NodeId, String)],
        level: u32,
        what: &str,
    ) -> Result<(), NodeError> {
        self.check(nodes, level, what, true).await
    }

    /// [`ClusterVersion::require`], or with `reachable_only`
    /// [`ClusterVersion::require_reachable`].
    async fn check(
        &self,
        nodes: &[(NodeId, String)],
        level: u32,
        what: &str,
        reachable_only: bool,
    ) -> Result<(), NodeError> {
        let ask: Vec<&(NodeId, String)> = nodes
            .iter()
            .filter(|(id, _)| {
                let down = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
                !reachable_only
                    || down
                        .get(id)
                        .is_none_or(|at| at.elapsed() >= UNREACHABLE_TTL)
            })
            .collect();
        let answers = join_all(ask.iter().map(|(id, addr)| self.level_of(*id, addr))).await;
        for ((id, addr), answer) in ask.into_iter().zip(answers) {
            match answer {
                Ok(l) if l >= level => {}
                Ok(l) => {
                    return Err(NodeError::Unavailable(format!(
                        "{what} needs every node at command level {level}; node {id} ({addr}) \
                         is at {l}: upgrade it first"
                    )));
                }
                Err(e) if reachable_only => {
                    tracing::debug!(node = id, error = %e, "{what}: node not asked again for a while");
                    self.unreachable
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(*id, Instant::now());
                }
                Err(e) => {
                    return Err(NodeError::Unavailable(format!(
                        "{what} needs every node at command level {level}; node {id} ({addr}) \
                         could not be asked: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The command level node `node` (at gRPC address `addr`) applies, asked at most once a
    /// minute.
    pub async fn level_of(&self, node: NodeId, addr: &str) -> Result<u32, NodeError> {
        if node == self.me {
            return Ok(COMMAND_LEVEL);
        }
        if let Some((l, at)) = self.lock().get(&node).copied()
            && at.elapsed() < LEVEL_TTL
        {
            return Ok(l);
        }
        let peer = Peer {
            node,
            addr: addr.to_string(),
        };
        let level = match self
            .peers
            .call(&peer, Call::CommandLevel, LEVEL_TIMEOUT_MS)
            .await
        {
            Ok(a) => a.level()?,
            Err(NodeError::NotImplemented(_)) => 1,
            Err(e) => return Err(e),
        };
        self.lock().insert(node, (level, Instant::now()));
        Ok(level)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, (u32, Instant)>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}
