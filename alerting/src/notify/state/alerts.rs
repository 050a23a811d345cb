//! Receiving alerts (Alertmanager's alert store and dispatcher's `processAlert`): merged with
//! the copy held when their active ranges overlap, then put in the aggregation group of each
//! route their labels take.

use super::{AggrGroup, NotifierState};
use crate::notify::alert::Alert;
use crate::notify::route;

impl NotifierState {
    pub(super) fn put_alerts(&mut self, alerts: &[Alert], now: i64) {
        for alert in alerts {
            self.totals.alerts_received += 1;
            let fp = alert.fingerprint();
            let stored = match self.alerts.get(&fp) {
                Some(old) if old.overlaps(alert) => old.merge(alert),
                _ => alert.clone(),
            };
            self.alerts.insert(fp, stored);
            self.group_alert(fp, now);
        }
    }

    /// Rebuilds every group from the alerts held (a new configuration).
    pub(super) fn regroup(&mut self, now: i64) {
        self.groups.clear();
        let fps: Vec<u64> = self.alerts.keys().copied().collect();
        for fp in fps {
            self.group_alert(fp, now);
        }
    }

    /// Puts alert `fp` in the group of each route it takes, creating groups as needed. A new
    /// group flushes after `group_wait`, or at once when the alert that creates it started
    /// longer ago than that (Alertmanager 0.33's `processAlert`).
    fn group_alert(&mut self, fp: u64, now: i64) {
        let (Some(config), Some(alert)) = (self.config.as_ref(), self.alerts.get(&fp)) else {
            return;
        };
        for matched in route::matching(&config.config.route, &alert.labels) {
            let r = matched.route;
            let labels = route::group_labels(r, &alert.labels);
            let key = route::group_key(&matched.key, &labels);
            let group_id = (matched.id.clone(), key.clone());
            let created = !self.groups.contains_key(&group_id);
            let group = self.groups.entry(group_id).or_insert_with(|| AggrGroup {
                route_id: matched.id.clone(),
                key,
                receiver: r.receiver.clone(),
                labels,
                alerts: Default::default(),
                next_flush_ms: now + r.group_wait_ms,
                has_flushed: false,
            });
            group.alerts.insert(fp);
            if created && alert.starts_at_ms + r.group_wait_ms < now {
                group.next_flush_ms = now;
            }
        }
    }
}
