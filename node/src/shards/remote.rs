//! The node-to-node shard service (`tidemark.node.v1.ShardService`, wire format in
//! `proto/proto/tidemark/node.proto`): the client that forwards a write part to its shard's
//! leader or asks the leader for a read index, and the server that answers both on the leader.
//!
//! Errors of the operation travel inside the reply as [`RemoteError`], one variant per
//! [`NodeError`] kind, so a forwarded write fails with the same HTTP status as a local one
//! (`NoLeader`/`Timeout` 503, `Overloaded` 429). A transport failure (peer down, reply lost) is
//! reported as `NoLeader` (503, retryable): never a 2xx.

use std::sync::Weak;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark_proto::node::shard_service_client::ShardServiceClient;
use tidemark_proto::node::shard_service_server::{ShardService, ShardServiceServer};
use tidemark_proto::node::{ShardReply, ShardRequest};
use tidemark_storage::ShardId;

use super::reads::{ReadReply, ReadRequest};
use super::{
    DeleteRequest, GroupStatus, MemberOp, MemberOutcome, SeriesWrite, Shards, WriteOutcome,
};
use crate::error::NodeError;
use crate::meta::MetaCommand;
use crate::raft::codec;
use crate::raft::network::PeerChannels;
use crate::raft::{GroupId, NodeId};

/// Version of the `payload` encoding in `ShardRequest` (see node.proto): 2 made the read
/// index's payload say which group (a shard's or the meta group).
pub const WIRE_VERSION: u32 = 2;

/// Whose read index a `ReadIndex` call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(super) enum ReadIndexOf {
    /// The shard the request names.
    Shard,
    /// The meta group (its leader confirms the cluster map this node has).
    Meta,
    /// The shard the request names, answered with the members (voters and learners) of its
    /// group as of the read index, not the index ([`committed_members`]).
    Members,
}

/// Extra time a forwarded call may take beyond the leader's own bound (network, queueing), in
/// milliseconds.
const FORWARD_SLACK_MS: u64 = 2_000;

/// A [`NodeError`] as it crosses the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RemoteError {
    /// [`NodeError::BadRequest`].
    BadRequest(String),
    /// [`NodeError::NoLeader`].
    NoLeader { shard: ShardId, message: String },
    /// [`NodeError::Overloaded`].
    Overloaded { shard: ShardId, message: String },
    /// [`NodeError::Unavailable`].
    Unavailable(String),
    /// [`NodeError::Timeout`].
    Timeout(String),
    /// [`NodeError::Internal`].
    Internal(String),
    /// [`NodeError::NotImplemented`].
    NotImplemented(String),
}

impl From<NodeError> for RemoteError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::BadRequest(m) => RemoteError::BadRequest(m),
            NodeError::NoLeader { shard, message } => RemoteError::NoLeader { shard, message },
            NodeError::Overloaded { shard, message } => RemoteError::Overloaded { shard, message },
            NodeError::Unavailable(m) => RemoteError::Unavailable(m),
            NodeError::Timeout(m) => RemoteError::Timeout(m),
            NodeError::Internal(m) => RemoteError::Internal(m),
            NodeError::NotImplemented(m) => RemoteError::NotImplemented(m),
        }
    }
}

impl From<RemoteError> for NodeError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::BadRequest(m) => NodeError::BadRequest(m),
            RemoteError::NoLeader { shard, message } => NodeError::NoLeader { shard, message },
            RemoteError::Overloaded { shard, message } => NodeError::Overloaded { shard, message },
            RemoteError::Unavailable(m) => NodeError::Unavailable(m),
            RemoteError::Timeout(m) => NodeError::Timeout(m),
            RemoteError::Internal(m) => NodeError::Internal(m),
            RemoteError::NotImplemented(m) => NodeError::NotImplemented(m),
        }
    }
}

/// Which RPC to call.
#[derive(Clone, Copy)]
enum Rpc {
    Write,
    ReadIndex,
    ChangeMember,
    DeleteSeries,
    Read,
    GroupStatus,
    ProposeMeta,
}

/// A client on the shared channel to `addr` and the request carrying `req` for `shard`,
/// bounded by `timeout_ms` plus the forwarding slack (also returned). A channel that cannot be
/// had is reported through `unreachable`.
fn prepare<Req: Serialize>(
    peers: &PeerChannels,
    addr: &str,
    shard: ShardId,
    req: &Req,
    timeout_ms: u64,
    unreachable: impl Fn(String) -> NodeError,
) -> Result<
    (
        ShardServiceClient<tonic::transport::Channel>,
        tonic::Request<ShardRequest>,
        Duration,
    ),
    NodeError,
