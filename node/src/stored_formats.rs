//! Stored formats that older binaries cannot read are written only once every node of the
//! cluster reads them: a shard snapshot carries a node's stored chunks to another node as they
//! are, so during a rolling upgrade a node of the older version could otherwise be handed
//! chunks it takes for corrupt data. Checked at start and every [`CHECK_INTERVAL`] (a node
//! may join, or be rolled back); a node that cannot be asked counts as one that does not read
//! them (a node down for an upgrade may come back older), once the answer it gave before is
//! older than `ClusterVersion`'s one minute.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::cluster_version::ClusterVersion;
use crate::groups::GroupHost;
use crate::peer::Peers;

/// The command level from which a node reads sealed chunks with shared time columns.
pub const SHARED_TIME_COLUMNS_LEVEL: u32 = 8;

/// How often the cluster's levels are checked again.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Turns the data store's shared time columns on while every node of the cluster map reads
/// them, and off otherwise (`Engine::set_shared_time_columns`).
pub fn start(host: Arc<GroupHost>, peers: Peers) -> JoinHandle<()> {
    let version = ClusterVersion::new(host.node_id(), peers);
    tokio::spawn(async move {
        let mut on = None;
        loop {
            let map = host.cluster_map();
            // Until the cluster's record is applied, its nodes are not known.
            let checked = match map.cluster_id {
                None => Err(crate::error::NodeError::Unavailable(
                    "the cluster's nodes are not known yet".into(),
                )),
                Some(_) => {
                    let nodes: Vec<_> = map.nodes.into_iter().collect();
                    version
                        .require(&nodes, SHARED_TIME_COLUMNS_LEVEL, "shared time columns")
                        .await
                }
            };
            let now = checked.is_ok();
            if on != Some(now) {
                host.engine().set_shared_time_columns(now);
                match checked {
                    Ok(()) => {
                        tracing::info!("sealed partitions are stored with shared time columns")
                    }
                    Err(e) => tracing::info!(
                        reason = %e,
                        "sealed partitions are stored without shared time columns"
                    ),
                }
                on = Some(now);
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    })
}
