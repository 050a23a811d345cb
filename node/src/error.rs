//! Errors of the node, and the one place they are classified: every [`NodeError`] has an
//! [`ErrorKind`], which the HTTP layer maps to a status and Prometheus `errorType`
//! (`http::error`) and which is what crosses the wire between nodes ([`NodeError`]'s serde
//! form, below).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tidemark_storage::ShardId;

use crate::raft::{GroupId, NodeId, group_shard};

/// Node-level errors. The first seven variants are the kinds themselves, for errors that
/// carry nothing more than a message; the others carry the ids they are about.
#[derive(Clone, Debug, thiserror::Error)]
pub enum NodeError {
    /// The request is malformed or violates a limit; nothing was written.
    #[error("{0}")]
    BadRequest(String),
    /// The shard has no leader right now (election in progress); retry.
    #[error("shard {shard} has no leader: {message}")]
    NoLeader { shard: ShardId, message: String },
    /// Too much in flight for the shard; retry later.
    #[error("shard {shard} is overloaded: {message}")]
    Overloaded { shard: ShardId, message: String },
    /// The cluster cannot do it right now (a leader change, a membership change in progress);
    /// retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The operation did not complete in time; its outcome is unknown.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An internal failure that none of the typed variants describes.
    #[error("internal error: {0}")]
    Internal(String),
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// This node does not lead group `group`; `leader` does, when known. Retry on the leader.
    #[error("node {node} does not lead group {group}{}", leader_hint(*.leader))]
    NotLeader {
        group: GroupId,
        node: NodeId,
        leader: Option<NodeId>,
    },
    /// Shard `shard`'s group is not started on this node yet (a shard-map version it has not
    /// adopted); retry.
    #[error("unavailable: shard {shard} does not exist on this node (yet)")]
    ShardNotStarted { shard: ShardId },
    /// Shard `shard`'s write queue is closed: the node is shutting down.
    #[error("internal error: shard {shard} is shutting down")]
    ShuttingDown { shard: ShardId },
    /// The data store failed (on shard `shard`, when it is about one).
    #[error("internal error: {}storage: {source}", shard_prefix(*.shard))]
    Storage {
        shard: Option<ShardId>,
        #[source]
        source: tidemark_storage::Error,
    },
    /// The Raft log store failed.
    #[error("internal error: raft log: {0}")]
    LogStore(String),
    /// Raft failed in group `group`: it stopped, or would not start.
    #[error("internal error: group {group}: {message}")]
    Raft { group: GroupId, message: String },
    /// The node cannot start on this data directory or configuration.
    #[error("{0}")]
    Startup(String),
}

fn leader_hint(leader: Option<NodeId>) -> String {
    match leader {
        Some(l) => format!(" (node {l} does)"),
        None => " (election in progress)".into(),
    }
}

fn shard_prefix(shard: Option<ShardId>) -> String {
    shard.map(|s| format!("shard {s}: ")).unwrap_or_default()
}

/// What an error means for the caller: whether to retry, and the HTTP status it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (400).
    BadRequest,
    /// A shard has no leader (503, retry).
    NoLeader,
    /// A shard is overloaded (429, retry later).
    Overloaded,
    /// Not possible right now (503, retry).
    Unavailable,
    /// Outcome unknown (503).
    Timeout,
    /// A failure of this node (500).
    Internal,
    /// Not implemented (501).
    NotImplemented,
}

impl NodeError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::BadRequest(_) => ErrorKind::BadRequest,
            NodeError::NoLeader { .. } => ErrorKind::NoLeader,
            NodeError::Overloaded { .. } => ErrorKind::Overloaded,
            NodeError::Unavailable(_) | NodeError::ShardNotStarted { .. } => ErrorKind::Unavailable,
            NodeError::NotLeader { group, .. } => match group_shard(*group) {
                Some(_) => ErrorKind::NoLeader,
                None => ErrorKind::Unavailable,
            },
            NodeError::Timeout(_) => ErrorKind::Timeout,
            NodeError::Internal(_)
            | NodeError::ShuttingDown { .. }
            | NodeError::Storage { .. }
            | NodeError::LogStore(_)
            | NodeError::Raft { .. }
            | NodeError::Startup(_) => ErrorKind::Internal,
            NodeError::NotImplemented(_) => ErrorKind::NotImplemented,
        }
    }

    /// Whether the caller should look the leader up again and retry (a leader moved, or a
    /// node that was taken for one is unreachable).
    pub fn leader_moved(&self) -> bool {
        matches!(self.kind(), ErrorKind::NoLeader | ErrorKind::Unavailable)
    }

    /// A storage failure on `shard`.
    pub fn storage(shard: ShardId) -> impl FnOnce(tidemark_storage::Error) -> NodeError {
        move |source| NodeError::Storage {
            shard: Some(shard),
            source,
        }
    }

    /// A Raft failure of `group`.
    pub fn raft(group: GroupId) -> impl FnOnce(String) -> NodeError {
        move |message| NodeError::Raft { group, message }
    }
}

