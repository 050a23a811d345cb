//! What the Raft transport of a node counts (`/metrics`: `tidemark_raft_snapshots_*_total`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Shard and meta snapshots sent to and received from peers, and the ones that failed.
#[derive(Debug, Default)]
pub struct RaftCounters {
    pub snapshots_sent: AtomicU64,
    pub snapshots_send_failed: AtomicU64,
    pub snapshots_received: AtomicU64,
    pub snapshots_receive_failed: AtomicU64,
}

impl RaftCounters {
    /// Counts one snapshot sent (`ok`) or not.
    pub fn sent(&self, ok: bool) {
        let c = if ok {
            &self.snapshots_sent
        } else {
            &self.snapshots_send_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one snapshot received and installed (`ok`) or not.
    pub fn received(&self, ok: bool) {
        let c = if ok {
            &self.snapshots_received
        } else {
            &self.snapshots_receive_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}
