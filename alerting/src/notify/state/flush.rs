//! Flushing due aggregation groups (Alertmanager's `aggrGroup.flush` and its notification
//! pipeline): inhibited alerts are taken out, a route outside its active time intervals or
//! inside a mute time interval sends nothing, silenced alerts are taken out, and for each
//! integration of the receiver the notification log decides whether anything changed enough
//! to notify (`DedupStage.needsUpdate`). What must be sent goes into the outbox; resolved
//! alerts then leave the group, and an empty group goes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Delivery, NflogEntry, NflogKey, Notification, NotifierState};
use crate::notify::alert::Alert;
use crate::notify::config::{NotifierConfig, Route};
use crate::notify::inhibit::inhibited_by;
use crate::notify::route;

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
        for key in due {
            let Some(route) = routes.get(&key.0) else {
                // A group of a route that no longer exists (cannot happen: groups are rebuilt
                // with the configuration); drop it rather than flush it nowhere.
                self.groups.remove(&key);
                continue;
            };
            self.flush_group(&key, route, config, now);
        }
        self.config = Some(stored);
    }

    fn flush_group(
        &mut self,
        key: &(String, String),
        route: &Route,
        config: &NotifierConfig,
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
        let muted_by_time = time_muted(route, config, now);
        let mut notify: Vec<(u64, Alert)> = Vec::new();
        if !muted_by_time {
            for (fp, a) in &members {
                let inhibited =
                    inhibited_by(&config.inhibit_rules, self.alerts.iter(), &a.labels, now)
                        .is_some();
                let silenced = self.silences.values().any(|s| s.mutes(&a.labels, now));
                if !inhibited && !silenced {
                    notify.push((*fp, (*a).clone()));
                }
            }
        }
        if !notify.is_empty() {
            self.notify_receiver(
                &group.key,
                &group.route_id,
                &group.receiver,
                &group.labels,
                &notify,
                route,
                config,
                now,
            );
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

    #[allow(clippy::too_many_arguments)]
    fn notify_receiver(
        &mut self,
        group_key: &str,
        route_id: &str,
        receiver: &str,
        group_labels: &BTreeMap<String, String>,
        alerts: &[(u64, Alert)],
        route: &Route,
        config: &NotifierConfig,
        now: i64,
    ) {
        let Some(rcv) = config.receivers.get(receiver) else {
            return;
        };
        let firing: BTreeSet<u64> = alerts
            .iter()
            .filter(|(_, a)| !a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let resolved: BTreeSet<u64> = alerts
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        for (i, integration) in rcv.integrations.iter().enumerate() {
            let nkey = NflogKey {
                group_key: group_key.to_string(),
                receiver: receiver.to_string(),
                integration: i as u32,
            };
            let send_resolved = integration.send_resolved();
            let last = self.nflog.get(&nkey);
            if !needs_update(
                last,
                &firing,
                &resolved,
                route.repeat_interval_ms,
                send_resolved,
                now,
            ) {
                continue;
            }
            let sent: Vec<Alert> = alerts
                .iter()
                .filter(|(_, a)| send_resolved || !a.resolved_at(now))
                .map(|(_, a)| a.clone())
                .collect();
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
            let id = self.next_id;
            self.next_id += 1;
            for n in self.outbox.values_mut() {
                if n.nflog == nkey && n.delivery == Delivery::Pending {
                    n.delivery = Delivery::Superseded { by: id, at_ms: now };
                    self.totals.superseded += 1;
                }
            }
            self.totals.notifications += 1;
            self.outbox.insert(
                id,
                Notification {
                    id,
                    nflog: nkey,
                    route_id: route_id.to_string(),
                    group_labels: group_labels.clone(),
                    alerts: sent,
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    flushed_at_ms: now,
                    attempts: 0,
                    last_error: String::new(),
                    retry_at_ms: now,
                    delivery: Delivery::Pending,
                },
            );
        }
    }
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
