//! What the ruler group's leader runs: one task per rule group. Each iteration is evaluated at
//! its slot (`tidemark_alerting::schedule`), its samples written through the cluster's write
//! path, its new state committed ("group G, iteration T done"), and only then are its alerts
//! sent. Leadership is checked before each iteration and the commit is the fence: a deposed
//! leader's proposal fails, so it neither commits nor sends; a later leader resumes from the
//! committed state and never evaluates a committed iteration again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use tidemark_alerting::eval::{EvalContext, OutgoingAlert, SeriesMemo, evaluate};
use tidemark_alerting::notify::alert::Alert;
use tidemark_alerting::notify::state::NotifierCommand;
use tidemark_alerting::schedule::{Due, Schedule};
use tidemark_query::PromqlEngine;
use tokio::task::JoinHandle;

use super::Ruler;
use super::query::{ClusterQuery, Reads, histogram_series_of, series_of};
use super::record::{RulerCommand, StoredGroup};
use crate::error::NodeError;

/// How often the ruler checks leadership, membership and the set of groups, in milliseconds.
const SUPERVISE_MS: u64 = 500;

/// Counters of the ruler on this node (exposed on `/metrics` and the rules API's status).
#[derive(Debug, Default)]
pub struct RulerCounters {
    /// Iterations committed.
    pub iterations: AtomicU64,
    /// Iterations skipped (overruns, no leader).
    pub missed_iterations: AtomicU64,
    /// Rule evaluations that failed.
    pub failed_evaluations: AtomicU64,
    /// Iterations whose samples could not all be written.
    pub failed_writes: AtomicU64,
    /// Iterations whose commit failed (leadership lost).
    pub failed_commits: AtomicU64,
    /// Alerts handed to the notifier.
    pub alerts_sent: AtomicU64,
}

/// The tasks of this node's leadership of the ruler group.
struct Leading {
    term: u64,
    /// Per group: its task and the definition version it started with (a new definition
    /// restarts it, so that a changed interval takes effect at once).
    tasks: BTreeMap<(String, String), (JoinHandle<()>, u64)>,
}

impl Drop for Leading {
    fn drop(&mut self) {
        for (task, _) in self.tasks.values() {
            task.abort();
        }
    }
}

