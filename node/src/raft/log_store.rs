//! The Raft log of every group on a node, in one RocksDB instance of its own
//! (`<data_dir>/raft-log`, never the data RocksDB) so that log fsyncs and data compactions do
//! not contend. The log is the write-ahead log of the shards: there is no other.
//!
//! # Key layout (default column family; integers big-endian so keys sort by them)
//! | key | value |
//! |---|---|
//! | `0x01` group:u64 index:u64 | a log entry (`codec`: openraft `Entry<TypeConfig>`) |
//! | `0x02` group:u64 `"vote"` | the group's vote (`codec`), written with sync |
//! | `0x02` group:u64 `"purged"` | last purged log id (`codec`) |
//! | `0x02` group:u64 `"committed"` | last known committed log id (`codec`, not synced) |
//! | `0x02` group:u64 `"sm"` | a small state machine's state (the meta group, see `meta.rs`) |
//! | `0x02` group:u64 `"md/"` name | the meta group's metadata of metric `name` (`codec`: its entries, `meta/metadata.rs`) |
//! | `0x03` name | node-wide records (`"cluster"`: see `meta::ClusterFile`) |
//!
//! Durability: appends and votes are written with `sync = true` before openraft is told the
//! I/O is flushed, so an acknowledged entry is on disk. Purges delete below a log id that is
//! covered by a flush of the state machine (openraft only purges up to its snapshot, and a
//! snapshot is a flush).
//!
//! A write that fails (a failed fsync, no space, an I/O error) is never retried on the same
//! files: after a failed fsync the kernel may have dropped the dirty pages and report the next
//! fsync clean, so what the database holds in memory no longer says what is on disk. The first
//! failure is recorded ([`LogDb::failed`]); every later write of this process fails at once
//! without touching the database, and the node stops (`server.rs`) so that the next start
//! reopens the log and replays only what is durable, as PostgreSQL does after a failed fsync.
//! Nothing the failed write carried was acknowledged.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::OptionalSend;
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch, WriteOptions};
use tidemark_storage::rocks::memory::{MemoryBudget, MemoryUsage};

use super::codec;
use super::{GroupId, TypeConfig, io_err};
use crate::error::NodeError;
use crate::meta::MetadataMap;
use tidemark_ingest::MetricMetadata;

const PREFIX_LOG: u8 = 0x01;
const PREFIX_GROUP_META: u8 = 0x02;
const PREFIX_NODE: u8 = 0x03;

const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"purged";
const KEY_COMMITTED: &[u8] = b"committed";
/// The last log id a replica had when it was emptied (`clear_keeping_vote`): it votes only for
/// candidates whose log reaches it.
const KEY_VOTE_FLOOR: &[u8] = b"vote_floor";
/// Key of a small state machine's persisted state (the meta group's).
pub(crate) const KEY_SM: &[u8] = b"sm";
/// Prefix of the meta group's metric metadata keys (a metric name follows).
const KEY_METADATA: &[u8] = b"md/";
/// The first key name after every [`KEY_METADATA`] key (`'0'` follows `'/'`).
const KEY_METADATA_END: &[u8] = b"md0";

/// The shared log database of a node.
#[derive(Clone)]
pub struct LogDb {
    db: Arc<DB>,
    failure: Arc<Failure>,
    sync_seconds: Histogram,
    /// What its cache and memtables may hold.
    budget: MemoryBudget,
}

/// Synced writes of the log: 100 µs to about 3 s.
fn sync_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// The first failed write of a log database, if any.
#[derive(Default)]
struct Failure {
    first: std::sync::OnceLock<String>,
    noticed: tokio::sync::Notify,
}

impl Failure {
    /// Fails fast once a write has failed.
    fn check(&self) -> io::Result<()> {
        match self.first.get() {
            None => Ok(()),
            Some(first) => Err(io::Error::other(format!(
                "the Raft log is not written again by this process after a failed write \
                 ({first}); the node stops to reopen and replay it"
            ))),
        }
    }

    /// Records `error` as the failure (the first one wins) and passes it on.
    fn record<E: std::fmt::Display>(&self, error: E) -> E {
        if self.first.set(error.to_string()).is_ok() {
            tracing::error!(error = %error, "a write of the Raft log failed");
            self.noticed.notify_waiters();
        }
        error
    }
}

impl LogDb {
    /// Opens (creating if needed) the log database at `path` with the smallest memory
    /// budget (tests).
    pub fn open(path: &Path) -> Result<LogDb, NodeError> {
        Self::open_with_budget(path, MemoryBudget::new(0))
    }

