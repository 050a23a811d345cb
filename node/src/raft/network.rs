//! The gRPC Raft transport (`tidemark.raft.v1.RaftTransport`, see `proto/proto/tidemark/raft.proto`
//! for the wire format): a client that openraft uses to reach peers (one shared HTTP/2 channel
//! per peer node, every group multiplexed over it) and the server side that dispatches each
//! message to its group on this node.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_proto::raft::raft_transport_client::RaftTransportClient;
use tidemark_proto::raft::raft_transport_server::{RaftTransport, RaftTransportServer};
use tidemark_proto::raft::{RaftReply, RaftRequest};
use tonic::transport::{Channel, Endpoint};

use super::codec;
use super::state_machine::{SnapshotData, can_install_snapshot};
use super::{GroupId, NodeId, NodeInfo, RaftGroup, TypeConfig};

/// Version of the `payload` encoding in `RaftRequest` (see raft.proto).
pub const WIRE_VERSION: u32 = 1;

/// Connect timeout of a peer channel, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// One shared channel per peer address, used by every group.
#[derive(Clone, Default)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl PeerChannels {
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
        let ch = Endpoint::from_shared(uri)
            .map_err(|e| format!("bad peer address {addr}: {e}"))?
            .connect_timeout(std::time::Duration::from_millis(CONNECT_TIMEOUT_MS))
            .connect_lazy();
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
        }
    }
}

/// The connection of one group to one peer.
pub struct GroupClient {
    group: GroupId,
    target: NodeId,
    channel: Result<Channel, String>,
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
    Snapshot,
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
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let mut request = tonic::Request::new(msg);
        request.set_timeout(option.hard_ttl());
        let fut = async {
            match rpc {
                Rpc::Append => client.append_entries(request).await,
                Rpc::Vote => client.vote(request).await,
                Rpc::PreVote => client.pre_vote(request).await,
                Rpc::Snapshot => client.install_snapshot(request).await,
            }
        };
        let reply = match tokio::time::timeout(option.hard_ttl(), fut).await {
            Err(_) => return Err(TransportError::Unreachable(self.target, "timed out".into())),
            Ok(Err(status)) => {
                return Err(match status.code() {
                    tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled => {
                        TransportError::Unreachable(self.target, status.to_string())
                    }
                    _ => TransportError::Failed(self.target, status.to_string()),
                });
            }
            Ok(Ok(reply)) => reply.into_inner(),
        };
        codec::decode(&reply.payload)
            .map_err(|e| TransportError::Failed(self.target, e.to_string()))
    }
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

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let req = (vote, snapshot.meta, snapshot.snapshot);
        self.call(Rpc::Snapshot, &req, &option)
            .await
            .map_err(TransportError::into_streaming)
    }
}

/// The groups of this node that the server dispatches to; groups may be added while serving.
#[derive(Clone, Default)]
pub struct GroupRegistry {
    groups: Arc<RwLock<BTreeMap<GroupId, RaftGroup>>>,
}

impl GroupRegistry {
    /// Registers (or replaces) group `group`.
    pub fn insert(&self, group: GroupId, raft: RaftGroup) {
        self.groups
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group, raft);
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

/// The server side of the transport: decodes each message and hands it to its group.
#[derive(Clone)]
pub struct RaftTransportService {
    registry: GroupRegistry,
}

impl RaftTransportService {
    /// A service dispatching to the groups of `registry`.
    pub fn new(registry: GroupRegistry) -> Self {
        RaftTransportService { registry }
    }

    /// The tonic server to mount on the node's gRPC listener.
    pub fn into_server(self) -> RaftTransportServer<RaftTransportService> {
        RaftTransportServer::new(self)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
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
        let (_, raft, req): (_, _, VoteRequest<TypeConfig>) = self.open(request)?;
        reply(raft.vote(req).await)
    }

    async fn pre_vote(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        let (_, raft, req): (_, _, VoteRequest<TypeConfig>) = self.open(request)?;
        reply(raft.pre_vote(req).await)
    }

    async fn install_snapshot(
        &self,
        request: tonic::Request<RaftRequest>,
    ) -> Result<tonic::Response<RaftReply>, tonic::Status> {
        type SnapshotReq = (
            VoteOf<TypeConfig>,
            openraft::alias::SnapshotMetaOf<TypeConfig>,
            SnapshotData,
        );
        let (group, raft, (vote, meta, data)): (_, _, SnapshotReq) = self.open(request)?;
        if !can_install_snapshot(group) {
            // Refused here rather than in the state machine, where the error would stop the group.
            return Err(tonic::Status::unimplemented(format!(
                "not implemented: installing a shard snapshot (group {group}) from another node"
            )));
        }
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
