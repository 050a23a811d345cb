//! The node service (`tidemark.node.v1.ShardService`): each RPC decodes its [`Call`] and hands
//! it to [`Node::execute`], except the reads, which stream (`reads.rs`).

use std::sync::{Arc, Weak};

use tidemark_proto::node::shard_service_server::{ShardService, ShardServiceServer};
use tidemark_proto::node::{ShardReply, ShardRequest};

use super::Node;
use crate::peer::{Rpc, WIRE_VERSION, decode_call, encode_answer};
use crate::raft::codec;
use crate::reads::ReadRequest;

/// The server side of the calls between nodes.
#[derive(Clone)]
pub struct NodeService {
    node: Weak<Node>,
}

type Reply = Result<tonic::Response<ShardReply>, tonic::Status>;

impl NodeService {
    /// A service over `node` (weak: the service does not keep the node alive).
    pub(super) fn new(node: Weak<Node>) -> Self {
        NodeService { node }
    }

    /// The tonic server to mount on the node's gRPC listener, taking and sending messages of
    /// `message_bytes_max` at most (`grpc_message_bytes_max`: larger ones are refused with
    /// `RESOURCE_EXHAUSTED`).
    pub fn into_server(self, message_bytes_max: usize) -> ShardServiceServer<NodeService> {
        ShardServiceServer::new(self)
            .max_decoding_message_size(message_bytes_max)
            .max_encoding_message_size(message_bytes_max)
    }

    fn node(&self) -> Result<Arc<Node>, tonic::Status> {
        self.node
            .upgrade()
            .ok_or_else(|| tonic::Status::unavailable("node is shutting down"))
    }

    /// Decodes the call `rpc` carries, runs it, and encodes its outcome.
    async fn serve(&self, rpc: Rpc, request: tonic::Request<ShardRequest>) -> Reply {
        let node = self.node()?;
        let msg = request.into_inner();
        if let Some(shard) = shard_of(rpc, &msg) {
            tracing::Span::current().record("shard", shard);
        }
        let call = decode_call(rpc, msg)?;
        encode_answer(node.execute(call).await).map(tonic::Response::new)
    }

    /// A read's request, checked like a call's.
    fn read_request(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<(Arc<Node>, u32, ReadRequest), tonic::Status> {
        let msg = request.into_inner();
        if msg.version != WIRE_VERSION {
            return Err(tonic::Status::failed_precondition(format!(
                "shard wire version {} not supported (this node speaks {WIRE_VERSION})",
                msg.version
            )));
        }
        let node = self.node()?;
        let req = codec::decode(&msg.payload)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        tracing::Span::current().record("shard", msg.shard);
        Ok((node, msg.shard, req))
    }
}

/// The shard an RPC is about, for the trace (not for member changes and meta proposals, whose
/// `shard` field is unused).
fn shard_of(rpc: Rpc, msg: &ShardRequest) -> Option<u32> {
    match rpc {
        Rpc::ChangeMember | Rpc::ProposeMeta | Rpc::ProposeRuler | Rpc::CommandLevel => None,
        _ => Some(msg.shard),
    }
}

#[tonic::async_trait]
impl ShardService for NodeService {
    #[tracing::instrument(skip_all, fields(shard))]
    async fn write(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::Write, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn write_histograms(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::WriteHistograms, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn delete_series(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::DeleteSeries, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn change_member(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::ChangeMember, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read_index(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::ReadIndex, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn group_status(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::GroupStatus, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn propose_meta(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::ProposeMeta, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn propose_ruler(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::ProposeRuler, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn command_level(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::CommandLevel, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn run_maintenance(&self, request: tonic::Request<ShardRequest>) -> Reply {
        self.serve(Rpc::RunMaintenance, request).await
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read(&self, request: tonic::Request<ShardRequest>) -> Reply {
        let (node, shard, req) = self.read_request(request)?;
        crate::peer::encode_result(node.reads.serve(shard, req).await).map(tonic::Response::new)
    }

    type ReadStreamStream =
        tokio_stream::wrappers::ReceiverStream<Result<ShardReply, tonic::Status>>;

    #[tracing::instrument(skip_all, fields(shard))]
    async fn read_stream(
        &self,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<Self::ReadStreamStream>, tonic::Status> {
        let (node, shard, req) = self.read_request(request)?;
        // Two batches in flight: the producer waits while the reader is busy.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move { node.reads.serve_stream(shard, req, tx).await });
        Ok(tonic::Response::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }
}
