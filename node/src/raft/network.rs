//! The gRPC Raft transport (`tidemark.raft.v1.RaftTransport`, see `proto/proto/tidemark/raft.proto`
//! for the wire format), client side: what openraft uses to reach peers (one shared HTTP/2
//! channel per peer node, every group multiplexed over it). The server side, which dispatches
//! each message to its group on this node, is `transport_service.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_proto::raft::raft_transport_client::RaftTransportClient;
use tidemark_proto::raft::{RaftRequest, SnapshotChunk};
use tonic::transport::{Channel, Endpoint};

use super::codec;
use super::counters::RaftCounters;
use super::state_machine::{SnapshotData, shard_snapshot_meta};
use super::{GroupId, NodeId, NodeInfo, TypeConfig};
use crate::cluster_auth::ClusterAuth;
use crate::grpc_tls::GrpcTls;
use crate::peer_clock::{self, PeerClocks};

/// Version of the `payload` encoding in `RaftRequest` (see raft.proto).
pub const WIRE_VERSION: u32 = 1;

/// Connect timeout of a peer channel, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// One shared channel per peer address, used by every group, and the credentials every call
/// on them carries.
#[derive(Clone)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    auth: ClusterAuth,
    counters: Arc<RaftCounters>,
    message_bytes_max: usize,
    /// Mutual TLS on every connection (`grpc_tls`); plain TCP without.
    tls: Option<Arc<GrpcTls>>,
    /// The peers' clocks, as their answers show them.
    clocks: Arc<PeerClocks>,
}

impl Default for PeerChannels {
    fn default() -> Self {
        PeerChannels::new(ClusterAuth::default())
    }
}

impl PeerChannels {
    /// Channels whose calls carry `auth`, with messages of any size up to
    /// [`crate::config::GRPC_MESSAGE_BYTES_MAX_DEFAULT`].
    pub fn new(auth: ClusterAuth) -> Self {
        PeerChannels {
            channels: Arc::default(),
            auth,
            counters: Arc::default(),
            message_bytes_max: crate::config::GRPC_MESSAGE_BYTES_MAX_DEFAULT,
            tls: None,
            clocks: Arc::default(),
        }
    }

    /// The same channels over mutual TLS (`None`: plain TCP).
    pub fn with_tls(mut self, tls: Option<Arc<GrpcTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// This node's TLS for gRPC, if on.
    pub fn tls(&self) -> Option<&Arc<GrpcTls>> {
        self.tls.as_ref()
    }

    /// The same channels with messages (requests and answers) of `bytes` at most
    /// (`grpc_message_bytes_max`).
    pub fn with_message_bytes_max(mut self, bytes: usize) -> Self {
        self.message_bytes_max = bytes;
        self
    }

    /// The largest message a call sends or accepts.
    pub fn message_bytes_max(&self) -> usize {
        self.message_bytes_max
    }

    /// What this node's Raft transport counts.
    pub fn counters(&self) -> &Arc<RaftCounters> {
        &self.counters
    }

    /// The peers' clock offsets, as their answers show them.
    pub fn clocks(&self) -> &Arc<PeerClocks> {
        &self.clocks
    }

    /// The credentials of this node's calls.
    pub fn auth(&self) -> &ClusterAuth {
        &self.auth
    }

    /// The shared channel to `addr` (created lazily; the Raft transport and the shard service
    /// share it).
    pub(crate) fn channel(&self, addr: &str) -> Result<Channel, String> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let uri = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| format!("bad peer address {addr}: {e}"))?
            .connect_timeout(std::time::Duration::from_millis(CONNECT_TIMEOUT_MS));
        let ch = match &self.tls {
            None => endpoint.connect_lazy(),
            // The connector does TCP and the handshake; the connect timeout covers both.
            Some(tls) => {
                let tls = tls.clone();
                let host_port = endpoint.uri().authority().map(|a| a.to_string());
                let host_port = host_port.ok_or_else(|| format!("bad peer address {addr}"))?;
                endpoint.connect_with_connector_lazy(tower::service_fn(
                    move |_: tonic::transport::Uri| {
                        let (tls, host_port) = (tls.clone(), host_port.clone());
                        async move { tls.connect(&host_port).await }
                    },
                ))
            }
        };
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// Creates openraft network clients for one group.
#[derive(Clone)]
pub struct NetworkFactory {
    group: GroupId,
    peers: PeerChannels,
}

impl NetworkFactory {
    /// The factory of group `group` over the node's shared peer channels.
    pub fn new(group: GroupId, peers: PeerChannels) -> Self {
        NetworkFactory { group, peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = GroupClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        GroupClient {
            group: self.group,
            target,
            channel: self.peers.channel(&node.addr),
            auth: self.peers.auth().clone(),
            counters: self.peers.counters().clone(),
            clocks: self.peers.clocks().clone(),
            message_bytes_max: self.peers.message_bytes_max(),
        }
    }
}

/// The connection of one group to one peer.
pub struct GroupClient {
    group: GroupId,
    target: NodeId,
    channel: Result<Channel, String>,
    auth: ClusterAuth,
    counters: Arc<RaftCounters>,
    clocks: Arc<PeerClocks>,
    message_bytes_max: usize,
}

/// A transport failure, before it is classified for openraft.
#[derive(Debug, thiserror::Error)]
enum TransportError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(NodeId, String),
    #[error("rpc to peer {0} failed: {1}")]
    Failed(NodeId, String),
}

impl TransportError {
    fn into_rpc(self) -> RPCError<TypeConfig> {
        match &self {
            TransportError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&self)),
            TransportError::Failed(..) => RPCError::Network(NetworkError::new(&self)),
        }
    }

    fn into_streaming(self) -> StreamingError<TypeConfig> {
        match &self {
            TransportError::Unreachable(..) => StreamingError::Unreachable(Unreachable::new(&self)),
            TransportError::Failed(..) => StreamingError::Network(NetworkError::new(&self)),
        }
    }
}

