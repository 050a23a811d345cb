//! What the ruler group's leader runs for the notifier: ticks and sends. A tick is committed
//! when a group is due (the state machine flushes it into the outbox) and every maintenance
//! interval (old silences, log entries and finished notifications are forgotten). Every
//! pending notification whose retry time has come is sent; its outcome is committed:
//! delivered, failed (with the next attempt's time), or given up (a permanent refusal, or
//! failing for longer than `give_up_after_ms`). A new leader first confirms its leadership, so
//! that it sends only what is pending in the latest state: what the old leader left pending
//! goes out again (at least once), what it marked delivered does not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tidemark_alerting::notify::config::{Integration, NotifierConfig};
use tidemark_alerting::notify::state::{NflogKey, Notification, NotifierCommand};

use super::BuiltinNotifier;
use super::backoff::retry_delay_ms;
use super::channels::{self, SendError};
use crate::ruler::record::RulerCommand;

/// What sending a notification needs of the configuration.
struct Sendable {
    config: NotifierConfig,
    template_files: BTreeMap<String, String>,
}

/// A notification being sent by this node: leaves the in-flight set when the send ends,
/// however it ends.
struct InFlight {
    notifier: Arc<BuiltinNotifier>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.notifier.lock_in_flight().remove(&self.id);
    }
}

/// Ticks of the loop between two imports of the configuration file once it is imported.
const FILE_RECHECK_TICKS: u64 = 150;

