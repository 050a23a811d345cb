//! Tidemark's own HTTP API as types: the bodies of `/api/v1/status/cluster` and the
//! `/api/v1/admin/*` endpoints, which the node serialises and `tidemarkctl` (and the jepsen
//! harness) deserialise. A crate of its own so that a client needs serde, not the node (and
//! its RocksDB). Every field is camelCase on the wire, as Prometheus' own fields are; the
//! Prometheus-compatible endpoints are not here: they keep upstream's names, exactly. The one
//! upstream API that is here is Alertmanager's v2, in [`alertmanager`], byte for byte as
//! Alertmanager writes it, because Tidemark both serves it and sends to it.

mod admin;
pub mod alertmanager;
mod cluster;
pub mod duration;
mod envelope;
pub mod retention;
pub mod tokens;

pub use admin::{
    LocalShard, MemberChange, MemberChangeAnswer, MemberChangeOp, MemberOutcome, ReplicationChange,
    ShardCountChange, ShardDigest, ShardVersionOutcome,
};
pub use cluster::{ClusterStatus, GroupStatus, META_GROUP_ID, RULER_GROUP_ID, ShardMapVersion};
pub use envelope::Envelope;

#[cfg(test)]
mod tests;