    /// Opens (creating if needed) the log database at `path`, its cache and memtables within
    /// `budget`.
    pub fn open_with_budget(path: &Path, budget: MemoryBudget) -> Result<LogDb, NodeError> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        budget.apply_to_db(&mut opts);
        tidemark_storage::rocks::set_file_options(&mut opts);
        let db = DB::open(&opts, path)
            .map_err(|e| NodeError::LogStore(format!("open {}: {e}", path.display())))?;
        Ok(LogDb {
            db: Arc::new(db),
            failure: Arc::default(),
            sync_seconds: sync_buckets(),
            budget,
        })
    }

    /// What the log's cache and memtables hold now (`/metrics`, `/api/v1/status/tsdb`).
    pub fn memory(&self) -> MemoryUsage {
        self.budget.usage()
    }

    /// The latency of this log's synced writes (`/metrics`).
    pub fn sync_seconds(&self) -> Histogram {
        self.sync_seconds.clone()
    }

    /// Returns, once a write of this log has failed, what failed: from then on the log is not
    /// written again by this process.
    pub async fn failed(&self) -> String {
        loop {
            let noticed = self.failure.noticed.notified();
            if let Some(first) = self.failure.first.get() {
                return first.clone();
            }
            noticed.await;
        }
    }

    /// Writes `batch`, synced, unless an earlier write failed; records a failure.
    fn write_sync(&self, batch: WriteBatch, what: &str) -> Result<(), NodeError> {
        let write = || -> io::Result<()> {
            self.failure.check()?;
            self.db
                .write_opt(batch, &sync_opts())
                .map_err(|e| self.failure.record(io_err(e)))
        };
        write().map_err(|e| NodeError::LogStore(format!("{what}: {e}")))
    }

    /// Flushes the memtable and compacts the whole log database, so that purged entries (range
    /// tombstones until then) leave the disk. Blocking: call from a blocking task.
    pub fn compact_blocking(&self) -> Result<(), NodeError> {
        let flush = || -> io::Result<()> {
            self.failure.check()?;
            self.db.flush().map_err(|e| self.failure.record(io_err(e)))
        };
        flush().map_err(|e| NodeError::LogStore(format!("flush: {e}")))?;
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(())
    }

    /// How many handles (this one, log stores, readers) share the database.
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.db)
    }

    /// The log store of group `group`.
    pub fn store(&self, group: GroupId) -> LogStore {
        LogStore {
            db: self.db.clone(),
            failure: self.failure.clone(),
            sync_seconds: self.sync_seconds.clone(),
            group,
        }
    }

    /// Reads a node-wide record.
    pub fn get_node_record(&self, name: &str) -> Result<Option<Vec<u8>>, NodeError> {
        self.db
            .get(node_key(name))
            .map_err(|e| NodeError::LogStore(format!("read {name}: {e}")))
    }

    /// Writes a node-wide record durably (sync).
    pub fn put_node_record_sync(&self, name: &str, value: &[u8]) -> Result<(), NodeError> {
        let mut batch = WriteBatch::default();
        batch.put(node_key(name), value);
        self.write_sync(batch, &format!("write {name}"))
    }

    /// Deletes a node-wide record durably (sync).
    pub fn delete_node_record_sync(&self, name: &str) -> Result<(), NodeError> {
        let mut batch = WriteBatch::default();
        batch.delete(node_key(name));
        self.write_sync(batch, &format!("delete {name}"))
    }
}

/// The log of one group, a view of the shared [`LogDb`]. Cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    failure: Arc<Failure>,
    sync_seconds: Histogram,
    group: GroupId,
}

fn sync_opts() -> WriteOptions {
    let mut o = WriteOptions::default();
    o.set_sync(true);
    o
}

fn node_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(PREFIX_NODE);
    k.extend_from_slice(name.as_bytes());
    k
}

fn log_key(group: GroupId, index: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = PREFIX_LOG;
    k[1..9].copy_from_slice(&group.to_be_bytes());
    k[9..17].copy_from_slice(&index.to_be_bytes());
    k
}

/// The keys of every metric's metadata in `group`: from the first up to (excluding) the end.
fn metadata_range(group: GroupId) -> (Vec<u8>, Vec<u8>) {
    (
        meta_key(group, KEY_METADATA),
        meta_key(group, KEY_METADATA_END),
    )
}

