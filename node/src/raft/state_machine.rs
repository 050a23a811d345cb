//! The state machines of a node's groups: a shard group applies through the storage
//! [`Engine`]; the meta group applies to the small [`ClusterMap`], which its state machine
//! persists as a record in the raft-log database after every apply (key `0x02 | group |
//! "sm"`); the ruler group applies to the [`RulerState`], persisted the same way by each flush
//! (it is larger and changes every evaluation), the log after it replayed on start.
//!
//! A shard's state machine keeps its last applied log id and membership in memory; a flush
//! (which is also what an openraft snapshot of a shard is) first has the engine prepare its
//! encoding work (`Engine::prepare_flush`: sealed partitions, cut chunks, rollups) while
//! applies go on, then takes the state machine's mutex so no apply interleaves, encodes them as
//! `sm_meta` ([`ShardSmMeta`]) and calls `Engine::flush_prepared(shard, prepared, sm_meta)`,
//! which persists head, applied index and `sm_meta` atomically.
//! On start, the applied state comes from `Engine::flushed_state` and openraft replays the log
//! after it.
//!
//! Apply depends only on the entry and earlier state: it never reads the clock or options.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::{Stream, StreamExt};
use openraft::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use tidemark_storage::{Command, Engine, Flushed, LateSeals, ShardId};

use super::log_store::LogStore;
use super::shard_timings::{ShardTimings, timed};
use super::{LogId, Request, Response, StoredMembership, TypeConfig, codec, io_err};
use crate::meta::{ClusterMap, MetaCommand, MetadataMap};
use crate::ruler::record::RulerState;

/// Version of the [`ShardSmMeta`] layout.
const SM_FORMAT_VERSION: u32 = 1;

/// How many times a shard flush prepares its encoding work without the state machine's mutex
/// before it encodes what partitions were sealed meanwhile under it (`SmShared::flush_shard`).
const PREPARE_ATTEMPTS: usize = 3;

mod meta_record;
use meta_record::decode_meta_record;

/// Version of the [`MetaSmRecord`] layout: 2 added the cluster map's replica placement, 3 its
/// shard-map versions, 4 the ruler group's creator, 5 the retention policy, 6 API tokens, 7
/// metric metadata (in snapshots: the persisted record leaves it empty and the log database
/// keeps it per metric name, `LogStore::put_sm_record_with_metadata`).
const META_RECORD_VERSION: u32 = 7;

/// Version of the [`RulerSmRecord`] layout: 2 added the notifier's state (a version 1 record
/// is read as one with an empty notifier).
const RULER_RECORD_VERSION: u32 = 2;

/// What a shard flush records beside its data (`sm_meta`, bincode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardSmMeta {
    /// Layout version (1).
    pub version: u32,
    /// The last log id applied when the flush was taken.
    pub last_applied: Option<LogId>,
    /// The last membership applied when the flush was taken.
    pub membership: StoredMembership,
}

/// The meta group's persisted state (bincode, raft-log key `0x02 | 0 | "sm"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaSmRecord {
    /// Layout version ([`META_RECORD_VERSION`]).
    pub version: u32,
    /// The last applied log id.
    pub last_applied: Option<LogId>,
    /// The last applied membership.
    pub membership: StoredMembership,
    /// The cluster map.
    pub map: ClusterMap,
    /// Metric metadata: all of it in a snapshot, nothing in the persisted record.
    pub metadata: MetadataMap,
}

/// The ruler group's persisted state (bincode, raft-log key `0x02 | RULER_GROUP | "sm"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulerSmRecord {
    /// Layout version ([`RULER_RECORD_VERSION`]).
    pub version: u32,
    /// The last applied log id.
    pub last_applied: Option<LogId>,
    /// The last applied membership.
    pub membership: StoredMembership,
    /// Rule groups and their alert state.
    pub ruler: RulerState,
}

/// What a group's state machine applies to.
enum Target {
    Shard {
        shard: ShardId,
        engine: Arc<dyn Engine>,
        timings: ShardTimings,
    },
    Meta {
        log: LogStore,
    },
    Ruler {
        log: LogStore,
    },
}