impl Ruler {
    /// The ruler's loop: creates the ruler group once, and while this node leads it keeps its
    /// members, imports rule files, and runs a task per rule group.
    pub(super) async fn run(self: Arc<Self>) {
        let mut leading: Option<Leading> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(SUPERVISE_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.ensure_created().await {
                tracing::debug!(error = %e, "ruler group not created yet");
            }
            if let Err(e) = self.files.import(&self).await {
                tracing::debug!(error = %e, "rule files not imported yet");
            }
            let ruler = self.host.ruler();
            let m = ruler.raft.metrics().borrow_watched().clone();
            if !self.host.leads(&m) || leading.as_ref().is_some_and(|l| l.term != m.current_term) {
                if leading.take().is_some() {
                    // What a deposed leader queued must not reach Alertmanager after what the
                    // new leader sends.
                    self.notifier.clear();
                    tracing::info!(term = m.current_term, "no longer leading the ruler group");
                }
                if !self.host.leads(&m) {
                    continue;
                }
            }
            if leading.is_none() {
                // Everything committed before this term must be applied here before the first
                // iteration reads the state.
                if let Err(e) = ruler.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
                    tracing::debug!(error = %e, "ruler leadership not confirmed yet");
                    continue;
                }
                tracing::info!(
                    term = m.current_term,
                    "leading the ruler group: evaluating rules"
                );
                leading = Some(Leading {
                    term: m.current_term,
                    tasks: BTreeMap::new(),
                });
            }
            if let Err(e) = self.keep_members().await {
                tracing::debug!(error = %e, "ruler members not updated");
            }
            if let Some(l) = leading.as_mut() {
                self.reconcile_tasks(l);
            }
        }
    }

    /// Starts a task for every group without one, ends those of groups that are gone.
    fn reconcile_tasks(self: &Arc<Self>, leading: &mut Leading) {
        let groups: BTreeMap<(String, String), u64> = self.with_state(|s| {
            s.namespaces
                .iter()
                .flat_map(|(ns, n)| {
                    n.groups
                        .iter()
                        .map(|g| ((ns.clone(), g.group.name.clone()), g.version))
                })
                .collect()
        });
        leading.tasks.retain(|key, (task, version)| {
            let keep = groups.get(key) == Some(version) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, version) in groups {
            if leading.tasks.contains_key(&key) {
                continue;
            }
            let ruler = self.clone();
            let term = leading.term;
            let (ns, name) = key.clone();
            let task = tokio::spawn(async move { ruler.group_loop(ns, name, term).await });
            leading.tasks.insert(key, (task, version));
        }
    }

    /// Whether this node still leads the ruler group in `term`.
    fn still_leads(&self, term: u64) -> bool {
        let m = self.host.ruler().raft.metrics().borrow_watched().clone();
        self.host.leads(&m) && m.current_term == term
    }

    /// Evaluates group `name` of `ns` at each of its slots while this node leads in `term`
    /// and the group exists.
    async fn group_loop(self: Arc<Self>, ns: String, name: String, term: u64) {
        let mut memo = SeriesMemo::default();
        // The first iteration of a leadership sends every alert it holds again: the previous
        // leader may have committed an iteration and died before sending it (sends are at least
        // once; Alertmanager deduplicates).
        let mut resend_all = true;
        loop {
            let Some(stored) = self.with_state(|s| s.group(&ns, &name).cloned()) else {
                return;
            };
            let config = self.host.config();
            let interval_ms = stored
                .group
                .interval
                .map_or(config.ruler.evaluation_interval_ms as i64, |d| d.0)
                .max(1);
            let now = self.clock.now_ms();
            let schedule = Schedule::new(&ns, &name, interval_ms);
            let (ts, missed) = match schedule.due(stored.state.last_evaluation_ms, now) {
                Due::Run { t_ms, missed } => (t_ms, missed),
                Due::Wait { until_ms } => {
                    // Then asks again, with the group as it is by then.
                    tokio::time::sleep(Duration::from_millis((until_ms - now) as u64)).await;
                    continue;
                }
            };
            if !self.still_leads(term) {
                return;
            }
            let slot = Slot {
                ts_ms: ts,
                interval_ms,
                missed,
                resend_all,
            };
            match self.iterate(&ns, &stored, slot, &mut memo).await {
                Ok(Outcome::Sent) => resend_all = false,
                Ok(Outcome::NotTaken) => {}
                Err(e) if !self.still_leads(term) => {
                    tracing::info!(group = %name, error = %e, "iteration not committed: deposed");
                    return;
                }
                Err(e) => {
                    tracing::warn!(namespace = %ns, group = %name, error = %e, "rule group iteration failed");
                    tokio::time::sleep(Duration::from_millis(SUPERVISE_MS)).await;
                }
            }
        }
    }

    /// One iteration of `stored` at `ts_ms`: evaluate, write, commit, send.
    async fn iterate(
        &self,
        ns: &str,
        stored: &StoredGroup,
        slot: Slot,
        memo: &mut SeriesMemo,
    ) -> Result<Outcome, NodeError> {
        let Slot {
            ts_ms,
            interval_ms,
            missed,
            resend_all,
        } = slot;
        let node = self.node()?;
        let config = self.host.config().clone();
        let samples_max = config.query.samples_max as u64;
        let querier = node
            .reader(true, samples_max)
            .await
            .map_err(|e| e.to_string());
        let engine = PromqlEngine::new(config.query.clone());
        let reads = Reads::of(&stored.group);
        let query_node = node.clone();
        let group = stored.group.clone();
        let mut prior = stored.state.clone();
        if resend_all {
            for alert in prior.rules.iter_mut().flat_map(|r| r.alerts.iter_mut()) {
                alert.last_sent_at_ms = None;
            }
        }
        let mut owned_memo = std::mem::take(memo);
        let started = Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let query = ClusterQuery::new(query_node, engine, samples_max, reads, querier);
            let seconds = move || started.elapsed().as_secs_f64();
            let ctx = EvalContext {
                ts_ms,
                interval_ms,
                query_offset_ms: group
                    .query_offset
                    .map_or(config.rule_query_offset.0, |d| d.0),
                resend_delay_ms: config.ruler.resend_delay_ms as i64,
                external_labels: &config.ruler.external_labels,
                external_url: &config.ruler.external_url,
                seconds: &seconds,
            };
            let it = evaluate(&group, &prior, &ctx, &query, &mut owned_memo);
            (it, owned_memo)
        })
        .await
        .map_err(|e| NodeError::Internal(format!("rule evaluation task: {e}")))?;
        let (mut it, owned_memo) = joined;
        *memo = owned_memo;
        let failed = it
            .state
            .rules
            .iter()
            .filter(|r| r.health == tidemark_alerting::state::Health::Err)
            .count();
        it.state.missed_iterations += missed;
        let cmd = RulerCommand::IterationDone {
            namespace: ns.to_string(),
            group: stored.group.name.clone(),
            version: stored.version,
            ts_ms,
            state: it.state,
        };
        if let Err(e) = self.host.propose_ruler(cmd).await {
            self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        // Committed is not enough: the state machine refuses an iteration of a definition
        // replaced meanwhile. Only a state it took is sent (the next iteration evaluates the
        // new definition).
        let name = &stored.group.name;
        let taken = self.with_state(|s| {
            s.group(ns, name).is_some_and(|g| {
                g.version == stored.version && g.state.last_evaluation_ms == Some(ts_ms)
            })
        });
        if !taken {
            tracing::info!(namespace = %ns, group = %name, "iteration of a replaced definition not taken: nothing sent");
            return Ok(Outcome::NotTaken);
        }
        // Written once taken, so that only a committed iteration's samples are written: a
        // deposed leader, or an iteration of a replaced definition, writes nothing that could
        // conflict with the real one. (Outputs a later rule of the group reads were written
        // early, `query.rs`.)
        let mut writes = Vec::new();
        if !it.samples.is_empty() {
            writes.push(node.write(series_of(std::mem::take(&mut it.samples))).await);
        }
        if !it.histograms.is_empty() {
            let histograms = histogram_series_of(std::mem::take(&mut it.histograms));
            writes.push(node.write_histograms(histograms).await);
        }
        for written in writes {
            let refused = written
                .as_ref()
                .map_or(0, |o| o.conflicting + o.too_old + o.too_new);
            if let Err(e) = &written {
                tracing::warn!(namespace = %ns, group = %name, error = %e, "rule samples not written");
            } else if refused > 0 {
                tracing::warn!(namespace = %ns, group = %name, refused, "rule samples refused by storage");
            }
            if written.is_err() || refused > 0 {
                self.counters.failed_writes.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.counters.iterations.fetch_add(1, Ordering::Relaxed);
        self.counters
            .missed_iterations
            .fetch_add(missed, Ordering::Relaxed);
        self.counters
            .failed_evaluations
            .fetch_add(failed as u64, Ordering::Relaxed);
        if !it.to_send.is_empty() {
            self.counters
                .alerts_sent
                .fetch_add(it.to_send.len() as u64, Ordering::Relaxed);
            self.to_builtin_notifier(ns, &it.to_send).await;
            self.notifier.send(it.to_send);
        }
        Ok(Outcome::Sent)
    }
}

impl Ruler {
    /// Hands `alerts` to the built-in notifier when it has a configuration: committed in the
    /// ruler group like any posted alert. A failure is logged and counted; the next
    /// iteration of a new leader sends every alert again.
    async fn to_builtin_notifier(&self, ns: &str, alerts: &[OutgoingAlert]) {
        if !self.with_state(|s| s.notifier.config.is_some()) {
            return;
        }
        let now_ms = self.clock.now_ms();
        let alerts = alerts
            .iter()
            .map(|a| Alert::from_ruler(a, now_ms))
            .collect();
        let cmd = RulerCommand::Notifier(NotifierCommand::PutAlerts { now_ms, alerts });
        if let Err(e) = self.host.propose_ruler(cmd).await {
            self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(namespace = %ns, error = %e, "alerts not handed to the built-in notifier");
        }
    }
}

/// What became of a committed iteration.
enum Outcome {
    /// The state machine took it: its samples were written and its alerts handed over.
    Sent,
    /// Refused (its definition was replaced meanwhile): nothing written or sent.
    NotTaken,
}

/// One iteration to run: its slot, its group's interval, the slots missed before it, and
/// whether every alert held is sent whatever its last send.
struct Slot {
    ts_ms: i64,
    interval_ms: i64,
    missed: u64,
    resend_all: bool,
}
