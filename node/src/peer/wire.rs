//! [`Call`]s and [`Answer`]s as they cross the wire (`tidemark.node.v1.ShardService`, wire
//! version 2; the layout is in `proto/proto/tidemark/node.proto`). Each call is one RPC whose
//! `ShardRequest.payload` is a bincode-encoded value of the type that RPC names, and whose
//! `ShardReply.payload` is a bincode-encoded `Result<_, NodeError>` (the error in its wire
//! form, `error.rs`). The types and their order are the wire format of earlier builds: a node
//! of the previous build and one of this build understand each other.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_proto::node::shard_service_client::ShardServiceClient;
use tidemark_proto::node::{ShardReply, ShardRequest};
use tidemark_storage::ShardId;

use super::{Answer, Call};
use crate::error::NodeError;
use crate::meta::MetaCommand;
use crate::raft::codec;
use crate::raft::{GroupId, NodeId};
use crate::request::{
    DeleteRequest, GroupStatus, HistogramWrite, MemberOp, MemberOutcome, SeriesWrite, WriteOutcome,
    WriteOutcomeV1,
};
use crate::retention::{Maintenance, MaintenanceRun};
use crate::ruler::record::RulerCommand;

/// Version of the `payload` encoding in `ShardRequest` (see node.proto): 2 made the read
/// index's payload say which group (a shard's or the meta group).
pub const WIRE_VERSION: u32 = 2;

/// Whose read index a `ReadIndex` RPC asks for (its payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum ReadIndexOf {
    /// The shard the request names.
    Shard,
    /// The meta group (its leader confirms the cluster map this node has).
    Meta,
    /// The shard the request names, answered with the members (voters and learners) of its
    /// group as of the read index, not the index.
    Members,
}

/// The RPCs of the shard service that carry [`Call`]s, and the two reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    Write,
    WriteHistograms,
    ReadIndex,
    ChangeMember,
    DeleteSeries,
    GroupStatus,
    ProposeMeta,
    ProposeRuler,
    CommandLevel,
    RunMaintenance,
}

type Client = ShardServiceClient<tonic::transport::Channel>;

impl Rpc {
    /// Sends `request` as this RPC.
    pub(super) async fn send(
        self,
        client: &mut Client,
        request: tonic::Request<ShardRequest>,
    ) -> Result<tonic::Response<ShardReply>, tonic::Status> {
        match self {
            Rpc::Write => client.write(request).await,
            Rpc::WriteHistograms => client.write_histograms(request).await,
            Rpc::ReadIndex => client.read_index(request).await,
            Rpc::ChangeMember => client.change_member(request).await,
            Rpc::DeleteSeries => client.delete_series(request).await,
            Rpc::GroupStatus => client.group_status(request).await,
            Rpc::ProposeMeta => client.propose_meta(request).await,
            Rpc::ProposeRuler => client.propose_ruler(request).await,
            Rpc::CommandLevel => client.command_level(request).await,
            Rpc::RunMaintenance => client.run_maintenance(request).await,
        }
    }
}

fn request<T: Serialize + ?Sized>(
    shard: ShardId,
    payload: &T,
) -> Result<tonic::Request<ShardRequest>, NodeError> {
    let payload = codec::encode(&payload).map_err(|e| NodeError::Internal(e.to_string()))?;
    Ok(tonic::Request::new(ShardRequest {
        version: WIRE_VERSION,
        shard,
        payload,
    }))
}

/// The RPC and the request that carry `call`.
pub(super) fn encode_call(call: &Call) -> Result<(Rpc, tonic::Request<ShardRequest>), NodeError> {
    Ok(match call {
        Call::Write { shard, part } => (Rpc::Write, request(*shard, part.as_slice())?),
        Call::WriteHistograms { shard, part } => {
            (Rpc::WriteHistograms, request(*shard, part.as_slice())?)
        }
        Call::Delete { shard, request: r } => (Rpc::DeleteSeries, request(*shard, r)?),
        Call::ReadIndex { shard } => (Rpc::ReadIndex, request(*shard, &ReadIndexOf::Shard)?),
        Call::MetaReadIndex => (Rpc::ReadIndex, request(0, &ReadIndexOf::Meta)?),
        Call::Members { shard } => (Rpc::ReadIndex, request(*shard, &ReadIndexOf::Members)?),
        // `shard` is not used by this RPC: the payload names the group.
        Call::ChangeMember { group, op } => (Rpc::ChangeMember, request(0, &(group, op))?),
        Call::GroupStatus { shard } => (Rpc::GroupStatus, request(*shard, &())?),
        Call::ProposeMeta(cmd) => (Rpc::ProposeMeta, request(0, cmd)?),
        Call::ProposeRuler(cmd) => (Rpc::ProposeRuler, request(0, cmd)?),
        Call::CommandLevel => (Rpc::CommandLevel, request(0, &())?),
        Call::RunMaintenance { shard, job } => (Rpc::RunMaintenance, request(*shard, job)?),
    })
}

