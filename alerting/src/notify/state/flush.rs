//! Flushing due aggregation groups (Alertmanager's `aggrGroup.flush` and its notification
//! pipeline): inhibited alerts are taken out, a route outside its active time intervals or
//! inside a mute time interval sends nothing, silenced alerts are taken out, and for each
//! integration of the receiver the notification log decides whether anything changed enough
//! to notify (`DedupStage.needsUpdate`). What must be sent goes into the outbox, with each
//! alert's status as it is at the flush (a firing alert's end is not kept: a notification sent
//! late still says firing). Resolved alerts then leave the group, and an empty group goes.
//!
//! A notification replaces one for the same group and integration still waiting to be sent;
//! the resolved alerts the replaced one carried and the new one does not are carried over, so
//! that no resolution is lost to a receiver that was down.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::{Delivery, NflogEntry, NflogKey, Notification, NotifierState};
use crate::notify::alert::Alert;
use crate::notify::config::{NotifierConfig, Route};
use crate::notify::inhibit::Inhibitor;
use crate::notify::route;

/// A firing alert's end in a notification: never (Alertmanager clears it at the flush).
pub const FIRING_END_MS: i64 = i64::MAX;

impl NotifierState {
    pub(super) fn flush_due(&mut self, now: i64) {
        let Some(stored) = self.config.take() else {
            return;
        };
        let config = &stored.config;
        let routes: BTreeMap<String, &Route> = route::all(&config.route)
            .into_iter()
            .map(|m| (m.id, m.route))
            .collect();
        let due: Vec<(String, String)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush_ms <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if !due.is_empty() {
            // Which alerts are inhibited now, once for every group of this tick.
            let inhibitor = Inhibitor::new(&config.inhibit_rules, self.alerts.iter(), now);
            let inhibited: BTreeSet<u64> = self
                .alerts
                .iter()
                .filter(|(_, a)| inhibitor.inhibited_by(&a.labels).is_some())
                .map(|(fp, _)| *fp)
                .collect();
            for key in due {
                match routes.get(&key.0) {
                    Some(route) => self.flush_group(&key, route, config, &inhibited, now),
                    // A group of a route that no longer exists (groups are rebuilt with the
                    // configuration, so this cannot happen): dropped rather than flushed
                    // nowhere.
                    None => {
                        self.groups.remove(&key);
                    }
                }
            }
        }
        self.config = Some(stored);
    }

    fn flush_group(
        &mut self,
        key: &(String, String),
        route: &Route,
        config: &NotifierConfig,
        inhibited: &BTreeSet<u64>,
        now: i64,
    ) {
        let Some(group) = self.groups.get_mut(key) else {
            return;
        };
        group.next_flush_ms = now + route.group_interval_ms;
        group.has_flushed = true;
        let group = group.clone();
        let members: Vec<(u64, &Alert)> = group
            .alerts
            .iter()
            .filter_map(|fp| self.alerts.get(fp).map(|a| (*fp, a)))
            .collect();
        let resolved_members: Vec<u64> = members
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let mut notify: Vec<(u64, Alert)> = Vec::new();
        if !time_muted(route, config, now) {
            for (fp, a) in &members {
                let silenced = self.silences.values().any(|s| s.mutes(&a.labels, now));
                if !inhibited.contains(fp) && !silenced {
                    let mut a = (*a).clone();
                    if !a.resolved_at(now) {
                        a.ends_at_ms = FIRING_END_MS;
                    }
                    notify.push((*fp, a));
                }
            }
        }
        notify.sort_by(|a, b| alert_order(&a.1, &b.1));
        if !notify.is_empty() {
            let flush = Flush {
                group_key: &group.key,
                route_id: &group.route_id,
                receiver: &group.receiver,
                group_labels: &group.labels,
                alerts: &notify,
                repeat_ms: route.repeat_interval_ms,
            };
            self.notify_receiver(&flush, config, now);
        }
        // Resolved alerts were notified (or had nothing to notify): they leave the group.
        if let Some(g) = self.groups.get_mut(key) {
            for fp in resolved_members {
                g.alerts.remove(&fp);
            }
            if g.alerts.is_empty() {
                self.groups.remove(key);
            }
        }
    }