#[derive(Default)]
struct State {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    map: ClusterMap,
    /// The meta group's metric metadata (kept apart from the map, which is copied often).
    metadata: MetadataMap,
    ruler: RulerState,
    /// The last log id the ruler group's persisted record covers (it is written by flushes,
    /// not by every apply: its state is large and changes every iteration).
    persisted: Option<LogId>,
    /// Set by [`SmShared::close`]: nothing changes the target any more.
    closed: bool,
}

impl State {
    fn check_open(&self) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::other("the group's state machine is closed"));
        }
        Ok(())
    }
}

/// State shared by a group's state machine, its snapshot builders and the node's handles.
pub struct SmShared {
    target: Target,
    state: Mutex<State>,
}

/// A group's state machine (what openraft drives). Cheap to clone.
#[derive(Clone)]
pub struct GroupStateMachine {
    shared: Arc<SmShared>,
}

/// A group's snapshot as openraft passes it around.
pub enum SnapshotData {
    /// In memory: the meta group's record, or what a shard flush returns (its `sm_meta`; a
    /// built snapshot is never sent, openraft asks for the current one).
    Bytes(Vec<u8>),
    /// A shard's current snapshot on the node that sends it: the shard is exported from the
    /// engine while it is streamed (`network.rs`), and the export must cover the snapshot's
    /// last log id.
    Export {
        shard: ShardId,
        engine: Arc<dyn Engine>,
    },
    /// A snapshot received from another node, in a file.
    File(SnapshotFile),
}

/// A received snapshot's file, removed when dropped.
pub struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotFile {
    /// Takes ownership of `path`: it is removed when the returned value is dropped.
    pub fn new(path: PathBuf) -> Self {
        SnapshotFile { path }
    }

    /// Where the snapshot is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a snapshot file");
        }
    }
}

/// The Raft meta (last log id, membership) recorded with a shard flush.
pub fn shard_snapshot_meta(sm_meta: &[u8]) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    let meta: ShardSmMeta = codec::decode(sm_meta)?;
    Ok(openraft::storage::SnapshotMeta {
        last_log_id: meta.last_applied,
        last_membership: meta.membership,
    })
}

impl GroupStateMachine {
    /// The state machine of shard `shard`, recovered from the engine's last flush; its flushes
    /// and seals observed in `timings`.
    pub fn shard(
        shard: ShardId,
        engine: Arc<dyn Engine>,
        timings: ShardTimings,
    ) -> io::Result<Self> {
        let mut state = State::default();
        if let Some((_index, sm_meta)) = engine.flushed_state(shard).map_err(io_err)? {
            let meta: ShardSmMeta = codec::decode(&sm_meta)?;
            state.last_applied = meta.last_applied;
            state.membership = meta.membership;
        }
        Ok(Self::new(
            Target::Shard {
                shard,
                engine,
                timings,
            },
            state,
        ))
    }

    /// The meta group's state machine, recovered from its persisted record.
    pub fn meta(log: LogStore) -> io::Result<Self> {
        let mut state = State::default();
        if let Some(bytes) = log.get_sm_record()? {
            let rec = decode_meta_record(&bytes)?;
            state.last_applied = rec.last_applied;
            state.membership = rec.membership;
            state.map = rec.map;
            state.metadata = log.metadata()?;
        }
        Ok(Self::new(Target::Meta { log }, state))
    }

    /// The ruler group's state machine, recovered from its persisted record.
    pub fn ruler(log: LogStore) -> io::Result<Self> {
        let mut state = State::default();
        if let Some(bytes) = log.get_sm_record()? {
            let rec = decode_ruler_record(&bytes)?;
            state.last_applied = rec.last_applied;
            state.membership = rec.membership;
            state.ruler = rec.ruler;
            state.persisted = rec.last_applied;
        }
        Ok(Self::new(Target::Ruler { log }, state))
    }

