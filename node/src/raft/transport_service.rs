//! The server side of the gRPC Raft transport (`tidemark.raft.v1.RaftTransport`): decodes each
//! message and hands it to its group on this node; receives streamed snapshots into memory
//! (the meta group) or a file (a shard).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use openraft::alias::VoteOf;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_proto::raft::raft_transport_server::{RaftTransport, RaftTransportServer};
use tidemark_proto::raft::{RaftReply, RaftRequest, SnapshotChunk};

use super::codec;
use super::counters::RaftCounters;
use super::network::WIRE_VERSION;
use super::state_machine::{SnapshotData, SnapshotFile};
use super::{GroupId, LogId, RaftGroup, TypeConfig, group_shard};

/// The groups of this node that the server dispatches to; groups may be added while serving.
#[derive(Clone, Default)]
pub struct GroupRegistry {
    groups: Arc<RwLock<BTreeMap<GroupId, RaftGroup>>>,
    /// Vote floors of emptied replicas (`LogStore::vote_floor`).
    floors: Arc<RwLock<BTreeMap<GroupId, LogId>>>,
}

impl GroupRegistry {
    /// Registers (or replaces) group `group`.
    pub fn insert(&self, group: GroupId, raft: RaftGroup) {
        self.groups
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group, raft);
    }

    /// Sets (or clears) group `group`'s vote floor: its replica votes only for candidates
    /// whose last log id is at least the floor.
    pub fn set_vote_floor(&self, group: GroupId, floor: Option<LogId>) {
        let mut floors = self.floors.write().unwrap_or_else(|p| p.into_inner());
        match floor {
            Some(f) => floors.insert(group, f),
            None => floors.remove(&group),
        };
    }

    fn vote_floor(&self, group: GroupId) -> Option<LogId> {
        self.floors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&group)
            .cloned()
    }

    /// Removes group `group`.
    pub fn remove(&self, group: GroupId) -> Option<RaftGroup> {
        self.groups
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&group)
    }

    /// The group `group`, if this node runs it.
    pub fn get(&self, group: GroupId) -> Option<RaftGroup> {
        self.groups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&group)
            .cloned()
    }
}

/// Where a snapshot being received goes: memory for the meta group, a file for a shard.
enum Received {
    Bytes(Vec<u8>),
    File(std::io::BufWriter<std::fs::File>, SnapshotFile, u64),
}

/// Bounds of what the transport receives.
#[derive(Clone, Copy, Debug)]
pub struct TransportLimits {
    /// Largest message, in bytes (`grpc_message_bytes_max`).
    pub message_bytes_max: usize,
    /// Largest shard snapshot, in bytes (`raft.snapshot_bytes_max`): written to a file.
    pub snapshot_bytes_max: u64,
    /// Largest snapshot of the meta or ruler group, in bytes
    /// (`raft.snapshot_memory_bytes_max`): held in memory.
    pub snapshot_memory_bytes_max: u64,
}

impl Default for TransportLimits {
    fn default() -> Self {
        let raft = crate::config::RaftConfig::default();
        TransportLimits {
            message_bytes_max: crate::config::GRPC_MESSAGE_BYTES_MAX_DEFAULT,
            snapshot_bytes_max: raft.snapshot_bytes_max,
            snapshot_memory_bytes_max: raft.snapshot_memory_bytes_max,
        }
    }
}