/// The form an error has between nodes (`tidemark.node.v1` payloads, wire version 2): one
/// variant per [`ErrorKind`], in this order, each with its message (and the shard where the
/// kind names one). A typed error crosses as its kind and its message, and is that kind's
/// variant on the other side.
#[derive(Serialize, Deserialize)]
enum WireError {
    BadRequest(String),
    NoLeader { shard: ShardId, message: String },
    Overloaded { shard: ShardId, message: String },
    Unavailable(String),
    Timeout(String),
    Internal(String),
    NotImplemented(String),
}

/// The message of `e` without the prefix its kind's variant adds back on the other side.
fn bare_message(e: &NodeError) -> String {
    let text = e.to_string();
    let prefix = match e.kind() {
        ErrorKind::Unavailable => "unavailable: ",
        ErrorKind::Timeout => "timed out: ",
        ErrorKind::Internal => "internal error: ",
        ErrorKind::NotImplemented => "not implemented: ",
        _ => "",
    };
    text.strip_prefix(prefix).unwrap_or(&text).to_string()
}

impl Serialize for NodeError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            NodeError::BadRequest(m) => WireError::BadRequest(m.clone()),
            NodeError::NoLeader { shard, message } => WireError::NoLeader {
                shard: *shard,
                message: message.clone(),
            },
            NodeError::Overloaded { shard, message } => WireError::Overloaded {
                shard: *shard,
                message: message.clone(),
            },
            NodeError::NotLeader { group, .. } if group_shard(*group).is_some() => {
                WireError::NoLeader {
                    shard: group_shard(*group).unwrap_or_default(),
                    message: self.to_string(),
                }
            }
            other => match other.kind() {
                ErrorKind::BadRequest => WireError::BadRequest(bare_message(other)),
                ErrorKind::Unavailable | ErrorKind::NoLeader | ErrorKind::Overloaded => {
                    WireError::Unavailable(bare_message(other))
                }
                ErrorKind::Timeout => WireError::Timeout(bare_message(other)),
                ErrorKind::Internal => WireError::Internal(bare_message(other)),
                ErrorKind::NotImplemented => WireError::NotImplemented(bare_message(other)),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for NodeError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match WireError::deserialize(d)? {
            WireError::BadRequest(m) => NodeError::BadRequest(m),
            WireError::NoLeader { shard, message } => NodeError::NoLeader { shard, message },
            WireError::Overloaded { shard, message } => NodeError::Overloaded { shard, message },
            WireError::Unavailable(m) => NodeError::Unavailable(m),
            WireError::Timeout(m) => NodeError::Timeout(m),
            WireError::Internal(m) => NodeError::Internal(m),
            WireError::NotImplemented(m) => NodeError::NotImplemented(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{META_GROUP, codec, shard_group};

    fn round_trip(e: &NodeError) -> NodeError {
        codec::decode(&codec::encode(e).unwrap()).unwrap()
    }

    #[test]
    fn errors_keep_their_kind_and_message_across_the_wire() {
        let storage = NodeError::Storage {
            shard: Some(3),
            source: tidemark_storage::Error::Io {
                shard: 3,
                message: "disk".into(),
            },
        };
        for e in [
            NodeError::Overloaded {
                shard: 3,
                message: "full".into(),
            },
            NodeError::NotLeader {
                group: shard_group(2),
                node: 1,
                leader: Some(2),
            },
            NodeError::NotLeader {
                group: META_GROUP,
                node: 1,
                leader: None,
            },
            NodeError::ShardNotStarted { shard: 9 },
            storage,
            NodeError::Timeout("slow".into()),
            NodeError::BadRequest("bad".into()),
            NodeError::Startup("wrong dir".into()),
        ] {
            let back = round_trip(&e);
            assert_eq!(back.kind(), e.kind(), "{e}");
            // A shard's "not the leader" becomes "no leader" with the whole message.
            assert!(back.to_string().contains(&e.to_string()), "{back} / {e}");
        }
    }

    /// The bytes an error of each kind has on the wire are those of wire version 2 (the
    /// variant index, then its fields), so that nodes of the previous build understand them.
    #[test]
    fn the_wire_form_is_that_of_wire_version_2() {
        #[derive(Serialize)]
        enum V2 {
            _BadRequest(String),
            NoLeader { shard: ShardId, message: String },
            _Overloaded,
            _Unavailable,
            Timeout(String),
        }
        let e = NodeError::NoLeader {
            shard: 4,
            message: "m".into(),
        };
        let v2 = V2::NoLeader {
            shard: 4,
            message: "m".into(),
        };
        assert_eq!(codec::encode(&e).unwrap(), codec::encode(&v2).unwrap());
        let e = NodeError::Timeout("t".into());
        assert_eq!(
            codec::encode(&e).unwrap(),
            codec::encode(&V2::Timeout("t".into())).unwrap()
        );
    }
}