/// The call a request of `rpc` carries (the server side). A request of another wire version,
/// or one that does not decode, is refused with the gRPC status saying why.
pub(crate) fn decode_call(rpc: Rpc, msg: ShardRequest) -> Result<Call, tonic::Status> {
    if msg.version != WIRE_VERSION {
        return Err(tonic::Status::failed_precondition(format!(
            "shard wire version {} not supported (this node speaks {WIRE_VERSION})",
            msg.version
        )));
    }
    fn payload<T: DeserializeOwned>(msg: &ShardRequest) -> Result<T, tonic::Status> {
        codec::decode(&msg.payload).map_err(|e| tonic::Status::invalid_argument(e.to_string()))
    }
    let shard = msg.shard;
    Ok(match rpc {
        Rpc::Write => Call::Write {
            shard,
            part: payload::<Vec<SeriesWrite>>(&msg)?,
        },
        Rpc::WriteHistograms => Call::WriteHistograms {
            shard,
            part: payload::<Vec<HistogramWrite>>(&msg)?,
        },
        Rpc::DeleteSeries => Call::Delete {
            shard,
            request: payload::<DeleteRequest>(&msg)?,
        },
        Rpc::ReadIndex => match payload::<ReadIndexOf>(&msg)? {
            ReadIndexOf::Shard => Call::ReadIndex { shard },
            ReadIndexOf::Meta => Call::MetaReadIndex,
            ReadIndexOf::Members => Call::Members { shard },
        },
        Rpc::ChangeMember => {
            let (group, op) = payload::<(GroupId, MemberOp)>(&msg)?;
            Call::ChangeMember { group, op }
        }
        Rpc::GroupStatus => {
            payload::<()>(&msg)?;
            Call::GroupStatus { shard }
        }
        Rpc::ProposeMeta => Call::ProposeMeta(payload::<MetaCommand>(&msg)?),
        Rpc::ProposeRuler => Call::ProposeRuler(payload::<RulerCommand>(&msg)?),
        Rpc::CommandLevel => {
            payload::<()>(&msg)?;
            Call::CommandLevel
        }
        Rpc::RunMaintenance => Call::RunMaintenance {
            shard,
            job: payload::<Maintenance>(&msg)?,
        },
    })
}

/// The reply carrying `result` (the server side).
pub(crate) fn encode_answer(
    result: Result<Answer, NodeError>,
) -> Result<ShardReply, tonic::Status> {
    match result {
        Err(e) => encode_result::<()>(&Err(e)),
        Ok(Answer::Written(o)) => match o.as_v1() {
            Some(v1) => encode_result(&Ok::<_, NodeError>(v1)),
            None => encode_result(&Ok::<_, NodeError>(o)),
        },
        Ok(Answer::Deleted(n) | Answer::Index(n)) => encode_result(&Ok::<_, NodeError>(n)),
        Ok(Answer::Members(m)) => encode_result(&Ok::<_, NodeError>(m)),
        Ok(Answer::Member(m)) => encode_result(&Ok::<_, NodeError>(m)),
        Ok(Answer::Status(s)) => encode_result(&Ok::<_, NodeError>(s)),
        Ok(Answer::Proposed) => encode_result(&Ok::<_, NodeError>(())),
        Ok(Answer::Level(l)) => encode_result(&Ok::<_, NodeError>(l)),
        Ok(Answer::Maintenance(r)) => encode_result(&Ok::<_, NodeError>(r)),
    }
}

/// The outcome a reply to `call` carries; `Err` when the payload does not decode.
pub(super) fn decode_answer(
    call: &Call,
    payload: &[u8],
) -> Result<Result<Answer, NodeError>, String> {
    fn decode<T: DeserializeOwned>(
        payload: &[u8],
        answer: impl FnOnce(T) -> Answer,
    ) -> Result<Result<Answer, NodeError>, String> {
        codec::decode::<Result<T, NodeError>>(payload)
            .map(|r| r.map(answer))
            .map_err(|e| e.to_string())
    }
    match call {
        // The short form first: what every answer without limited series is.
        Call::Write { .. } | Call::WriteHistograms { .. } => {
            decode::<WriteOutcomeV1>(payload, |o| Answer::Written(o.into()))
                .or_else(|_| decode::<WriteOutcome>(payload, Answer::Written))
        }
        Call::Delete { .. } => decode::<u64>(payload, Answer::Deleted),
        Call::ReadIndex { .. } | Call::MetaReadIndex => decode::<u64>(payload, Answer::Index),
        Call::Members { .. } => decode::<Vec<NodeId>>(payload, Answer::Members),
        Call::ChangeMember { .. } => decode::<MemberOutcome>(payload, Answer::Member),
        Call::GroupStatus { .. } => decode::<Option<GroupStatus>>(payload, Answer::Status),
        Call::ProposeMeta(_) | Call::ProposeRuler(_) => {
            decode::<()>(payload, |()| Answer::Proposed)
        }
        Call::CommandLevel => decode::<u32>(payload, Answer::Level),
        Call::RunMaintenance { .. } => decode::<MaintenanceRun>(payload, Answer::Maintenance),
    }
}