impl BuiltinNotifier {
    pub(super) async fn run(self: Arc<Self>) {
        let mut confirmed_term: Option<u64> = None;
        let mut last_tick_ms = i64::MIN;
        let mut ticks: u64 = 0;
        let mut interval =
            tokio::time::interval(Duration::from_millis(self.settings.tick_ms.max(10)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = self.reload.notified() => {}
            }
            ticks += 1;
            if self.file.wants_import(ticks, FILE_RECHECK_TICKS)
                && let Err(e) = self.file.import(&self).await
            {
                tracing::debug!(error = %e, "notifier configuration file not imported yet");
            }
            let Some(term) = self.ruler.leading_term() else {
                confirmed_term = None;
                continue;
            };
            if confirmed_term != Some(term) {
                // Everything committed before this term must be applied here before the
                // outbox is read: what an old leader delivered is not sent again.
                if let Err(e) = self.ruler.confirm_leadership().await {
                    tracing::debug!(error = %e, "notifier: leadership not confirmed yet");
                    continue;
                }
                tracing::info!(term, "leading the ruler group: dispatching notifications");
                confirmed_term = Some(term);
                last_tick_ms = i64::MIN;
            }
            let now = self.ruler.clock().now_ms();
            let (due, in_use) = self.ruler.with_state(|s| {
                let n = &s.notifier;
                let due = n.config.is_some() && n.next_flush_ms().is_some_and(|t| t <= now);
                // A cluster that never used the notifier gets no notifier entries in its
                // log (a node of an older build could not apply them).
                let in_use = n.config.is_some() || !n.silences.is_empty() || !n.alerts.is_empty();
                (due, in_use)
            });
            let maintenance = in_use
                && now.saturating_sub(last_tick_ms) >= self.settings.maintenance_interval_ms as i64;
            if due || maintenance {
                let tick = NotifierCommand::Tick { now_ms: now };
                match self
                    .ruler
                    .propose_as_leader(RulerCommand::Notifier(tick))
                    .await
                {
                    Ok(()) => {
                        last_tick_ms = now;
                        self.counters.ticks.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, "notifier tick not committed");
                        continue;
                    }
                }
            }
            self.send_pending(term, now);
        }
    }

    /// Starts a send for every pending notification that is due and not in flight, as many
    /// as the in-flight bound allows, one at a time per group and integration: a newer
    /// notification of a group waits until the older one's send ended, so that a receiver
    /// never gets an older state after a newer one.
    fn send_pending(self: &Arc<Self>, term: u64, now: i64) {
        let room = {
            let in_flight = self.lock_in_flight();
            self.settings
                .sends_in_flight_max
                .saturating_sub(in_flight.len())
        };
        if room == 0 {
            return;
        }
        let due: Vec<(Notification, Option<Sendable>)> = self.ruler.with_state(|s| {
            let in_flight = self.lock_in_flight();
            let mut busy: BTreeSet<&NflogKey> = in_flight.values().collect();
            s.notifier
                .pending()
                .filter(|n| {
                    n.retry_at_ms <= now && !in_flight.contains_key(&n.id) && busy.insert(&n.nflog)
                })
                .take(room)
                .map(|n| {
                    let config = s.notifier.config.as_ref().map(|c| Sendable {
                        config: c.config.clone(),
                        template_files: c.template_files.clone(),
                    });
                    (n.clone(), config)
                })
                .collect()
        });
        for (n, config) in due {
            self.lock_in_flight().insert(n.id, n.nflog.clone());
            let guard = InFlight {
                notifier: self.clone(),
                id: n.id,
            };
            tokio::spawn(async move {
                guard.notifier.send_one(term, n, config).await;
                drop(guard);
            });
        }
    }

    /// Sends `n` once and commits the outcome.
    async fn send_one(&self, term: u64, n: Notification, config: Option<Sendable>) {
        if self.ruler.leading_term() != Some(term) {
            return;
        }
        let integration: Option<Integration> = config.as_ref().and_then(|c| {
            c.config
                .receivers
                .get(&n.nflog.receiver)
                .and_then(|r| r.integration(&n.nflog.kind, n.nflog.integration as usize))
                .cloned()
        });
        let result = match &integration {
            None => Err(SendError::Permanent(format!(
                "receiver {:?} has no {} integration #{} in the configuration any more",
                n.nflog.receiver, n.nflog.kind, n.nflog.integration
            ))),
            Some(integration) => {
                self.counters.attempts.fetch_add(1, Ordering::Relaxed);
                if n.attempts > 0 {
                    tracing::debug!(id = n.id, attempts = n.attempts, "notification retried");
                }
                let files = config.as_ref().map(|c| &c.template_files);
                let templates = self.templates.get(files.unwrap_or(&BTreeMap::new()));
                let ctx = channels::SendContext {
                    templates: &templates,
                    http: &self.http,
                    notification: &n,
                    external_url: &self.external_url,
                    default_timeout: Duration::from_millis(self.settings.send_timeout_ms),
                    now_ms: self.ruler.clock().now_ms(),
                };
                channels::send(integration, &ctx).await
            }
        };
        let now = self.ruler.clock().now_ms();
        let cmd = match result {
            Ok(()) => NotifierCommand::Delivered {
                now_ms: now,
                ids: vec![n.id],
            },
            Err(e) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let kind = integration.as_ref().map_or("none", Integration::kind);
                tracing::warn!(
                    receiver = %n.nflog.receiver,
                    integration = kind,
                    attempts = n.attempts + 1,
                    error = %e,
                    "notification not delivered"
                );
                let expired =
                    now.saturating_sub(n.flushed_at_ms) >= self.settings.give_up_after_ms as i64;
                match e {
                    SendError::Permanent(error) => NotifierCommand::GaveUp {
                        now_ms: now,
                        id: n.id,
                        error,
                    },
                    SendError::Retry(error) if expired => NotifierCommand::GaveUp {
                        now_ms: now,
                        id: n.id,
                        error: format!(
                            "still failing after {} ms: {error}",
                            self.settings.give_up_after_ms
                        ),
                    },
                    SendError::Retry(error) => {
                        let delay = retry_delay_ms(
                            n.attempts + 1,
                            self.settings.retry_initial_ms,
                            self.settings.retry_max_ms,
                            rand::random::<f64>(),
                        );
                        NotifierCommand::Failed {
                            now_ms: now,
                            id: n.id,
                            error,
                            retry_at_ms: now + delay as i64,
                        }
                    }
                }
            }
        };
        if let Err(e) = self
            .ruler
            .propose_as_leader(RulerCommand::Notifier(cmd))
            .await
        {
            self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(id = n.id, error = %e, "notification outcome not committed");
        }
    }
}
