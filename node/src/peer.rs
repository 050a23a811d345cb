//! Calls that cross nodes: one request enum ([`Call`]) and one answer enum ([`Answer`]) for
//! every operation a node asks of a group's leader or of another replica (write, delete, read
//! index, member change, group status, meta proposal), one client ([`Peers::call`]) and one
//! wire codec (`peer/wire.rs`, `tidemark.node.v1.ShardService`). The node executes a call that
//! lands on it in one place (`Node::execute`, `node/execute.rs`), whether it came from
//! another node or from itself; reads, which stream, have a protocol of their own
//! (`reads.rs`).
//!
//! A transport failure (peer down, reply lost) is reported as retryable (no leader, or
//! unavailable): never as success.

mod wire;

use std::time::Duration;

use tidemark_proto::node::shard_service_client::ShardServiceClient;
use tidemark_proto::node::{ShardReply, ShardRequest};
use tidemark_storage::ShardId;

pub(crate) use wire::{Rpc, WIRE_VERSION, decode_call, encode_answer};

use crate::error::NodeError;
use crate::meta::MetaCommand;
use crate::raft::network::PeerChannels;
use crate::raft::{GroupId, NodeId};
use crate::request::{
    DeleteRequest, GroupStatus, HistogramWrite, MemberOp, MemberOutcome, SeriesWrite, WriteOutcome,
};
use crate::retention::{Maintenance, MaintenanceRun};
use crate::ruler::record::RulerCommand;

/// Extra time a call may take beyond its own bound (network, queueing), in milliseconds.
const CALL_SLACK_MS: u64 = 2_000;

/// An operation one node asks of another (or of itself: the same executor runs it).
#[derive(Clone, Debug)]
pub enum Call {
    /// On shard `shard`'s leader: commit and apply a write part.
    Write {
        shard: ShardId,
        part: Vec<SeriesWrite>,
    },
    /// On shard `shard`'s leader: commit and apply a part's native histograms.
    WriteHistograms {
        shard: ShardId,
        part: Vec<HistogramWrite>,
    },
    /// On shard `shard`'s leader: resolve and commit a delete.
    Delete {
        shard: ShardId,
        request: DeleteRequest,
    },
    /// On shard `shard`'s leader: a read index confirmed with a quorum.
    ReadIndex { shard: ShardId },
    /// On the meta leader: a read index of the meta group.
    MetaReadIndex,
    /// On shard `shard`'s leader: the group's members as committed at a read index taken now.
    Members { shard: ShardId },
    /// On group `group`'s leader: change its members.
    ChangeMember { group: GroupId, op: MemberOp },
    /// On any node: its view of its replica of shard `shard` (none if it holds none).
    GroupStatus { shard: ShardId },
    /// On the meta leader: commit a meta command.
    ProposeMeta(MetaCommand),
    /// On the ruler leader: commit a ruler command.
    ProposeRuler(RulerCommand),
    /// On any node: the highest log-command level it applies.
    CommandLevel,
    /// On shard `shard`'s leader: run a maintenance job (retention, tombstone cleaning).
    RunMaintenance { shard: ShardId, job: Maintenance },
}

/// What a [`Call`] answers, one variant per call.
#[derive(Clone, Debug)]
pub enum Answer {
    Written(WriteOutcome),
    Deleted(u64),
    Index(u64),
    Members(Vec<NodeId>),
    Member(MemberOutcome),
    Status(Option<GroupStatus>),
    Proposed,
    Level(u32),
    Maintenance(MaintenanceRun),
}

/// An answer of another variant than the call asked for: a bug, or a peer that decodes calls
/// differently.
fn mismatch(want: &str, got: &Answer) -> NodeError {
    NodeError::Internal(format!("expected a {want} answer, got {got:?}"))
}

impl Answer {
    pub fn written(self) -> Result<WriteOutcome, NodeError> {
        match self {
            Answer::Written(o) => Ok(o),
            other => Err(mismatch("write", &other)),
        }
    }

    pub fn deleted(self) -> Result<u64, NodeError> {
        match self {
            Answer::Deleted(n) => Ok(n),
            other => Err(mismatch("delete", &other)),
        }
    }

    pub fn index(self) -> Result<u64, NodeError> {
        match self {
            Answer::Index(i) => Ok(i),
            other => Err(mismatch("read index", &other)),
        }
    }

    pub fn members(self) -> Result<Vec<NodeId>, NodeError> {
        match self {
            Answer::Members(m) => Ok(m),
            other => Err(mismatch("members", &other)),
        }
    }

    pub fn member(self) -> Result<MemberOutcome, NodeError> {
        match self {
            Answer::Member(m) => Ok(m),
            other => Err(mismatch("member change", &other)),
        }
    }

    pub fn status(self) -> Result<Option<GroupStatus>, NodeError> {
        match self {
            Answer::Status(s) => Ok(s),
            other => Err(mismatch("group status", &other)),
        }
    }

    pub fn level(self) -> Result<u32, NodeError> {
        match self {
            Answer::Level(l) => Ok(l),
            other => Err(mismatch("command level", &other)),
        }
    }

    pub fn maintenance(self) -> Result<MaintenanceRun, NodeError> {
        match self {
            Answer::Maintenance(r) => Ok(r),
            other => Err(mismatch("maintenance run", &other)),
        }
    }