/// One reply message of `res`.
pub(super) fn encode_result<T: Serialize>(
    res: &Result<T, NodeError>,
) -> Result<ShardReply, tonic::Status> {
    let payload = codec::encode(res).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(ShardReply { payload })
}

/// The outcome one reply message carries; an undecodable one is an internal error.
pub(super) fn decode_result<T: DeserializeOwned>(payload: &[u8]) -> Result<T, NodeError> {
    codec::decode::<Result<T, NodeError>>(payload)
        .map_err(|e| NodeError::Internal(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call survives its request, and every answer its reply, as the other side
    /// decodes them.
    #[test]
    fn calls_and_answers_round_trip() {
        let calls = [
            (
                Call::ReadIndex { shard: 3 },
                Answer::Index(42),
                Rpc::ReadIndex,
            ),
            (Call::MetaReadIndex, Answer::Index(7), Rpc::ReadIndex),
            (
                Call::Members { shard: 1 },
                Answer::Members(vec![1, 2]),
                Rpc::ReadIndex,
            ),
            (
                Call::ChangeMember {
                    group: 0,
                    op: MemberOp::Remove { node: 4 },
                },
                Answer::Member(MemberOutcome::Removed),
                Rpc::ChangeMember,
            ),
            (
                Call::GroupStatus { shard: 2 },
                Answer::Status(None),
                Rpc::GroupStatus,
            ),
            (
                Call::Write {
                    shard: 5,
                    part: Vec::new(),
                },
                Answer::Written(WriteOutcome {
                    samples_written: 3,
                    ..Default::default()
                }),
                Rpc::Write,
            ),
            (
                Call::WriteHistograms {
                    shard: 5,
                    part: vec![HistogramWrite {
                        key: tidemark_storage::SeriesKey::from(
                            &tidemark_storage::Labels::from_pairs(&[("__name__", "h")]),
                        ),
                        samples: vec![tidemark_storage::histogram::HistogramSample {
                            t: 7,
                            h: tidemark_storage::histogram::HistogramValue::Float(
                                Default::default(),
                            ),
                        }],
                    }],
                },
                Answer::Written(WriteOutcome {
                    samples_written: 1,
                    ..Default::default()
                }),
                Rpc::WriteHistograms,
            ),
            (
                Call::Write {
                    shard: 5,
                    part: Vec::new(),
                },
                Answer::Written(WriteOutcome {
                    samples_written: 3,
                    series_limited: 2,
                    samples_limited: 7,
                    ..Default::default()
                }),
                Rpc::Write,
            ),
        ];
        for (call, answer, want_rpc) in calls {
            let (rpc, request) = encode_call(&call).unwrap();
            assert_eq!(rpc, want_rpc);
            let back = decode_call(rpc, request.into_inner()).unwrap();
            assert_eq!(format!("{back:?}"), format!("{call:?}"));
            let reply = encode_answer(Ok(answer.clone())).unwrap();
            let got = decode_answer(&call, &reply.payload).unwrap().unwrap();
            assert_eq!(format!("{got:?}"), format!("{answer:?}"));
        }
        let reply = encode_answer(Err(NodeError::Overloaded {
            shard: 1,
            message: "full".into(),
        }))
        .unwrap();
        let got = decode_answer(&Call::ReadIndex { shard: 1 }, &reply.payload).unwrap();
        assert!(matches!(got, Err(NodeError::Overloaded { shard: 1, .. })));
    }

    /// A write's request and reply have the bytes of wire version 2: the part as a sequence
    /// of series, the reply as `Result<WriteOutcome, _>`.
    #[test]
    fn payloads_are_those_of_wire_version_2() {
        let (_, request) = encode_call(&Call::MetaReadIndex).unwrap();
        // ReadIndexOf::Meta is variant 1.
        assert_eq!(request.get_ref().payload, vec![1]);
        let outcome = WriteOutcome {
            samples_written: 2,
            ..Default::default()
        };
        let reply = encode_answer(Ok(Answer::Written(outcome.clone()))).unwrap();
        assert_eq!(
            reply.payload,
            codec::encode(&Ok::<_, ()>(outcome.as_v1().unwrap())).unwrap(),
            "Ok(T) is variant 0 followed by T, in the layout of the previous build"
        );
    }
}