    fn notify_receiver(&mut self, flush: &Flush<'_>, config: &NotifierConfig, now: i64) {
        let Some(rcv) = config.receivers.get(flush.receiver) else {
            return;
        };
        let firing: BTreeSet<u64> = flush
            .alerts
            .iter()
            .filter(|(_, a)| !a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let resolved: BTreeSet<u64> = flush
            .alerts
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        for (index, integration) in rcv.indexed() {
            let nkey = NflogKey {
                group_key: flush.group_key.to_string(),
                receiver: flush.receiver.to_string(),
                kind: integration.kind().to_string(),
                integration: index as u32,
            };
            let send_resolved = integration.send_resolved();
            let waiting = self.waiting(&nkey);
            // What the receiver has been told, or will be once what is on its way arrives:
            // the newest notification not delivered yet counts as sent now (so nothing is
            // repeated while it waits), else the notification log's entry. Deciding against
            // the log alone would let an alert resolve unseen while its firing notification
            // waits for a receiver that is down, and leave that receiver paged.
            let told = waiting.last().map(|id| {
                let n = &self.outbox[id];
                NflogEntry {
                    firing: n.firing.clone(),
                    resolved: n.resolved.clone(),
                    flushed_at_ms: n.flushed_at_ms,
                    sent_at_ms: now,
                }
            });
            let last = told.as_ref().or_else(|| self.nflog.get(&nkey));
            if !needs_update(
                last,
                &firing,
                &resolved,
                flush.repeat_ms,
                send_resolved,
                now,
            ) {
                continue;
            }
            let mut sent: Vec<Alert> = flush
                .alerts
                .iter()
                .filter(|(_, a)| send_resolved || !a.resolved_at(now))
                .map(|(_, a)| a.clone())
                .collect();
            let mut sent_resolved = resolved.clone();
            if send_resolved {
                // Resolutions the replaced notifications carried and this one does not.
                for id in &waiting {
                    for a in &self.outbox[id].alerts {
                        let fp = a.fingerprint();
                        if a.resolved_at(now) && !firing.contains(&fp) && sent_resolved.insert(fp) {
                            sent.push(a.clone());
                        }
                    }
                }
                sent.sort_by(alert_order);
            }
            let id = self.next_id;
            for old in &waiting {
                if let Some(n) = self.outbox.get_mut(old) {
                    n.delivery = Delivery::Superseded { by: id, at_ms: now };
                    self.totals.superseded += 1;
                }
            }
            if sent.is_empty() {
                // Everything resolved and this integration does not send resolutions: the
                // log forgets the firing alerts without a notification.
                self.nflog.insert(
                    nkey,
                    NflogEntry {
                        firing: firing.clone(),
                        resolved: resolved.clone(),
                        flushed_at_ms: now,
                        sent_at_ms: now,
                    },
                );
                continue;
            }
            self.next_id += 1;
            self.totals.notifications += 1;
            self.outbox.insert(
                id,
                Notification {
                    id,
                    nflog: nkey,
                    route_id: flush.route_id.to_string(),
                    group_labels: flush.group_labels.clone(),
                    alerts: sent,
                    firing: firing.clone(),
                    resolved: sent_resolved,
                    flushed_at_ms: now,
                    attempts: 0,
                    last_error: String::new(),
                    retry_at_ms: now,
                    delivery: Delivery::Pending,
                },
            );
        }
    }

    /// The notifications for `key` not delivered yet.
    fn waiting(&self, key: &NflogKey) -> Vec<u64> {
        self.outbox
            .values()
            .filter(|n| n.nflog == *key && n.delivery == Delivery::Pending)
            .map(|n| n.id)
            .collect()
    }
}

/// What one group's flush notifies.
struct Flush<'a> {
    group_key: &'a str,
    route_id: &'a str,
    receiver: &'a str,
    group_labels: &'a BTreeMap<String, String>,
    alerts: &'a [(u64, Alert)],
    repeat_ms: i64,
}

/// Alertmanager's order of the alerts of a notification (`types.AlertSlice`): by `job`, then
/// `instance` (an alert without the label after one with it), then the whole label set.
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for name in ["job", "instance"] {
        match (a.labels.get(name), b.labels.get(name)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

/// Whether `route` sends nothing at `now`: outside all of its active time intervals (when it
/// has some) or inside one of its mute time intervals.
fn time_muted(route: &Route, config: &NotifierConfig, now: i64) -> bool {
    let within = |names: &[String]| {
        names.iter().any(|n| {
            config
                .time_intervals
                .get(n)
                .is_some_and(|ti| ti.contains(now))
        })
    };
    (!route.active_time_intervals.is_empty() && !within(&route.active_time_intervals))
        || within(&route.mute_time_intervals)
}

/// Alertmanager's `DedupStage.needsUpdate`: notify a group never notified once something
/// fires; again when something fires that was not firing last time, when everything
/// resolved that was firing, when (with `send_resolved`) something resolved that was not
/// resolved last time, or when the last notification is older than `repeat_ms`.
pub(crate) fn needs_update(
    last: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    repeat_ms: i64,
    send_resolved: bool,
    now: i64,
) -> bool {
    let Some(last) = last else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&last.firing) {
        return true;
    }
    if firing.is_empty() {
        return !last.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&last.resolved) {
        return true;
    }
    last.sent_at_ms < now - repeat_ms
}