> {
    let channel = peers.channel(addr).map_err(unreachable)?;
    let payload = codec::encode(req).map_err(|e| NodeError::Internal(e.to_string()))?;
    let client = ShardServiceClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let timeout = Duration::from_millis(timeout_ms + FORWARD_SLACK_MS);
    let mut request = tonic::Request::new(ShardRequest {
        version: WIRE_VERSION,
        shard,
        payload,
    });
    request.set_timeout(timeout);
    Ok((client, request, timeout))
}

/// Calls `rpc` for `shard` on node `node` at `addr`; a transport failure is `NoLeader`.
async fn call<Req: Serialize, Resp: DeserializeOwned>(
    peers: &PeerChannels,
    rpc: Rpc,
    shard: ShardId,
    node: NodeId,
    addr: &str,
    req: &Req,
    timeout_ms: u64,
) -> Result<Resp, NodeError> {
    let unreachable = |what: String| NodeError::NoLeader {
        shard,
        message: format!("leader node {node} ({addr}) unreachable: {what}"),
    };
    let (mut client, request, timeout) = prepare(peers, addr, shard, req, timeout_ms, unreachable)?;
    let fut = async {
        match rpc {
            Rpc::Write => client.write(request).await,
            Rpc::ReadIndex => client.read_index(request).await,
            Rpc::ChangeMember => client.change_member(request).await,
            Rpc::DeleteSeries => client.delete_series(request).await,
            Rpc::Read => client.read(request).await,
            Rpc::GroupStatus => client.group_status(request).await,
            Rpc::ProposeMeta => client.propose_meta(request).await,
        }
    };
    let reply = match tokio::time::timeout(timeout, fut).await {
        Err(_) => return Err(unreachable("timed out".into())),
        Ok(Err(status)) => return Err(unreachable(status.to_string())),
        Ok(Ok(reply)) => reply.into_inner(),
    };
    let result: Result<Resp, RemoteError> =
        codec::decode(&reply.payload).map_err(|e| unreachable(e.to_string()))?;
    result.map_err(NodeError::from)
}

/// Sends a write part to shard `shard`'s leader `node` and waits for its outcome.
pub(super) async fn forward_write(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: String,
    part: &[SeriesWrite],
    write_timeout_ms: u64,
) -> Result<WriteOutcome, NodeError> {
    call(
        peers,
        Rpc::Write,
        shard,
        node,
        &addr,
        &part,
        write_timeout_ms,
    )
    .await
}

/// Sends a delete to shard `shard`'s leader `node` and waits for it to be applied.
pub(super) async fn forward_delete(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: String,
    req: DeleteRequest,
    write_timeout_ms: u64,
) -> Result<u64, NodeError> {
    call(
        peers,
        Rpc::DeleteSeries,
        shard,
        node,
        &addr,
        &req,
        write_timeout_ms,
    )
    .await
}

/// Asks `node`, the leader of shard `shard` (or of the meta group, with `of` `Meta`; `shard`
/// is then unused), for a read index.
pub(super) async fn read_index(
    peers: &PeerChannels,
    of: ReadIndexOf,
    shard: ShardId,
    node: NodeId,
    addr: String,
    read_timeout_ms: u64,
) -> Result<u64, NodeError> {
    call(
        peers,
        Rpc::ReadIndex,
        shard,
        node,
        &addr,
        &of,
        read_timeout_ms,
    )
    .await
}

/// Asks `node`, the leader of shard `shard`, for the members (voters and learners) of the
/// shard's group, as committed at a read index taken after this call was made.
pub(super) async fn committed_members(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: String,
    read_timeout_ms: u64,
) -> Result<Vec<NodeId>, NodeError> {
    call(
        peers,
        Rpc::ReadIndex,
        shard,
        node,
        &addr,
        &ReadIndexOf::Members,
        read_timeout_ms,
    )
    .await
}