    pub fn proposed(self) -> Result<(), NodeError> {
        match self {
            Answer::Proposed => Ok(()),
            other => Err(mismatch("meta proposal", &other)),
        }
    }
}

/// The node a call goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub node: NodeId,
    /// Its gRPC address.
    pub addr: String,
}

/// Where a group's leader is, as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// This node leads the group.
    Local,
    /// Another node leads it.
    Remote(Peer),
}

/// The client side of [`Call`]s, over the channels the Raft transport shares.
#[derive(Clone)]
pub struct Peers {
    channels: PeerChannels,
}

impl Peers {
    /// Calls over `channels`.
    pub fn new(channels: PeerChannels) -> Self {
        Peers { channels }
    }

    /// Runs `call` on `peer`, bounded by `timeout_ms` (plus slack for the network).
    pub async fn call(
        &self,
        peer: &Peer,
        call: Call,
        timeout_ms: u64,
    ) -> Result<Answer, NodeError> {
        let (rpc, request) = wire::encode_call(&call)?;
        let unreachable = |what: String| unreachable(&call, peer, what);
        let (mut client, request, timeout) =
            self.prepare(&peer.addr, request, timeout_ms, &unreachable)?;
        let sent_ms = crate::peer_clock::now_ms();
        let reply = match tokio::time::timeout(timeout, rpc.send(&mut client, request)).await {
            Err(_) => return Err(unreachable("timed out".into())),
            // A node of an older version that does not know the RPC.
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                return Err(NodeError::NotImplemented(format!(
                    "node {} ({}) does not know {rpc:?}: {}",
                    peer.node,
                    peer.addr,
                    status.message()
                )));
            }
            Ok(Err(status)) => return Err(unreachable(status.to_string())),
            Ok(Ok(reply)) => {
                if let Some(theirs_ms) = crate::peer_clock::read(reply.metadata()) {
                    let received_ms = crate::peer_clock::now_ms();
                    (self.channels.clocks()).observe(peer.node, sent_ms, received_ms, theirs_ms);
                }
                reply.into_inner()
            }
        };
        match wire::decode_answer(&call, &reply.payload) {
            Err(undecodable) => Err(unreachable(undecodable)),
            Ok(outcome) => outcome,
        }
    }

    /// A client on the shared channel to `addr` and `request` bounded by `timeout_ms` plus the
    /// slack (also returned). A channel that cannot be had is reported through `unreachable`.
    pub(crate) fn prepare(
        &self,
        addr: &str,
        mut request: tonic::Request<ShardRequest>,
        timeout_ms: u64,
        unreachable: &dyn Fn(String) -> NodeError,
    ) -> Result<
        (
            ShardServiceClient<tonic::transport::Channel>,
            tonic::Request<ShardRequest>,
            Duration,
        ),
        NodeError,
    > {
        let channel = self.channels.channel(addr).map_err(unreachable)?;
        let client = ShardServiceClient::new(channel)
            .max_decoding_message_size(self.channels.message_bytes_max())
            .max_encoding_message_size(self.channels.message_bytes_max());
        let timeout = Duration::from_millis(timeout_ms + CALL_SLACK_MS);
        request.set_timeout(timeout);
        self.channels.auth().stamp(&mut request);
        Ok((client, request, timeout))
    }
}

/// How a call that did not reach `peer` (or whose answer was lost) fails: retryably, named
/// for what the call was about.
fn unreachable(call: &Call, peer: &Peer, what: String) -> NodeError {
    let (node, addr) = (peer.node, &peer.addr);
    match call {
        Call::Write { shard, .. }
        | Call::WriteHistograms { shard, .. }
        | Call::Delete { shard, .. }
        | Call::ReadIndex { shard }
        | Call::Members { shard }
        | Call::RunMaintenance { shard, .. }
        | Call::GroupStatus { shard } => NodeError::NoLeader {
            shard: *shard,
            message: format!("leader node {node} ({addr}) unreachable: {what}"),
        },
        Call::ChangeMember { group, .. } => NodeError::Unavailable(format!(
            "group {group}: leader node {node} ({addr}) unreachable: {what}"
        )),
        Call::MetaReadIndex | Call::ProposeMeta(_) => NodeError::Unavailable(format!(
            "meta group: leader node {node} ({addr}) unreachable: {what}"
        )),
        Call::ProposeRuler(_) => NodeError::Unavailable(format!(
            "ruler group: leader node {node} ({addr}) unreachable: {what}"
        )),
        Call::CommandLevel => {
            NodeError::Unavailable(format!("node {node} ({addr}) unreachable: {what}"))
        }
    }
}

/// Encodes an operation's outcome as one reply message (a unary answer, or one message of a
/// streamed read): the error keeps its kind across the wire.
pub(crate) fn encode_result<T: serde::Serialize>(
    res: Result<T, NodeError>,
) -> Result<ShardReply, tonic::Status> {
    wire::encode_result(&res)
}

/// One reply message back into the outcome it carries.
pub(crate) fn decode_result<T: serde::de::DeserializeOwned>(
    reply: &ShardReply,
) -> Result<T, NodeError> {
    wire::decode_result(&reply.payload)
}