/// Numbers the files of snapshots being received.
static RECEIVED_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Received {
    fn new(group: GroupId, dir: &Path) -> std::io::Result<Self> {
        if group_shard(group).is_none() {
            return Ok(Received::Bytes(Vec::new()));
        }
        std::fs::create_dir_all(dir)?;
        let seq = RECEIVED_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(
            "recv-group{group}-{}-{seq}.snap",
            std::process::id()
        ));
        let file = std::fs::File::create(&path)?;
        Ok(Received::File(
            std::io::BufWriter::new(file),
            SnapshotFile::new(path),
            0,
        ))
    }

    /// Bytes received so far.
    fn len(&self) -> u64 {
        match self {
            Received::Bytes(b) => b.len() as u64,
            Received::File(_, _, n) => *n,
        }
    }

    /// The most this snapshot may hold under `limits`, and the setting that says so.
    fn cap(&self, limits: &TransportLimits) -> (u64, &'static str) {
        match self {
            Received::Bytes(_) => (
                limits.snapshot_memory_bytes_max,
                "raft.snapshot_memory_bytes_max",
            ),
            Received::File(..) => (limits.snapshot_bytes_max, "raft.snapshot_bytes_max"),
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Received::Bytes(b) => {
                b.extend_from_slice(data);
                Ok(())
            }
            Received::File(w, _, n) => {
                *n += data.len() as u64;
                w.write_all(data)
            }
        }
    }

    fn finish(self) -> std::io::Result<SnapshotData> {
        use std::io::Write;
        Ok(match self {
            Received::Bytes(b) => SnapshotData::Bytes(b),
            Received::File(mut w, file, _) => {
                w.flush()?;
                w.get_ref().sync_all()?;
                SnapshotData::File(file)
            }
        })
    }
}

/// The server side of the transport: decodes each message and hands it to its group.
#[derive(Clone)]
pub struct RaftTransportService {
    registry: GroupRegistry,
    /// Where shard snapshots being received are written.
    snapshot_dir: PathBuf,
    counters: Arc<RaftCounters>,
    limits: TransportLimits,
}

impl RaftTransportService {
    /// A service dispatching to the groups of `registry`, receiving shard snapshots into files
    /// under `snapshot_dir`.
    pub fn new(registry: GroupRegistry, snapshot_dir: PathBuf) -> Self {
        RaftTransportService {
            registry,
            snapshot_dir,
            counters: Arc::default(),
            limits: TransportLimits::default(),
        }
    }