/// Which RPC of the service to call.
#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    PreVote,
    TransferLeader,
}

impl GroupClient {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, TransportError> {
        let channel = self
            .channel
            .clone()
            .map_err(|e| TransportError::Unreachable(self.target, e))?;
        let payload =
            codec::encode(req).map_err(|e| TransportError::Failed(self.target, e.to_string()))?;
        let msg = RaftRequest {
            version: WIRE_VERSION,
            group_id: self.group,
            payload,
        };
        let mut client = RaftTransportClient::new(channel)
            .max_decoding_message_size(self.message_bytes_max)
            .max_encoding_message_size(self.message_bytes_max);
        let mut request = tonic::Request::new(msg);
        request.set_timeout(option.hard_ttl());
        self.auth.stamp(&mut request);
        let fut = async {
            match rpc {
                Rpc::Append => client.append_entries(request).await,
                Rpc::Vote => client.vote(request).await,
                Rpc::PreVote => client.pre_vote(request).await,
                Rpc::TransferLeader => client.transfer_leader(request).await,
            }
        };
        let sent_ms = peer_clock::now_ms();
        let reply = match tokio::time::timeout(option.hard_ttl(), fut).await {
            Err(_) => return Err(TransportError::Unreachable(self.target, "timed out".into())),
            Ok(res) => res.map_err(|status| self.classify(status))?,
        };
        if let Some(theirs_ms) = peer_clock::read(reply.metadata()) {
            let received_ms = peer_clock::now_ms();
            self.clocks
                .observe(self.target, sent_ms, received_ms, theirs_ms);
        }
        let reply = reply.into_inner();
        codec::decode(&reply.payload)
            .map_err(|e| TransportError::Failed(self.target, e.to_string()))
    }

    fn classify(&self, status: tonic::Status) -> TransportError {
        match status.code() {
            // A peer that refuses this node's credentials (another cluster, a wrong secret) is
            // as good as unreachable: retried with backoff, its message kept.
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unauthenticated
            | tonic::Code::PermissionDenied => {
                TransportError::Unreachable(self.target, status.to_string())
            }
            _ => TransportError::Failed(self.target, status.to_string()),
        }
    }

