//! How the alerts checker's findings are printed: fields of the verdict line and a section of
//! the run's table.

use super::check::AlertCheck;

impl AlertCheck {
    /// The alerts workload's part of the verdict line (empty when it did not run).
    pub fn verdict_fields(&self) -> String {
        let a = self;
        if !a.ran {
            return String::new();
        }
        format!(
            " alert_episodes={} expected_firings={} expected_firings_notified={} duplicate_starts={} false_resolved={} firings_outside={} phantom_alerts={} unresolved={} unexcused_expiries={}",
            a.episodes.len(),
            a.expected_firings,
            a.expected_firings_notified,
            a.duplicate_starts.len(),
            a.false_resolved.len(),
            a.firings_outside_condition.len(),
            a.phantom_alerts.len(),
            a.unresolved.len(),
            a.unexcused_expiries(),
        )
    }

    /// The alerts section of the table (empty when the workload did not run).
    pub fn table(&self) -> String {
        let a = self;
        if !a.ran {
            return String::new();
        }
        let mut s = String::from("alerts\n");
        let rows: Vec<(&str, String)> = vec![
            ("rules uploaded", a.rules_uploaded.to_string()),
            (
                "gauge writes ok/fail/indeterminate",
                format!("{}/{}/{}", a.writes.0, a.writes.1, a.writes.2),
            ),
            ("episodes", a.episodes.len().to_string()),
            ("episodes notified firing", a.episodes_fired.to_string()),
            (
                "expected firings notified",
                format!("{}/{}", a.expected_firings_notified, a.expected_firings),
            ),
            ("missed firings", format!("{:?}", a.missed_firings)),
            (
                "notifications firing/resolved",
                format!("{}/{}", a.firing_notifications, a.resolved_notifications),
            ),
            ("duplicate starts", a.duplicate_starts.len().to_string()),
            ("false resolved", a.false_resolved.len().to_string()),
            (
                "firings outside the condition",
                a.firings_outside_condition.len().to_string(),
            ),
            ("phantom alerts", a.phantom_alerts.len().to_string()),
            ("unresolved", format!("{:?}", a.unresolved)),
            (
                "expiries while held (unexcused)",
                format!("{} ({})", a.expiries.len(), a.unexcused_expiries()),
            ),
            ("malformed requests", a.malformed.len().to_string()),
        ];
        for (k, v) in rows {
            s.push_str(&format!("  {k:<34} {v}\n"));
        }
        for e in &a.episodes {
            let span = |from: Option<i64>, to: Option<i64>| match (from, to) {
                (Some(f), Some(t)) => format!("{} ms", t - f),
                _ => "-".to_string(),
            };
            s.push_str(&format!(
                "  episode {:>3}{}: held {}, undisturbed {} ms, expected {}, fired {} after the 1 was acked, {} firing / {} resolved notifications\n",
                e.episode,
                if e.final_episode { " (final)" } else { "" },
                span(e.held_from_ms, e.held_until_ms),
                e.undisturbed_ms,
                e.expected,
                span(e.held_from_ms, e.fired_at_ms),
                e.firing_notifications,
                e.resolved_notifications,
            ));
        }
        s
    }
}