/// Asks group `group`'s leader `node` to change the group's voters.
pub(super) async fn change_member(
    peers: &PeerChannels,
    group: GroupId,
    node: NodeId,
    addr: String,
    op: MemberOp,
    timeout_ms: u64,
) -> Result<MemberOutcome, NodeError> {
    // `shard` is not used by this RPC: the payload names the group.
    call(
        peers,
        Rpc::ChangeMember,
        0,
        node,
        &addr,
        &(group, op),
        timeout_ms,
    )
    .await
    .map_err(|e| match e {
        // A transport failure is reported as "no leader" of shard 0 by `call`; say it right.
        NodeError::NoLeader { message, .. } => {
            NodeError::Unavailable(format!("group {group}: {message}"))
        }
        other => other,
    })
}

/// Reads shard `shard` from node `node`'s replica (see [`ReadRequest`]).
pub(super) async fn read(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: String,
    req: ReadRequest,
) -> Result<ReadReply, NodeError> {
    let timeout_ms = req.timeout_ms;
    call(peers, Rpc::Read, shard, node, &addr, &req, timeout_ms)
        .await
        .map_err(|e| match e {
            NodeError::NoLeader { message, .. } => NodeError::Unavailable(format!(
                "shard {shard}: replica on node {node} ({addr}) unreachable: {message}"
            )),
            other => other,
        })
}

/// Opens a streamed select of shard `shard` on node `node`'s replica ([`ReadRequest`] with a
/// `Select` op); the stream yields encoded batches ([`decode_batch`]). `None`: the node is of
/// a version without the streamed read (during a rolling upgrade); use [`read`].
pub(super) async fn read_stream(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: &str,
    req: &ReadRequest,
) -> Result<Option<tonic::Streaming<ShardReply>>, NodeError> {
    let unreachable = |what: String| {
        NodeError::Unavailable(format!(
            "shard {shard}: replica on node {node} ({addr}) unreachable: {what}"
        ))
    };
    let (mut client, request, timeout) =
        prepare(peers, addr, shard, req, req.timeout_ms, unreachable)?;
    match tokio::time::timeout(timeout, client.read_stream(request)).await {
        Err(_) => Err(unreachable("timed out".into())),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => Ok(None),
        Ok(Err(status)) => Err(unreachable(status.to_string())),
        Ok(Ok(r)) => Ok(Some(r.into_inner())),
    }
}

/// Encodes an operation's outcome as a reply (a unary answer, or one message of a streamed
/// select): the error keeps its kind across the wire.
pub(super) fn encode_result<T: Serialize>(
    res: Result<T, NodeError>,
) -> Result<ShardReply, tonic::Status> {
    let res: Result<T, RemoteError> = res.map_err(RemoteError::from);
    let payload = codec::encode(&res).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(ShardReply { payload })
}

/// One message of a streamed select: a batch of series, or the error that ended the stream.
pub(super) fn decode_batch(reply: &ShardReply) -> Result<ReadReply, NodeError> {
    let r: Result<ReadReply, RemoteError> =
        codec::decode(&reply.payload).map_err(|e| NodeError::Internal(e.to_string()))?;
    r.map_err(NodeError::from)
}

/// Asks node `node` for the state of its replica of shard `shard` (`None`: it holds none).
pub(super) async fn group_status(
    peers: &PeerChannels,
    shard: ShardId,
    node: NodeId,
    addr: String,
    timeout_ms: u64,
) -> Result<Option<GroupStatus>, NodeError> {
    call(peers, Rpc::GroupStatus, shard, node, &addr, &(), timeout_ms).await
}

/// Proposes `cmd` to the meta group through its leader `node`.
pub(super) async fn propose_meta(
    peers: &PeerChannels,
    node: NodeId,
    addr: String,
    cmd: &MetaCommand,
    timeout_ms: u64,
) -> Result<(), NodeError> {
    call(peers, Rpc::ProposeMeta, 0, node, &addr, cmd, timeout_ms)
        .await
        .map_err(|e| match e {
            NodeError::NoLeader { message, .. } => {
                NodeError::Unavailable(format!("meta group: {message}"))
            }
            other => other,
        })
}

/// The server side: runs forwarded writes and read-index requests on this node's groups. It
/// never forwards again: a node that no longer leads the shard answers `NoLeader`.
#[derive(Clone)]
pub struct ShardServer {
    shards: Weak<Shards>,
}

impl ShardServer {
    /// A server over `shards` (weak: the server does not keep the groups alive).
    pub(super) fn new(shards: Weak<Shards>) -> Self {
        ShardServer { shards }
    }

