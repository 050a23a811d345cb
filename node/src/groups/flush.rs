//! Flushes: a group's flush persists its state machine (a shard's head, with the applied
//! index it covers) as an openraft snapshot, after which openraft purges the log below it
//! (keeping `raft.log_keep_entries` for followers that are behind).

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::{Group, GroupHost};
use crate::error::NodeError;

impl GroupHost {
    /// Flushes every group. Returns when every flush is done.
    pub async fn flush(&self) -> Result<(), NodeError> {
        let _guard = self.flush_lock.lock().await;
        for g in self.groups() {
            self.flush_group(&g).await?;
        }
        Ok(())
    }

    /// Flushes every group, then compacts the raft log (so that what the flush let openraft
    /// purge leaves the disk) and the data store (the admin flush: afterwards, disk usage
    /// reflects the data).
    pub async fn flush_and_compact(&self) -> Result<(), NodeError> {
        self.flush().await?;
        // openraft purges after the snapshot is taken, asynchronously: wait for it (bounded;
        // compacting early only leaves more on disk, it loses nothing).
        let keep = self.config.raft.log_keep_entries;
        let timeout = Duration::from_millis(self.config.read_timeout_ms);
        for g in self.groups() {
            let Some(snapshot) = g.raft.metrics().borrow_watched().snapshot else {
                continue;
            };
            let want = snapshot.index().saturating_sub(keep);
            if want == 0 {
                continue;
            }
            let purged = g
                .raft
                .wait(Some(timeout))
                .metrics(
                    move |m| m.purged.is_some_and(|p| p.index() >= want),
                    "purge",
                )
                .await;
            if let Err(e) = purged {
                tracing::warn!(group = g.id, error = %e, "log not purged before compaction");
            }
        }
        let log_db = self.log_db().clone();
        tokio::task::spawn_blocking(move || log_db.compact_blocking())
            .await
            .map_err(|e| NodeError::Internal(format!("raft log compaction task: {e}")))??;
        let engine = self.engine().clone();
        tokio::task::spawn_blocking(move || engine.compact())
            .await
            .map_err(|e| NodeError::Internal(format!("data compaction task: {e}")))?
            .map_err(|source| NodeError::Storage {
                shard: None,
                source,
            })
    }

    /// Flushes group `g` up to what it has applied, unless its last flush covers that.
    async fn flush_group(&self, g: &Group) -> Result<(), NodeError> {
        let Some(target) = g.sm.last_applied() else {
            return Ok(());
        };
        let current = g.raft.metrics().borrow_watched().snapshot;
        if current.is_some_and(|s| s.index() >= target.index()) {
            return Ok(());
        }
        g.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| NodeError::raft(g.id)(format!("flush: {e}")))?;
        let timeout = Duration::from_millis(self.config.read_timeout_ms);
        g.raft
            .wait(Some(timeout))
            .metrics(
                move |m| m.snapshot.is_some_and(|s| s.index() >= target.index()),
                "flush",
            )
            .await
            .map_err(|e| NodeError::Timeout(format!("group {}: flush: {e}", g.id)))?;
        Ok(())
    }
}