    fn new(target: Target, state: State) -> Self {
        GroupStateMachine {
            shared: Arc::new(SmShared {
                target,
                state: Mutex::new(state),
            }),
        }
    }

    /// A handle for reading the state machine's state from outside openraft.
    pub fn shared(&self) -> Arc<SmShared> {
        self.shared.clone()
    }
}

impl SmShared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned mutex means an apply panicked; the state it guards is plain data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.lock().last_applied
    }

    /// Makes every later apply, flush and snapshot install fail, once the one in progress (if
    /// any) has finished: for a group that was shut down and whose target is about to be
    /// deleted, since openraft's state-machine task may still be finishing.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// The nodes (voters and learners) of the last applied membership.
    pub fn members(&self) -> Vec<super::NodeId> {
        self.lock()
            .membership
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect()
    }

    /// The cluster map (meta group; default for shard groups).
    pub fn cluster_map(&self) -> ClusterMap {
        self.lock().map.clone()
    }

    /// `f` of the cluster map, without copying it.
    pub fn with_cluster_map<R>(&self, f: impl FnOnce(&ClusterMap) -> R) -> R {
        f(&self.lock().map)
    }

    /// `f` of the metric metadata (meta group; empty for the others), without copying it.
    pub fn with_metadata<R>(&self, f: impl FnOnce(&MetadataMap) -> R) -> R {
        f(&self.lock().metadata)
    }

    /// `f` of the ruler state (ruler group; empty for the others), without copying it.
    pub fn with_ruler<R>(&self, f: impl FnOnce(&RulerState) -> R) -> R {
        f(&self.lock().ruler)
    }

    fn apply_entry(&self, entry: &openraft::alias::EntryOf<TypeConfig>) -> io::Result<()> {
        let mut st = self.lock();
        st.check_open()?;
        let index = entry.log_id.index();
        match &entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                st.membership = StoredMembership::new(Some(entry.log_id), m.clone());
            }
            EntryPayload::Normal(req) => match (&self.target, req) {
                (
                    Target::Shard {
                        shard,
                        engine,
                        timings,
                    },
                    Request::Shard(bytes),
                ) => {
                    let cmd = decode_command(bytes)?;
                    let apply = || engine.apply(*shard, index, &cmd);
                    match cmd {
                        Command::Seal { .. } => timed(&timings.seal_apply, apply),
                        _ => apply(),
                    }
                    .map_err(io_err)?;
                }
                (
                    Target::Meta { log },
                    Request::Meta(MetaCommand::SetMetadata { entries, names_max }),
                ) => {
                    let changed = st.metadata.apply(entries, *names_max);
                    st.last_applied = Some(entry.log_id);
                    let rec = meta_record(&st, false)?;
                    let md = &st.metadata;
                    let rows = changed.iter().map(|name| (name.as_str(), md.get(name)));
                    return log.put_sm_record_with_metadata(&rec, rows);
                }
                (Target::Meta { .. }, Request::Meta(cmd)) => st.map.apply(cmd),
                (Target::Ruler { .. }, Request::Ruler(cmd)) => st.ruler.apply(index, cmd),
                // A payload for the other kind of group is a bug of the proposer; skipping it is
                // deterministic on every replica.
                (_, other) => {
                    tracing::error!(index, payload = %other, "entry for another kind of group skipped")
                }
            },
        }
        st.last_applied = Some(entry.log_id);
        match &self.target {
            Target::Meta { log } => log.put_sm_record(&meta_record(&st, false)?)?,
            // The log after the last flush is kept until the next one: a restart replays it.
            Target::Ruler { .. } | Target::Shard { .. } => {}
        }
        Ok(())
    }

    /// Persists the state (shard: flushes the engine with `sm_meta`) and returns it as a
    /// snapshot, holding the mutex while it writes so that no apply interleaves. A shard's
    /// encoding work is prepared first, while applies go on (see [`SmShared::flush_shard`]).
    pub fn flush(&self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let (st, data) = match &self.target {
            Target::Shard {
                shard,
                engine,
                timings,
            } => self.flush_shard(*shard, &**engine, timings)?,
            Target::Meta { log } => {
                let st = self.lock();
                st.check_open()?;
                log.put_sm_record(&meta_record(&st, false)?)?;
                let snapshot = meta_record(&st, true)?;
                (st, snapshot)
            }
            Target::Ruler { log } => {
                let mut st = self.lock();
                st.check_open()?;
                let rec = codec::encode(&ruler_record(&st))?;
                log.put_sm_record(&rec)?;
                st.persisted = st.last_applied;
                (st, rec)
            }
        };
        Ok(snapshot(
            st.last_applied,
            st.membership.clone(),
            SnapshotData::Bytes(data),
        ))
    }

    /// Flushes a shard: its encoding work (`Engine::prepare_flush`) without the mutex, then the
    /// write under it. A partition sealed meanwhile (its encoding is the longest work) hands
    /// the preparation back to be completed without the mutex again, up to
    /// [`PREPARE_ATTEMPTS`] times; the last attempt encodes whatever is left under it. Returns
    /// the mutex still held, with the `sm_meta` written.
    fn flush_shard(
        &self,
        shard: ShardId,
        engine: &dyn Engine,
        timings: &ShardTimings,
    ) -> io::Result<(MutexGuard<'_, State>, Vec<u8>)> {
        let started = std::time::Instant::now();
        self.lock().check_open()?;
        let mut prepared = engine.prepare_flush(shard, None).map_err(io_err)?;
        // Every attempt's time holding the mutex (waiting for it included), observed once.
        let mut paused = std::time::Duration::ZERO;
        for attempt in 1.. {
            let pause_started = std::time::Instant::now();
            let st = self.lock();
            st.check_open()?;
            let sm_meta = codec::encode(&ShardSmMeta {
                version: SM_FORMAT_VERSION,
                last_applied: st.last_applied,
                membership: st.membership.clone(),
            })?;
            let late = if attempt < PREPARE_ATTEMPTS {
                LateSeals::Return
            } else {
                LateSeals::Encode
            };
            let flushed = engine.flush_prepared(shard, prepared, &sm_meta, late);
            paused += pause_started.elapsed();
            match flushed.map_err(io_err)? {
                Flushed::Index(_) => {
                    timings.flush_pause.observe(paused.as_secs_f64());
                    timings.flush.observe(started.elapsed().as_secs_f64());
                    return Ok((st, sm_meta));
                }
                Flushed::Unprepared(p) => {
                    drop(st);
                    prepared = engine.prepare_flush(shard, Some(p)).map_err(io_err)?;
                }
            }
        }
        unreachable!("the last attempt flushes")
    }

    /// The last log index covered by the last flush of a shard or of the ruler group (`None`
    /// before the first flush); the applied index for the meta group, which persists on every
    /// apply.
    pub fn flushed_index(&self) -> io::Result<Option<u64>> {
        match &self.target {
            Target::Shard { shard, engine, .. } => {
                let Some((_index, sm_meta)) = engine.flushed_state(*shard).map_err(io_err)? else {
                    return Ok(None);
                };
                let meta: ShardSmMeta = codec::decode(&sm_meta)?;
                Ok(meta.last_applied.map(|l| l.index()))
            }
            Target::Meta { .. } => Ok(self.last_applied().map(|l| l.index())),
            Target::Ruler { .. } => Ok(self.lock().persisted.map(|l| l.index())),
        }
    }

    fn current_snapshot(&self) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        match &self.target {
            Target::Shard { shard, engine, .. } => {
                let Some((_index, sm_meta)) = engine.flushed_state(*shard).map_err(io_err)? else {
                    return Ok(None);
                };
                let meta = shard_snapshot_meta(&sm_meta)?;
                let data = SnapshotData::Export {
                    shard: *shard,
                    engine: engine.clone(),
                };
                Ok(Some(snapshot(meta.last_log_id, meta.last_membership, data)))
            }
            // Every apply persists the meta group's state: the applied state is the persisted one.
            Target::Meta { .. } => {
                let st = self.lock();
                if st.last_applied.is_none() {
                    return Ok(None);
                }
                let bytes = meta_record(&st, true)?;
                Ok(Some(snapshot(
                    st.last_applied,
                    st.membership.clone(),
                    SnapshotData::Bytes(bytes),
                )))
            }
            Target::Ruler { log } => {
                let Some(bytes) = log.get_sm_record()? else {
                    return Ok(None);
                };
                let rec = decode_ruler_record(&bytes)?;
                Ok(Some(snapshot(
                    rec.last_applied,
                    rec.membership,
                    SnapshotData::Bytes(bytes),
                )))
            }
        }
    }
}