    /// Receives within `limits`.
    pub fn with_limits(mut self, limits: TransportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Counts into `counters` (the node's, shared with its side of the transport that sends).
    pub fn with_counters(mut self, counters: Arc<RaftCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// The tonic server to mount on the node's gRPC listener.
    pub fn into_server(self) -> RaftTransportServer<RaftTransportService> {
        let max = self.limits.message_bytes_max;
        RaftTransportServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    fn open<Req: DeserializeOwned>(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<(GroupId, RaftGroup, Req), tonic::Status> {
        let msg = request.into_inner();
        if msg.version != WIRE_VERSION {
            return Err(tonic::Status::failed_precondition(format!(
                "raft wire version {} not supported (this node speaks {WIRE_VERSION})",
                msg.version
            )));
        }
        let raft = self.registry.get(msg.group_id).ok_or_else(|| {
            tonic::Status::not_found(format!("group {} is not on this node", msg.group_id))
        })?;
        let req = codec::decode(&msg.payload)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        Ok((msg.group_id, raft, req))
    }
}

impl RaftTransportService {
    /// Refuses a (pre-)vote openraft would grant but the replica must not:
    ///
    /// - A replica that knows no voters of its group (never initialised, or emptied after its
    ///   node was removed from the group, `Placement::retire_replica`) does not vote: openraft
    ///   grants a vote on log length alone, and an empty log is never longer. Such a vote could
    ///   elect a stale candidate of a membership the group has left, whose log misses committed
    ///   entries.
    /// - An emptied replica that is added back learns the voters from the first entries or
    ///   snapshot it receives, while its log is still shorter than the one it deleted. Until
    ///   then it votes only for candidates whose last log id reaches its vote floor (the last
    ///   log id it had): never for one the full replica would have refused.
    fn check_may_vote(
        &self,
        group: GroupId,
        raft: &RaftGroup,
        req: &VoteRequest<TypeConfig>,
    ) -> Result<(), tonic::Status> {
        use openraft::async_runtime::WatchReceiver;
        let knows_voters = raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .next()
            .is_some();
        if !knows_voters {
            return Err(tonic::Status::unavailable(format!(
                "group {group} has no membership on this node: not voting"
            )));
        }
        if let Some(floor) = self.registry.vote_floor(group)
            && req.last_log_id.as_ref() < Some(&floor)
        {
            return Err(tonic::Status::unavailable(format!(
                "group {group}: the candidate's log ends before {floor}, where this replica's \
                 ended before it was emptied: not voting"
            )));
        }
        Ok(())
    }
}

fn reply<T: Serialize, E: std::fmt::Display>(
    res: Result<T, E>,
) -> Result<tonic::Response<RaftReply>, tonic::Status> {
    let value = res.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let payload = codec::encode(&value).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(tonic::Response::new(RaftReply { payload }))
}

#[tonic::async_trait]
impl RaftTransport for RaftTransportService {
    async fn append_entries(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let (_, raft, req): (_, _, AppendEntriesRequest<TypeConfig>) = self.open(request)?;
        reply(raft.append_entries(req).await)
    }

    async fn vote(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let (group, raft, req): (_, _, VoteRequest<TypeConfig>) = self.open(request)?;
        self.check_may_vote(group, &raft, &req)?;
        reply(raft.vote(req).await)
    }

    async fn pre_vote(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let (group, raft, req): (_, _, VoteRequest<TypeConfig>) = self.open(request)?;
        self.check_may_vote(group, &raft, &req)?;
        reply(raft.pre_vote(req).await)
    }

    async fn transfer_leader(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let (_, raft, req): (_, _, TransferLeaderRequest<TypeConfig>) = self.open(request)?;
        reply(raft.handle_transfer_leader(req).await)
    }

    async fn install_snapshot(
        &self,
        request: tonic::Request<tonic::Streaming<SnapshotChunk>>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let r = self.receive_snapshot(request).await;
        self.counters.received(r.is_ok());
        r
    }
}

impl RaftTransportService {
    /// Receives a snapshot stream into a file and installs it in its group.
    async fn receive_snapshot(
        &self,
        request: tonic::Request<tonic::Streaming<SnapshotChunk>>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let mut stream = request.into_inner();
        let mut received: Option<(GroupId, RaftGroup, Received)> = None;
        let header = loop {
            let Some(chunk) = stream.message().await? else {
                return Err(tonic::Status::aborted(
                    "snapshot stream ended before its last message: discarded",
                ));
            };
            if chunk.version != WIRE_VERSION {
                return Err(tonic::Status::failed_precondition(format!(
                    "raft wire version {} not supported (this node speaks {WIRE_VERSION})",
                    chunk.version
                )));
            }
            let (group, _, sink) = match &mut received {
                Some(r) if r.0 == chunk.group_id => r,
                Some(r) => {
                    return Err(tonic::Status::invalid_argument(format!(
                        "snapshot stream for group {} switched to group {}",
                        r.0, chunk.group_id
                    )));
                }
                None => {
                    let group = chunk.group_id;
                    let raft = self.registry.get(group).ok_or_else(|| {
                        tonic::Status::not_found(format!("group {group} is not on this node"))
                    })?;
                    let sink = Received::new(group, &self.snapshot_dir)
                        .map_err(|e| tonic::Status::internal(e.to_string()))?;
                    received.insert((group, raft, sink))
                }
            };
            let (cap, setting) = sink.cap(&self.limits);
            if sink.len() + chunk.data.len() as u64 > cap {
                // The partial file goes with the sink.
                return Err(tonic::Status::resource_exhausted(format!(
                    "group {group}: the snapshot is larger than {setting} ({cap} bytes) on this \
                     node: discarded"
                )));
            }
            sink.write(&chunk.data).map_err(|e| {
                tonic::Status::internal(format!("group {group}: storing a snapshot: {e}"))
            })?;
            if chunk.last {
                break chunk.header;
            }
        };
        let Some((_, raft, sink)) = received else {
            unreachable!("the loop above returns unless a message arrived")
        };
        let (vote, meta): (
            VoteOf<TypeConfig>,
            openraft::alias::SnapshotMetaOf<TypeConfig>,
        ) = codec::decode(&header).map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let data = sink
            .finish()
            .map_err(|e| tonic::Status::internal(format!("storing a snapshot: {e}")))?;
        reply(
            raft.install_full_snapshot(
                vote,
                openraft::Snapshot {
                    meta,
                    snapshot: data,
                },
            )
            .await,
        )
    }
}
