//! How the notifier checker's findings are printed: fields of the verdict line and a section
//! of the run's table.

use super::check::{NotifierCheck, SilenceState, Violation};

/// Violations listed in the table at most, per property.
const VIOLATIONS_SHOWN_MAX: usize = 20;

impl NotifierCheck {
    /// The notifier workload's part of the verdict line (empty when it did not run).
    pub fn verdict_fields(&self) -> String {
        let n = self;
        if !n.ran {
            return String::new();
        }
        format!(
            " notifier_episodes={} notifier_deliveries={} notifier_duplicates_per_100={:.1} notifier_undelivered_firing={} notifier_unresolved={} notifier_firing_after_resolved={} notifier_silenced_sent={} notifier_status_violations={} notifier_phantoms={}",
            n.episodes.len(),
            n.deliveries(),
            n.duplicates_per_100(),
            n.undelivered_firing.len(),
            n.unresolved.len(),
            n.firing_after_resolved.len(),
            n.silenced_sent.len(),
            n.status_violations.len(),
            n.phantom_alerts.len(),
        )
    }

    /// The notifier section of the table (empty when the workload did not run).
    pub fn table(&self) -> String {
        let n = self;
        if !n.ran {
            return String::new();
        }
        let triple = |t: (usize, usize, usize)| format!("{}/{}/{}", t.0, t.1, t.2);
        let silenced = |s: SilenceState| n.episodes.iter().filter(|e| e.silence == s).count();
        let mut s = String::from("notifier\n");
        let rows: Vec<(&str, String)> = vec![
            (
                "configured (attempts)",
                format!("{} ({})", n.configured, n.config_attempts),
            ),
            ("firing posts ok/fail/indeterminate", triple(n.firing_posts)),
            ("resolving posts ok/fail/indet.", triple(n.resolve_posts)),
            ("silences ok/fail/indeterminate", triple(n.silence_posts)),
            (
                "episodes (silenced, maybe)",
                format!(
                    "{} ({}, {})",
                    n.episodes.len(),
                    silenced(SilenceState::Acked),
                    silenced(SilenceState::Maybe)
                ),
            ),
            (
                "requests ok/500/hung",
                format!("{} {}", n.requests, triple(n.answers)),
            ),
            (
                "deliveries firing/resolved",
                format!("{}/{}", n.deliveries_firing, n.deliveries_resolved),
            ),
            (
                "expected firings delivered",
                format!("{}/{}", n.expected_firings_delivered, n.expected_firings),
            ),
            (
                "acked firings delivered (any)",
                format!("{}/{}", n.acked_firings_delivered, n.acked_firings),
            ),
            (
                "1 undelivered firing",
                n.undelivered_firing.len().to_string(),
            ),
            ("2 unresolved", n.unresolved.len().to_string()),
            (
                "2 firing after resolved",
                n.firing_after_resolved.len().to_string(),
            ),
            ("3 silenced but sent", n.silenced_sent.len().to_string()),
            (
                "4 duplicates (per 100)",
                format!("{} ({:.1})", n.duplicates, n.duplicates_per_100()),
            ),
            ("5 status at the end", n.status_violations.len().to_string()),
            ("phantom alerts", n.phantom_alerts.len().to_string()),
            ("malformed requests", n.malformed.len().to_string()),
        ];
        for (k, v) in rows {
            s.push_str(&format!("  {k:<34} {v}\n"));
        }
        let mut list = |name: &str, vs: &[Violation]| {
            for v in vs.iter().take(VIOLATIONS_SHOWN_MAX) {
                s.push_str(&format!(
                    "  {name}: episode {} at {}: {}\n",
                    v.episode, v.receiver, v.detail
                ));
            }
            if vs.len() > VIOLATIONS_SHOWN_MAX {
                s.push_str(&format!(
                    "  {name}: {} more in summary.json\n",
                    vs.len() - VIOLATIONS_SHOWN_MAX
                ));
            }
        };
        list("undelivered firing", &n.undelivered_firing);
        list("not required, not delivered", &n.unrequired_misses);
        list("unresolved", &n.unresolved);
        list("firing after resolved", &n.firing_after_resolved);
        list("silenced but sent", &n.silenced_sent);
        list("status", &n.status_violations);
        list("phantom", &n.phantom_alerts);
        for m in n.malformed.iter().take(VIOLATIONS_SHOWN_MAX) {
            s.push_str(&format!("  malformed: {m}\n"));
        }
        for e in &n.episodes {
            let held = match (e.fired_ack_ms, e.resolve_from_ms) {
                (Some(a), Some(b)) => format!("{} ms", b - a),
                _ => "-".into(),
            };
            let per: Vec<String> = e
                .deliveries
                .iter()
                .map(|(r, d)| {
                    let after = match (e.fired_ack_ms, d.first_firing_ms) {
                        (Some(a), Some(f)) => format!(" first +{} ms", f - a),
                        _ => String::new(),
                    };
                    format!("{r} {}f/{}r/{}x{after}", d.firing, d.resolved, d.failed)
                })
                .collect();
            s.push_str(&format!(
                "  episode {:>3}{}{}: fired {held}, undisturbed {} ms, expected {}; {}\n",
                e.episode,
                if e.final_episode { " (final)" } else { "" },
                match e.silence {
                    SilenceState::None => "",
                    SilenceState::Acked => " (silenced)",
                    SilenceState::Maybe => " (maybe silenced)",
                },
                e.undisturbed_ms,
                e.expected,
                per.join(", "),
            ));
        }
        s
    }
}