impl SmShared {
    /// Replaces the state with a snapshot from another node (holding the mutex throughout).
    fn install(&self, meta: &SnapshotMetaOf<TypeConfig>, snapshot: SnapshotData) -> io::Result<()> {
        let mismatch = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} snapshot does not match its meta"),
            )
        };
        let mut st = self.lock();
        st.check_open()?;
        match (&self.target, snapshot) {
            (Target::Shard { shard, engine, .. }, SnapshotData::File(file)) => {
                let mut input = io::BufReader::new(std::fs::File::open(file.path())?);
                // Checked before anything changes: the engine refuses a damaged stream.
                let (_index, sm_meta) = engine.import_shard(*shard, &mut input).map_err(io_err)?;
                let got = shard_snapshot_meta(&sm_meta)?;
                if got.last_log_id != meta.last_log_id {
                    // The shard now holds the snapshot's state; recording its own log id keeps
                    // the state machine truthful, and openraft stops on the error.
                    st.last_applied = got.last_log_id;
                    st.membership = got.last_membership;
                    return Err(mismatch("shard"));
                }
                tracing::info!(shard, last_log_id = ?got.last_log_id, "installed a shard snapshot");
                st.last_applied = got.last_log_id;
                st.membership = got.last_membership;
                Ok(())
            }
            (Target::Meta { log }, SnapshotData::Bytes(bytes)) => {
                let mut rec = decode_meta_record(&bytes)?;
                if rec.last_applied != meta.last_log_id {
                    return Err(mismatch("meta"));
                }
                let metadata = std::mem::take(&mut rec.metadata);
                log.replace_sm_record_and_metadata(&codec::encode(&rec)?, &metadata)?;
                st.last_applied = rec.last_applied;
                st.membership = rec.membership;
                st.map = rec.map;
                st.metadata = metadata;
                Ok(())
            }
            (Target::Ruler { log }, SnapshotData::Bytes(bytes)) => {
                let rec = decode_ruler_record(&bytes)?;
                if rec.last_applied != meta.last_log_id {
                    return Err(mismatch("ruler"));
                }
                log.put_sm_record(&bytes)?;
                st.last_applied = rec.last_applied;
                st.membership = rec.membership;
                st.ruler = rec.ruler;
                st.persisted = rec.last_applied;
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a snapshot of the wrong kind for this group",
            )),
        }
    }
}