/// The key of metric `name`'s metadata in `group`.
fn metadata_key(group: GroupId, name: &str) -> Vec<u8> {
    let mut k = meta_key(group, KEY_METADATA);
    k.extend_from_slice(name.as_bytes());
    k
}

fn meta_key(group: GroupId, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + name.len());
    k.push(PREFIX_GROUP_META);
    k.extend_from_slice(&group.to_be_bytes());
    k.extend_from_slice(name);
    k
}

impl LogStore {
    /// The group this log belongs to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, name: &[u8]) -> io::Result<Option<T>> {
        match self.db.get(meta_key(self.group, name)).map_err(io_err)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
        }
    }

    /// Reads the group's small-state-machine record (raw bytes).
    pub(crate) fn get_sm_record(&self) -> io::Result<Option<Vec<u8>>> {
        self.db.get(meta_key(self.group, KEY_SM)).map_err(io_err)
    }

    /// Writes the group's small-state-machine record. Not synced: the log it was applied from is,
    /// and RocksDB's single WAL orders this write before any later (synced) purge.
    pub(crate) fn put_sm_record(&self, value: &[u8]) -> io::Result<()> {
        self.failure.check()?;
        self.db
            .put(meta_key(self.group, KEY_SM), value)
            .map_err(|e| self.failure.record(io_err(e)))
    }

    /// Writes the group's small-state-machine record and the metadata of the metric names
    /// given (`None`: none any more) in one write, unsynced as [`LogStore::put_sm_record`].
    pub(crate) fn put_sm_record_with_metadata<'a>(
        &self,
        record: &[u8],
        names: impl IntoIterator<Item = (&'a str, Option<&'a [MetricMetadata]>)>,
    ) -> io::Result<()> {
        let mut batch = WriteBatch::default();
        batch.put(meta_key(self.group, KEY_SM), record);
        for (name, entries) in names {
            let key = metadata_key(self.group, name);
            match entries {
                Some(e) => batch.put(key, codec::encode(&e)?),
                None => batch.delete(key),
            }
        }
        self.write_now(batch)
    }

    /// Replaces the group's small-state-machine record and all its metadata (a snapshot was
    /// installed), in one write.
    pub(crate) fn replace_sm_record_and_metadata(
        &self,
        record: &[u8],
        metadata: &MetadataMap,
    ) -> io::Result<()> {
        let mut batch = WriteBatch::default();
        let (start, end) = metadata_range(self.group);
        batch.delete_range(start, end);
        batch.put(meta_key(self.group, KEY_SM), record);
        for (name, entries) in metadata.iter() {
            batch.put(metadata_key(self.group, name), codec::encode(entries)?);
        }
        self.write_now(batch)
    }

    /// The group's metric metadata as [`LogStore::put_sm_record_with_metadata`] wrote it.
    pub(crate) fn metadata(&self) -> io::Result<MetadataMap> {
        let (start, end) = metadata_range(self.group);
        let mut entries = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = item.map_err(io_err)?;
            if *key >= *end {
                break;
            }
            let name = std::str::from_utf8(&key[start.len()..]).map_err(io_err)?;
            entries.push((name.to_string(), codec::decode(&value)?));
        }
        Ok(MetadataMap::from_entries(entries))
    }

    /// Writes `batch` at once, unsynced (see [`LogStore::put_sm_record`]).
    fn write_now(&self, batch: WriteBatch) -> io::Result<()> {
        self.failure.check()?;
        self.db
            .write_opt(batch, &WriteOptions::default())
            .map_err(|e| self.failure.record(io_err(e)))
    }

    /// The vote floor recorded when the replica was last emptied, if any.
    pub(crate) fn vote_floor(&self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        self.get_meta(KEY_VOTE_FLOOR)
    }

    /// Deletes the group's log (entries, purge and commit marks, state-machine record) but not
    /// its vote, in one synced write, and records the last log id it had as the vote floor:
    /// the replica starts over empty, cannot vote twice in a term it has voted in, and grants
    /// no vote the full replica would have refused for a short log (`raft::network`).
    /// Idempotent: run again on an emptied log, it keeps the floor it recorded.
    pub(crate) async fn clear_keeping_vote(&self) -> io::Result<()> {
        let purged: Option<LogIdOf<TypeConfig>> = self.get_meta(KEY_PURGED)?;
        let last = self.last_entry_log_id()?.or(purged);
        let floor = last.max(self.vote_floor()?);
        let mut batch = WriteBatch::default();
        if let Some(f) = &floor {
            batch.put(meta_key(self.group, KEY_VOTE_FLOOR), codec::encode(f)?);
        }
        batch.delete_range(log_key(self.group, 0), log_key(self.group, u64::MAX));
        batch.delete(log_key(self.group, u64::MAX));
        for name in [KEY_PURGED, KEY_COMMITTED, KEY_SM] {
            batch.delete(meta_key(self.group, name));
        }
        let (start, end) = metadata_range(self.group);
        batch.delete_range(start, end);
        self.write(batch, true).await
    }

    async fn write(&self, batch: WriteBatch, sync: bool) -> io::Result<()> {
        self.failure.check()?;
        let (db, sync_seconds) = (self.db.clone(), self.sync_seconds.clone());
        tokio::task::spawn_blocking(move || {
            if !sync {
                return db.write_opt(batch, &WriteOptions::default());
            }
            let started = std::time::Instant::now();
            let written = db.write_opt(batch, &sync_opts());
            sync_seconds.observe(started.elapsed().as_secs_f64());
            written
        })
        .await
        .map_err(io_err)?
        .map_err(|e| self.failure.record(io_err(e)))
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        let upper = log_key(self.group, u64::MAX);
        let mut it = self
            .db
            .iterator(IteratorMode::From(&upper, Direction::Reverse));
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.map_err(io_err)?;
                if key.len() != 17 || key[0] != PREFIX_LOG || key[1..9] != self.group.to_be_bytes()
                {
                    return Ok(None);
                }
                let entry: EntryOf<TypeConfig> = codec::decode(&value)?;
                Ok(Some(entry.log_id()))
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let start_key = log_key(self.group, start);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start_key, Direction::Forward))
        {
            let (key, value) = item.map_err(io_err)?;
            if key.len() != 17 || key[0] != PREFIX_LOG || key[1..9] != self.group.to_be_bytes() {
                break;
            }
            let index = u64::from_be_bytes(key[9..17].try_into().map_err(io_err)?);
            if !range.contains(&index) {
                break;
            }
            let entry: EntryOf<TypeConfig> = codec::decode(&value)?;
            out.push(entry);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        self.get_meta(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = self.get_meta(KEY_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put(meta_key(self.group, KEY_VOTE), codec::encode(vote)?);
        self.write(batch, true).await
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        match committed {
            Some(c) => batch.put(meta_key(self.group, KEY_COMMITTED), codec::encode(&c)?),
            None => batch.delete(meta_key(self.group, KEY_COMMITTED)),
        }
        self.write(batch, false).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        self.get_meta(KEY_COMMITTED)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            batch.put(log_key(self.group, entry.index()), codec::encode(&entry)?);
        }
        // Durable before answered: the synced write returns after the WAL is fsync'd.
        let res = self.write(batch, true).await;
        match res {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        let mut batch = WriteBatch::default();
        batch.delete_range(log_key(self.group, from), log_key(self.group, u64::MAX));
        self.write(batch, true).await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        // The purged marker first (same batch): entries at or below it are never read again.
        batch.put(meta_key(self.group, KEY_PURGED), codec::encode(&log_id)?);
        batch.delete_range(
            log_key(self.group, 0),
            log_key(self.group, log_id.index() + 1),
        );
        self.write(batch, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After one failed write nothing more is written by this process, and whoever waits for
    /// a failure (the server, which then stops the node) hears of it.
    #[tokio::test]
    async fn after_a_failed_write_the_log_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = LogDb::open(dir.path()).unwrap();
        db.put_node_record_sync("before", b"1").unwrap();
        let waiter = tokio::spawn({
            let db = db.clone();
            async move { db.failed().await }
        });
        tokio::task::yield_now().await;
        db.failure
            .record(io::Error::other("fsync: Input/output error"));
        assert_eq!(waiter.await.unwrap(), "fsync: Input/output error");
        // Later waiters hear of it at once.
        assert_eq!(db.failed().await, "fsync: Input/output error");

        let e = db.put_node_record_sync("after", b"1").unwrap_err();
        assert!(e.to_string().contains("not written again"), "{e}");
        assert_eq!(db.get_node_record("after").unwrap(), None);
        let mut store = db.store(1);
        let e = store
            .save_vote(&VoteOf::<TypeConfig>::new(1, 1))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not written again"), "{e}");
        assert_eq!(store.read_vote().await.unwrap(), None);
        // Reads go on.
        assert_eq!(db.get_node_record("before").unwrap(), Some(b"1".to_vec()));
    }
}
