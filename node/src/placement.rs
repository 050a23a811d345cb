//! The placement controller: where replicas are, and making it so. It adopts shard-map
//! versions (starting and initialising the groups of new shards), adds and removes group
//! members and records each shard's voters in the cluster map, empties replicas this node no
//! longer holds, keeps the meta group's voters alive, and records a new cluster in the meta
//! group. It owns the node's background loops (`placement/loops.rs`).
//!
//! One concern a file: `membership.rs` (member changes and the placement record),
//! `shard_versions.rs` (`tidemarkctl shards set` and adopting its versions), `retire.rs`
//! (emptying removed replicas), `meta_voters.rs`, `meta_init.rs`, `loops.rs`.

mod loops;
mod membership;
mod meta_init;
mod meta_voters;
mod retire;
mod shard_versions;

use std::sync::Arc;

pub use shard_versions::SHARD_COUNT_MAX;

use crate::error::NodeError;
use crate::groups::GroupHost;
use crate::meta::MetaCommand;
use crate::peer::{Call, Peers};
use crate::router::Router;

/// Places replicas; see the module docs.
pub(crate) struct Placement {
    host: Arc<GroupHost>,
    router: Arc<Router>,
    peers: Peers,
}

impl Placement {
    pub fn new(host: Arc<GroupHost>, router: Arc<Router>, peers: Peers) -> Self {
        Placement {
            host,
            router,
            peers,
        }
    }

    /// Proposes `cmd` to the meta group (on its leader: this node, or over gRPC) and waits
    /// until it is committed.
    pub async fn propose_meta(&self, cmd: MetaCommand) -> Result<(), NodeError> {
        self.router
            .on_meta_leader(
                Call::ProposeMeta(cmd.clone()),
                || self.host.propose_meta(cmd),
                |a| a.proposed(),
                self.host.config().write_timeout_ms,
            )
            .await
    }
}