/// [`MetaSmRecord`] borrowed from the state, serialized alike (no copy of the metadata).
#[derive(Serialize)]
struct MetaSmRecordRef<'a> {
    version: u32,
    last_applied: &'a Option<LogId>,
    membership: &'a StoredMembership,
    map: &'a ClusterMap,
    metadata: &'a MetadataMap,
}

/// The meta group's record of `st`, encoded; with its metadata for a snapshot, without it to
/// persist.
fn meta_record(st: &State, with_metadata: bool) -> io::Result<Vec<u8>> {
    let none = MetadataMap::default();
    Ok(codec::encode(&MetaSmRecordRef {
        version: META_RECORD_VERSION,
        last_applied: &st.last_applied,
        membership: &st.membership,
        map: &st.map,
        metadata: if with_metadata { &st.metadata } else { &none },
    })?)
}

fn ruler_record(st: &State) -> RulerSmRecord {
    RulerSmRecord {
        version: RULER_RECORD_VERSION,
        last_applied: st.last_applied,
        membership: st.membership.clone(),
        ruler: st.ruler.clone(),
    }
}

fn decode_ruler_record(bytes: &[u8]) -> io::Result<RulerSmRecord> {
    /// Version 1: rule groups only.
    #[derive(Deserialize)]
    struct RulerSmRecordV1 {
        version: u32,
        last_applied: Option<LogId>,
        membership: StoredMembership,
        namespaces: BTreeMap<String, crate::ruler::record::Namespace>,
    }
    if let Ok(v1) = codec::decode::<RulerSmRecordV1>(bytes)
        && v1.version == 1
    {
        return Ok(RulerSmRecord {
            version: RULER_RECORD_VERSION,
            last_applied: v1.last_applied,
            membership: v1.membership,
            ruler: RulerState {
                namespaces: v1.namespaces,
                ..Default::default()
            },
        });
    }
    let rec: RulerSmRecord = codec::decode(bytes)?;
    if rec.version != RULER_RECORD_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "ruler state record version {} is not supported",
                rec.version
            ),
        ));
    }
    Ok(rec)
}

