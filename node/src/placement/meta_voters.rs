//! Keeping the meta group's voters alive: nodes that die without being removed must not wear
//! its quorum down.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;

use super::Placement;
use crate::error::NodeError;
use crate::groups::membership_error;
use crate::raft::{META_GROUP, NodeId};

/// Entries a meta learner may lag behind the leader's log and still take a voter's seat.
const META_LEARNER_LAG_MAX: u64 = 64;

/// The term this node has led the meta group in, and since when: a voter that has not
/// answered since is counted silent from then.
pub(super) type Leading = Option<(u64, Instant)>;

impl Placement {
    /// One round of keeping the meta voters: if this node leads the meta group, a voter
    /// silent for `meta_dead_voter_ms` is replaced by a learner heard from within an election
    /// timeout and at most [`META_LEARNER_LAG_MAX`] entries behind (one joint membership
    /// change; the silent voter stays a learner and follows again when it is back), and while
    /// there are fewer voters than `meta_voters_max` such a learner is promoted. Without a
    /// quorum the change cannot commit, and nothing changes.
    pub(super) async fn keep_meta_voters_once(
        &self,
        leading: &mut Leading,
    ) -> Result<(), NodeError> {
        let meta = self.host.meta();
        let me = self.host.node_id();
        let config = self.host.config();
        let m = meta.raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(me) {
            *leading = None;
            return Ok(());
        }
        let since = match *leading {
            Some((term, at)) if term == m.current_term => at,
            _ => {
                *leading = Some((m.current_term, Instant::now()));
                return Ok(());
            }
        };
        let (Some(heartbeat), Some(replication)) = (&m.heartbeat, &m.replication) else {
            return Ok(());
        };
        let silent = |n: NodeId| -> Duration {
            match heartbeat.get(&n) {
                Some(Some(at)) => openraft::Instant::elapsed(&**at),
                _ => since.elapsed(),
            }
        };
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let fresh = Duration::from_millis(config.raft.election_timeout_ms);
        let ready = |l: &NodeId| {
            let matched = replication
                .get(l)
                .and_then(|x| x.as_ref())
                .map_or(0, |id| id.index());
            silent(*l) < fresh && matched + META_LEARNER_LAG_MAX >= last
        };
        let Some(learner) = membership.learner_ids().find(ready) else {
            return Ok(());
        };
        let dead_after = Duration::from_millis(config.meta_dead_voter_ms);
        let dead = voters
            .iter()
            .copied()
            .find(|&v| v != me && silent(v) > dead_after);
        let mut next = voters.clone();
        match dead {
            Some(dead) => {
                next.remove(&dead);
            }
            None if voters.len() < config.meta_voters_max as usize => {}
            None => return Ok(()),
        }
        next.insert(learner);
        meta.raft
            .change_membership(openraft::ChangeMembers::ReplaceAllVoters(next), true)
            .await
            .map_err(|e| membership_error(META_GROUP, e))?;
        match dead {
            Some(dead) => tracing::warn!(
                dead,
                learner,
                silent_ms = silent(dead).as_millis() as u64,
                "a meta voter was silent too long: a learner took its seat"
            ),
            None => tracing::info!(learner, "promoted a meta learner to fill the voters"),
        }
        Ok(())
    }
}
