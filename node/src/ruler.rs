//! The ruler: rule groups stored in the ruler group (a Raft group of its own, members kept like
//! the meta group's), evaluated by that group's leader only: leadership is the election.
//!
//! - `record.rs`: the replicated state (rule groups, committed alert state) and its commands.
//! - `membership.rs`: creating the ruler group once, and keeping its members the meta group's.
//! - `leader.rs`: what the leader runs: one task per rule group that evaluates its iterations
//!   (`tidemark_alerting::eval`), writes their samples, commits them, and only then sends.
//! - `query.rs`: how rules read (the cluster's query path; earlier rules' outputs visible).
//! - `notify.rs`: the Alertmanager v2 sender.
//! - `files.rs`: rule files named in the configuration, imported into namespaces they own.
//!
//! The pure logic (rule format, schedule, state machine, templates) is in `tidemark-alerting`.

mod files;
mod leader;
mod membership;
pub mod notify;
mod query;
pub mod record;

use std::sync::{Arc, OnceLock, Weak};

use crate::clock::Clock;
use crate::error::NodeError;
use crate::groups::GroupHost;
use crate::node::Node;
use crate::peer::Call;
use crate::router::Router;

pub use files::FileImport;
pub use leader::RulerCounters;
use notify::Notifier;
use record::{RulerCommand, RulerState};

/// The ruler of this node: idle unless this node leads the ruler group.
pub struct Ruler {
    host: Arc<GroupHost>,
    router: Arc<Router>,
    clock: Arc<dyn Clock>,
    /// The node, for its cluster-wide read and write paths (set once the node exists).
    node: OnceLock<Weak<Node>>,
    notifier: Notifier,
    counters: Arc<RulerCounters>,
    files: FileImport,
}

impl Ruler {
    /// The ruler of the node whose groups `host` runs.
    pub(crate) fn new(
        host: Arc<GroupHost>,
        router: Arc<Router>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, NodeError> {
        let config = host.config().clone();
        Ok(Ruler {
            notifier: Notifier::new(&config),
            files: FileImport::load(&config)?,
            host,
            router,
            clock,
            node: OnceLock::new(),
            counters: Arc::default(),
        })
    }

    /// Starts the ruler's loop, reading and writing through `node`.
    pub fn start(self: &Arc<Self>, node: Weak<Node>) {
        let _ = self.node.set(node);
        let task = tokio::spawn(self.clone().run());
        self.host.keep_task(task);
    }

    /// The rule groups and their state as this node's replica has applied them.
    pub fn state(&self) -> RulerState {
        self.host.ruler().sm.with_ruler(RulerState::clone)
    }

    /// `f` of the state as this node's replica has applied it, without copying it.
    pub fn with_state<R>(&self, f: impl FnOnce(&RulerState) -> R) -> R {
        self.host.ruler().sm.with_ruler(f)
    }

    /// The ruler group's leader as this node knows it, and the term it knows.
    pub fn leadership(&self) -> (Option<crate::raft::NodeId>, u64) {
        use openraft::async_runtime::WatchReceiver;
        let m = self.host.ruler().raft.metrics().borrow_watched().clone();
        (m.current_leader, m.current_term)
    }

    /// The ruler's counters (iterations, misses, failures, notifications).
    pub fn counters(&self) -> &RulerCounters {
        &self.counters
    }

    /// The Alertmanager sender's counters.
    pub fn notify_counters(&self) -> &notify::NotifyCounters {
        self.notifier.counters()
    }

    /// Imports of this node's rule files refused because another node's file of the same path
    /// differs (counted at every check).
    pub fn file_conflicts(&self) -> u64 {
        self.files
            .conflicts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What importing this node's rule files found (differences with other nodes' files, load
    /// errors).
    pub fn file_status(&self) -> Vec<String> {
        self.files.problems()
    }

    /// Commits `cmd` in the ruler group, on its leader wherever it is, and waits (up to
    /// `write_timeout_ms`) until this node's replica shows it, so that a client reads its own
    /// change from the node it made it through.
    pub async fn propose(&self, cmd: RulerCommand) -> Result<(), NodeError> {
        let timeout_ms = self.host.config().write_timeout_ms;
        let proposed = self.router.on_ruler_leader(
            Call::ProposeRuler(cmd.clone()),
            || self.propose_here(cmd.clone()),
            |a| a.proposed(),
            timeout_ms,
        );
        // A leader cut off from its voters would wait until it learns it is deposed.
        tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), proposed)
            .await
            .map_err(|_| {
                NodeError::Timeout(format!(
                    "the rule change was not committed within {timeout_ms} ms"
                ))
            })??;
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        while !self.with_state(|s| s.shows(&cmd)) {
            if std::time::Instant::now() >= deadline {
                return Err(NodeError::Timeout(
                    "the rule change is committed, but this node has not applied it yet".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The term in which this node leads the ruler group, if it does.
    pub fn leading_term(&self) -> Option<u64> {
        use openraft::async_runtime::WatchReceiver;
        let m = self.host.ruler().raft.metrics().borrow_watched().clone();
        self.host.leads(&m).then_some(m.current_term)
    }

    /// Confirms this node's leadership with a read index, so that everything committed
    /// before is applied here when it returns.
    pub async fn confirm_leadership(&self) -> Result<(), NodeError> {
        self.host
            .ruler()
            .raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await
            .map(|_| ())
            .map_err(|e| NodeError::Unavailable(format!("ruler leadership not confirmed: {e}")))
    }

    /// Commits `cmd` through this node, which must lead the ruler group (the leader's own
    /// commands: a deposed leader's proposal fails).
    pub async fn propose_as_leader(&self, cmd: RulerCommand) -> Result<(), NodeError> {
        self.host.propose_ruler(cmd).await
    }

    /// Commits `cmd` through this node as the ruler group's leader, which a client's command
    /// reached (locally or from another node): a notifier command gets this node's time.
    pub async fn propose_here(&self, cmd: RulerCommand) -> Result<(), NodeError> {
        let cmd = match cmd {
            RulerCommand::Notifier(c) => RulerCommand::Notifier(c.restamped(self.clock.now_ms())),
            other => other,
        };
        self.host.propose_ruler(cmd).await
    }

    /// The clock the ruler reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The node's configuration.
    pub fn config(&self) -> &Arc<crate::config::Config> {
        self.host.config()
    }

    fn node(&self) -> Result<Arc<Node>, NodeError> {
        self.node
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| NodeError::Unavailable("the node is shutting down".into()))
    }
}

#[cfg(test)]
mod tests;