    /// The tonic server to mount on the node's gRPC listener.
    pub fn into_server(self) -> ShardServiceServer<ShardServer> {
        ShardServiceServer::new(self)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    fn open<Req: DeserializeOwned>(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<(std::sync::Arc<Shards>, ShardId, Req), tonic::Status> {
        let msg = request.into_inner();
        if msg.version != WIRE_VERSION {
            return Err(tonic::Status::failed_precondition(format!(
                "shard wire version {} not supported (this node speaks {WIRE_VERSION})",
                msg.version
            )));
        }
        let shards = self
            .shards
            .upgrade()
            .ok_or_else(|| tonic::Status::unavailable("node is shutting down"))?;
        let req = codec::decode(&msg.payload)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        Ok((shards, msg.shard, req))
    }
}

fn reply<T: Serialize>(
    res: Result<T, NodeError>,
) -> Result<tonic::Response<ShardReply>, tonic::Status> {
    encode_result(res).map(tonic::Response::new)
}

#[tonic::async_trait]
impl ShardService for ShardServer {
    #[tracing::instrument(skip_all, fields(shard))]
    async fn write(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, shard, part): (_, _, Vec<SeriesWrite>) = self.open(request)?;
        tracing::Span::current().record("shard", shard);
        // The sender routed by its shard map; this leader checks with its own, so that a
        // node that has not applied a new shard-map version yet (or this one, if it is the
        // late one) cannot put samples in a shard the map does not give them (retried).
        if let Err(e) = shards.check_horizon(&part) {
            return reply::<WriteOutcome>(Err(e));
        }
        let map = shards.shard_map();
        if !part.iter().all(|s| map.all_in(&s.key, &s.samples, shard)) {
            return reply::<WriteOutcome>(Err(NodeError::Unavailable(format!(
                "forwarded write for shard {shard} holds samples the shard map puts in other \
                 shards (the shard map changed); retry"
            ))));
        }
        let parts = std::collections::BTreeMap::from([(shard, part)]);
        reply(shards.write_local(parts).await)
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn delete_series(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, shard, req): (_, _, DeleteRequest) = self.open(request)?;
        tracing::Span::current().record("shard", shard);
        reply(shards.delete_local(shard, req).await)
    }

    #[tracing::instrument(skip_all)]
    async fn change_member(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, _, (group, op)): (_, _, (GroupId, MemberOp)) = self.open(request)?;
        reply(shards.change_member_local(group, op).await)
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read_index(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, shard, of): (_, _, ReadIndexOf) = self.open(request)?;
        match of {
            ReadIndexOf::Shard => {
                tracing::Span::current().record("shard", shard);
                reply(shards.local_read_index(shard).await)
            }
            ReadIndexOf::Meta => reply(shards.local_meta_read_index().await),
            ReadIndexOf::Members => {
                tracing::Span::current().record("shard", shard);
                reply(shards.local_committed_members(shard).await)
            }
        }
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, shard, req): (_, _, ReadRequest) = self.open(request)?;
        tracing::Span::current().record("shard", shard);
        reply(shards.serve_read(shard, req).await)
    }

    type ReadStreamStream =
        tokio_stream::wrappers::ReceiverStream<Result<ShardReply, tonic::Status>>;

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read_stream(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<Self::ReadStreamStream>, tonic::Status> {
        let (shards, shard, req): (_, _, ReadRequest) = self.open(request)?;
        tracing::Span::current().record("shard", shard);
        // Two batches in flight: the producer waits while the reader is busy.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move { shards.serve_read_stream(shard, req, tx).await });
        Ok(tonic::Response::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn group_status(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, shard, ()): (_, _, ()) = self.open(request)?;
        tracing::Span::current().record("shard", shard);
        reply(Ok::<_, NodeError>(shards.local_group_status(shard)))
    }

    #[tracing::instrument(skip_all)]
    async fn propose_meta(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        let (shards, _, cmd): (_, _, MetaCommand) = self.open(request)?;
        reply(shards.propose_meta_local(cmd).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_kind_across_the_wire() {
        let e = NodeError::Overloaded {
            shard: 3,
            message: "full".into(),
        };
        let wire = codec::encode(&Err::<u64, _>(RemoteError::from(e))).unwrap();
        let back: Result<u64, RemoteError> = codec::decode(&wire).unwrap();
        match NodeError::from(back.unwrap_err()) {
            NodeError::Overloaded { shard, message } => {
                assert_eq!((shard, message.as_str()), (3, "full"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