fn snapshot(
    last_applied: Option<LogId>,
    membership: StoredMembership,
    data: SnapshotData,
) -> SnapshotOf<TypeConfig, SnapshotData> {
    openraft::storage::Snapshot {
        meta: openraft::storage::SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
        },
        snapshot: data,
    }
}

/// Decodes a shard command carried in a log entry.
pub fn decode_command(bytes: &[u8]) -> io::Result<Command> {
    Command::decode(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Encodes a shard command for a log entry.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    cmd.encode()
}

/// Builds a snapshot by flushing (see [`SmShared::flush`]).
pub struct FlushSnapshotBuilder {
    shared: Arc<SmShared>,
}

impl RaftSnapshotBuilder<TypeConfig> for FlushSnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotData>, io::Error> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.flush())
            .await
            .map_err(io_err)?
    }
}

impl RaftStateMachine<TypeConfig> for GroupStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = FlushSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let st = self.shared.lock();
        Ok((st.last_applied, st.membership.clone()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            self.shared.apply_entry(&entry)?;
            if let Some(responder) = responder {
                responder.send(Response {});
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        FlushSnapshotBuilder {
            shared: self.shared.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let shared = self.shared.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || shared.install(&meta, snapshot))
            .await
            .map_err(io_err)?
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotData>>, io::Error> {
        self.shared.current_snapshot()
    }
}

#[cfg(test)]
mod metadata_tests;

#[cfg(test)]
mod ruler_record_tests {
    use super::*;

    #[test]
    fn a_version_1_ruler_record_reads_as_one_with_an_empty_notifier() {
        /// Version 1's layout, written by the ruler before the notifier existed.
        #[derive(Serialize)]
        struct V1 {
            version: u32,
            last_applied: Option<LogId>,
            membership: StoredMembership,
            namespaces: BTreeMap<String, crate::ruler::record::Namespace>,
        }
        let mut namespaces = BTreeMap::new();
        namespaces.insert(
            "ns".to_string(),
            crate::ruler::record::Namespace {
                origin: crate::ruler::record::Origin::Api,
                groups: Vec::new(),
            },
        );
        let bytes = codec::encode(&V1 {
            version: 1,
            last_applied: None,
            membership: StoredMembership::default(),
            namespaces: namespaces.clone(),
        })
        .unwrap();
        let rec = decode_ruler_record(&bytes).unwrap();
        assert_eq!(rec.version, RULER_RECORD_VERSION);
        assert_eq!(rec.ruler.namespaces, namespaces);
        assert_eq!(rec.ruler.notifier, Default::default());
        // And the current layout round-trips.
        let again = codec::encode(&rec).unwrap();
        assert_eq!(decode_ruler_record(&again).unwrap(), rec);
    }
}
