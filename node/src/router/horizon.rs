//! How far this node may trust its shard map, from the last time it confirmed the map with the
//! meta leader.
//!
//! A shard-map version starts at least `shard_version_lead_ms` after it is proposed, so every
//! version covering a time before `confirmed + shard_version_lead_ms` was committed before
//! `confirmed`: a sample older than that horizon routes by this node's map with certainty. A
//! node cut off from the meta group for longer than the lead refuses current samples (503,
//! retried) instead of misrouting them.
//!
//! A sample at or after a version's start is written no sooner than
//! `shard_version_lead_ms - future_window_ms` after the version was committed (it starts that
//! far ahead, and samples further ahead than the window are refused), so a map confirmed
//! within that margin before a linearizable read knows every version a write before the read
//! could have used.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::NodeError;
use crate::raft::NodeId;

/// The wall-clock time (ms) at which this node last asked the meta leader for a read index
/// that its meta replica has since applied. Never confirmed: `i64::MIN`.
#[derive(Debug)]
pub struct MapConfirmation(AtomicI64);

impl Default for MapConfirmation {
    fn default() -> Self {
        MapConfirmation(AtomicI64::new(i64::MIN))
    }
}

impl MapConfirmation {
    /// Records a confirmation that began at `began_ms` (an older one changes nothing).
    pub fn confirmed(&self, began_ms: i64) {
        self.0.fetch_max(began_ms, Ordering::Relaxed);
    }

    /// When the map was last confirmed.
    pub fn at_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Refuses a sample at `t_ms` at or beyond the horizon (retryably).
    pub fn check_route(&self, t_ms: i64, lead_ms: i64, node: NodeId) -> Result<(), NodeError> {
        let confirmed = self.at_ms();
        let horizon = confirmed.saturating_add(lead_ms.max(0));
        if t_ms >= horizon {
            return Err(NodeError::Unavailable(format!(
                "node {node} cannot route a sample at {t_ms} ms yet: its shard map is confirmed \
                 up to {horizon} ms (last confirmed with the meta leader at {confirmed} ms, plus \
                 shard_version_lead_ms); retry"
            )));
        }
        Ok(())
    }

    /// Refuses a linearizable read at `now_ms` when the map was confirmed longer ago than
    /// `lead_ms - future_window_ms` (retryably).
    pub fn check_recent(
        &self,
        now_ms: i64,
        lead_ms: i64,
        future_window_ms: i64,
        node: NodeId,
    ) -> Result<(), NodeError> {
        let margin = lead_ms - future_window_ms;
        let age = now_ms.saturating_sub(self.at_ms());
        if age > margin {
            return Err(NodeError::Unavailable(format!(
                "node {node}: shard map last confirmed with the meta leader {age} ms ago (more \
                 than shard_version_lead_ms - future_window_ms = {margin} ms): a linearizable \
                 read could miss shards; retry, or read with consistency=follower"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};

    const LEAD_MS: i64 = 7_200_000;
    const FUTURE_MS: i64 = 600_000;

    #[test]
    fn samples_route_only_below_the_horizon() {
        let c = MapConfirmation::default();
        // Never confirmed: nothing routes.
        assert!(c.check_route(0, LEAD_MS, 1).is_err());
        let clock = FakeClock::at(1_000_000);
        c.confirmed(clock.now_ms());
        assert!(c.check_route(1_000_000 + LEAD_MS - 1, LEAD_MS, 1).is_ok());
        let e = c.check_route(1_000_000 + LEAD_MS, LEAD_MS, 1).unwrap_err();
        assert!(e.to_string().contains("cannot route"), "{e}");
        // A confirmation that began earlier than the last changes nothing.
        c.confirmed(500_000);
        assert_eq!(c.at_ms(), 1_000_000);
        clock.advance(60_000);
        c.confirmed(clock.now_ms());
        assert!(c.check_route(1_000_000 + LEAD_MS, LEAD_MS, 1).is_ok());
    }

    #[test]
    fn linearizable_reads_need_a_recent_confirmation() {
        let c = MapConfirmation::default();
        let clock = FakeClock::at(10_000_000);
        assert!(
            c.check_recent(clock.now_ms(), LEAD_MS, FUTURE_MS, 1)
                .is_err()
        );
        c.confirmed(clock.now_ms());
        clock.advance(LEAD_MS - FUTURE_MS);
        assert!(
            c.check_recent(clock.now_ms(), LEAD_MS, FUTURE_MS, 1)
                .is_ok()
        );
        clock.advance(1);
        let e = c
            .check_recent(clock.now_ms(), LEAD_MS, FUTURE_MS, 1)
            .unwrap_err();
        assert!(e.to_string().contains("consistency=follower"), "{e}");
    }
}
