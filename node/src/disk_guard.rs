//! Turns writes away before the disk is full (`free_space_reserve_bytes`): RocksDB and the
//! Raft log fail hard when a write finds no space, so below the reserve a shard leader refuses
//! new samples with a retryable 503 (`Retry-After`) instead, before anything is proposed:
//! nothing acknowledged is lost, queries keep working, and writes resume by themselves once
//! space returns (retention, a deleted file, a bigger volume), without a restart.
//!
//! The free space of the data directory's filesystem is read every second. Only this node's
//! disk is watched: a follower whose disk fills while its leader's does not still fails at
//! its next log append.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::NodeError;

/// How often the free space is read.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The free space of one data directory against its reserve.
#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    reserve_bytes: u64,
    free_bytes: AtomicU64,
    low: AtomicBool,
}

impl DiskGuard {
    /// A guard of `dir`'s filesystem, read once now.
    pub fn new(dir: PathBuf, reserve_bytes: u64) -> Arc<Self> {
        let guard = Arc::new(DiskGuard {
            dir,
            reserve_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
        });
        guard.check();
        guard
    }

    /// Reads the free space again; logs when writes stop or resume.
    pub fn check(&self) {
        let free = match fs4::available_space(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read free disk space");
                return;
            }
        };
        self.free_bytes.store(free, Ordering::Relaxed);
        let low = free < self.reserve_bytes;
        if self.low.swap(low, Ordering::AcqRel) != low {
            if low {
                tracing::error!(
                    free_bytes = free,
                    reserve_bytes = self.reserve_bytes,
                    "disk almost full: writes are refused until space returns (queries go on)"
                );
            } else {
                tracing::info!(free_bytes = free, "disk space is back: writes resume");
            }
        }
    }

    /// Why a write must be refused now, if it must.
    pub fn refusal(&self) -> Option<NodeError> {
        if !self.low.load(Ordering::Acquire) {
            return None;
        }
        Some(NodeError::Unavailable(format!(
            "the disk of this shard's leader has {} bytes free, below free_space_reserve_bytes \
             ({}): writes are refused until space returns; nothing was written",
            self.free_bytes.load(Ordering::Relaxed),
            self.reserve_bytes
        )))
    }

    /// The reserve below which writes are refused.
    pub fn reserve_bytes(&self) -> u64 {
        self.reserve_bytes
    }

    /// Free bytes at the last reading.
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Relaxed)
    }

    /// Reads the free space every second while the guard lives.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                let Some(guard) = this.upgrade() else {
                    return;
                };
                guard.check();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_reserve_writes_are_refused_and_above_they_pass() {
        let dir = tempfile::tempdir().unwrap();
        let roomy = DiskGuard::new(dir.path().to_path_buf(), 0);
        assert!(roomy.refusal().is_none());
        assert!(roomy.free_bytes() > 0);
        let cramped = DiskGuard::new(dir.path().to_path_buf(), u64::MAX);
        let e = cramped.refusal().expect("refused");
        assert_eq!(e.kind(), crate::error::ErrorKind::Unavailable);
        assert!(e.to_string().contains("free_space_reserve_bytes"), "{e}");
    }
}