    /// Streams `snapshot` to the peer (see [`SnapshotChunk`]); the bytes are produced on a
    /// blocking thread (a shard is exported from the engine as it is sent).
    async fn send_snapshot(
        &self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        option: &RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, TransportError> {
        let channel = self
            .channel
            .clone()
            .map_err(|e| TransportError::Unreachable(self.target, e))?;
        let header = codec::encode(&(vote, snapshot.meta.clone()))
            .map_err(|e| TransportError::Failed(self.target, e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel(SNAPSHOT_CHUNKS_IN_FLIGHT);
        let writer = ChunkWriter {
            group: self.group,
            tx,
            buf: Vec::with_capacity(SNAPSHOT_CHUNK_BYTES),
        };
        let want = snapshot.meta.last_log_id;
        let producer =
            tokio::task::spawn_blocking(move || produce(writer, snapshot.snapshot, want, header));
        let mut client = RaftTransportClient::new(channel)
            .max_decoding_message_size(self.message_bytes_max)
            .max_encoding_message_size(self.message_bytes_max);
        let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        self.auth.stamp(&mut request);
        let res = tokio::time::timeout(option.hard_ttl(), client.install_snapshot(request)).await;
        // The producer stops once the stream is gone; its error explains a refused stream.
        let produced = producer
            .await
            .map_err(|e| TransportError::Failed(self.target, e.to_string()))?;
        if let Err(e) = produced {
            return Err(TransportError::Failed(
                self.target,
                format!("snapshot not sent: {e}"),
            ));
        }
        let reply = match res {
            Err(_) => {
                return Err(TransportError::Unreachable(
                    self.target,
                    "snapshot timed out".into(),
                ));
            }
            Ok(res) => res.map_err(|status| self.classify(status))?.into_inner(),
        };
        codec::decode(&reply.payload)
            .map_err(|e| TransportError::Failed(self.target, e.to_string()))
    }
}

/// Bytes of snapshot per stream message.
const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Stream messages buffered between the producer and the gRPC stream.
const SNAPSHOT_CHUNKS_IN_FLIGHT: usize = 4;

/// Cuts what is written into [`SnapshotChunk`]s and hands them to the gRPC stream.
struct ChunkWriter {
    group: GroupId,
    tx: tokio::sync::mpsc::Sender<SnapshotChunk>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self, last: bool, header: Vec<u8>) -> std::io::Result<()> {
        let chunk = SnapshotChunk {
            version: WIRE_VERSION,
            group_id: self.group,
            data: std::mem::replace(&mut self.buf, Vec::with_capacity(SNAPSHOT_CHUNK_BYTES)),
            last,
            header,
        };
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "snapshot stream closed")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(SNAPSHOT_CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == SNAPSHOT_CHUNK_BYTES {
            self.send(false, Vec::new())?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the snapshot's bytes and, only if they are the snapshot openraft asked for (last log
/// id `want`), the last message; otherwise the stream ends without it and the peer drops it.
fn produce(
    mut w: ChunkWriter,
    data: SnapshotData,
    want: Option<super::LogId>,
    header: Vec<u8>,
) -> Result<(), String> {
    use std::io::Write;
    match data {
        SnapshotData::Bytes(bytes) => w.write_all(&bytes).map_err(|e| e.to_string())?,
        SnapshotData::Export { shard, engine } => {
            let exported = engine
                .export_shard(shard, &mut w)
                .map_err(|e| format!("export of shard {shard}: {e}"))?;
            let Some((_index, sm_meta)) = exported else {
                return Err(format!("shard {shard} has no flushed state to send"));
            };
            let got = shard_snapshot_meta(&sm_meta)
                .map_err(|e| format!("shard {shard}: {e}"))?
                .last_log_id;
            if got != want {
                // A flush landed between openraft's request and the export; openraft asks again.
                return Err(format!(
                    "shard {shard} was flushed again while its snapshot was read \
                     (exported {got:?}, asked for {want:?})"
                ));
            }
        }
        SnapshotData::File(file) => {
            let mut f = std::fs::File::open(file.path()).map_err(|e| e.to_string())?;
            std::io::copy(&mut f, &mut w).map_err(|e| e.to_string())?;
        }
    }
    w.send(true, header).map_err(|e| e.to_string())
}

impl RaftNetworkV2<TypeConfig> for GroupClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Append, &rpc, &option)
            .await
            .map_err(TransportError::into_rpc)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Vote, &rpc, &option)
            .await
            .map_err(TransportError::into_rpc)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::PreVote, &rpc, &option)
            .await
            .map_err(TransportError::into_rpc)
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::TransferLeader, &req, &option)
            .await
            .map_err(TransportError::into_rpc)
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        tokio::select! {
            res = self.send_snapshot(vote, snapshot, &option) => {
                self.counters.sent(res.is_ok());
                res.map_err(TransportError::into_streaming)
            }
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }
}
