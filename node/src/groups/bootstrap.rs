//! From a data directory to running groups.
//!
//! A data directory without a cluster record becomes a one-node cluster (every group
//! initialised with this node as its only voter), or, with `initial_cluster`, a member of a
//! fixed cluster: the first `meta_voters_max` members initialise the meta group, each member
//! initialises the shard groups `initial_placement` puts it in, and every member derives the
//! same cluster id from the token and the list. A node that joins (`--join`) adopts the
//! cluster it was told of and initialises nothing: the groups' leaders add it. Otherwise the
//! groups are reopened: each shard's state machine starts from its last flush and openraft
//! replays the log after it (the log is the only WAL).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::join_all;
use tidemark_storage::{Engine, ShardId};

use super::{
    GroupHost, GroupStarter, RETIRING_RECORD, SNAPSHOT_DIR, empty_replica, raft_config, start_shard,
};
use crate::cluster_auth::{
    ClusterAuth, check_secret, constant_time_eq, derived_secret, new_secret,
};
use crate::config::Config;
use crate::disk_guard::DiskGuard;
use crate::error::NodeError;
use crate::grpc_tls::GrpcTls;
use crate::meta::{
    CLUSTER_FILE_VERSION, ClusterFile, initial_cluster_id, initial_placement, new_cluster_id,
};
use crate::raft::codec;
use crate::raft::log_store::LogDb;
use crate::raft::network::PeerChannels;
use crate::raft::shard_timings::ShardTimings;
use crate::raft::state_machine::GroupStateMachine;
use crate::raft::transport_service::GroupRegistry;
use crate::raft::{META_GROUP, NodeId, NodeInfo, RULER_GROUP};

/// Name of the node record present once this node joined a cluster (`--join`): its groups are
/// never initialised by this node, only by the leaders that add it.
const JOINED_RECORD: &str = "joined";

/// Name of the node record holding the [`ClusterFile`] in the raft-log database.
const CLUSTER_RECORD: &str = "cluster";

/// Name of the node record holding the cluster secret (`cluster_auth.rs`).
const SECRET_RECORD: &str = "cluster_secret";

/// The cluster a joining node adopts.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinTarget {
    /// The cluster id.
    pub cluster_id: String,
    /// Its number of shards.
    pub shard_count: u32,
    /// Its secret, from the join token (`None`: no token given, enough for a node that
    /// already belongs to the cluster).
    pub secret: Option<String>,
}

/// What opening the groups found.
pub(crate) struct Opened {
    pub host: GroupHost,
    /// The cluster this data directory belongs to.
    pub cluster: ClusterFile,
    /// Its secret (`None`: a cluster made before secrets).
    pub secret: Option<String>,
    /// Whether this node joined an existing cluster (it initialises no group).
    pub joined: bool,
}

impl GroupHost {
    /// Opens this node's groups on `config.data_dir`, creating a one-node cluster in an empty
    /// data directory (or the member of a fixed cluster, or of the cluster `join` names).
    pub(crate) async fn open(
        config: Arc<Config>,
        join: Option<JoinTarget>,
        engine: Arc<dyn Engine>,
    ) -> Result<Opened, NodeError> {
        let log_db = prepare_data_dir(&config)?;
        let members = config
            .initial_members()
            .map_err(|e| NodeError::Startup(format!("{e:#}")))?;
        let (cluster, secret) =
            load_or_create_cluster(&log_db, &config, join.as_ref(), members.as_ref())?;
        if let Some(bytes) = log_db.get_node_record(RETIRING_RECORD)? {
            let shard = <[u8; 4]>::try_from(bytes.as_slice())
                .map(ShardId::from_be_bytes)
                .map_err(|_| NodeError::LogStore(format!("bad retiring record {bytes:?}")))?;
            empty_replica(&engine, &log_db, shard).await?;
            tracing::info!(
                shard,
                "finished emptying a replica this node no longer holds"
            );
        }
        let joined = log_db.get_node_record(JOINED_RECORD)?.is_some();
        let auth =
            ClusterAuth::new(&cluster.cluster_id, secret.as_deref()).map_err(NodeError::Startup)?;
        let host = start_groups(config, engine, log_db, &cluster, auth).await?;
        if !joined {
            host.initialise(&bootstrap_members(&host.config), &cluster)
                .await?;
        }
        Ok(Opened {
            host,
            cluster,
            secret,
            joined,
        })
    }

    /// Initialises, on a bootstrap, the groups this node is a first voter of: every group of a
    /// cluster this node created; of a fixed cluster, the meta group on its first
    /// `meta_voters_max` members (the meta leader adds the others as learners) and each shard
    /// group on the members `initial_placement` puts it on. openraft accepts identical
    /// initialisation on several nodes, and the vote elects one leader.
    async fn initialise(
        &self,
        members: &BTreeMap<NodeId, String>,
        cluster: &ClusterFile,
    ) -> Result<(), NodeError> {
        let node_id = self.node_id();
        let placement = initial_placement(
            &members.keys().copied().collect::<Vec<_>>(),
            cluster.shard_count,
            bootstrap_replication_factor(&self.config),
        );
        let voters_of = |nodes: &[NodeId]| -> BTreeMap<NodeId, NodeInfo> {
            nodes
                .iter()
                .map(|id| {
                    (
                        *id,
                        NodeInfo {
                            addr: members[id].clone(),
                        },
                    )
                })
                .collect()
        };
        let meta = voters_of(&meta_voters(members, self.config.meta_voters_max));
        let slots = self.slots();
        let shards = slots
            .iter()
            .take(cluster.shard_count as usize)
            .enumerate()
            .map(|(shard, s)| (&s.group, voters_of(&placement[&(shard as ShardId)])));
        for (g, voters) in std::iter::once((&self.meta, meta)).chain(shards) {
            if !voters.contains_key(&node_id) {
                continue;
            }
            let initialized = g
                .raft
                .is_initialized()
                .await
                .map_err(|e| NodeError::raft(g.id)(e.to_string()))?;
            if !initialized {
                g.raft
                    .initialize(voters)
                    .await
                    .map_err(|e| NodeError::raft(g.id)(format!("initialize: {e}")))?;
            }
        }
        Ok(())
    }

    /// Waits (up to `startup_leader_wait_ms`) until the meta group and every shard group has
    /// a leader.
    pub(crate) async fn wait_for_leaders(&self) {
        let timeout = Duration::from_millis(self.config.startup_leader_wait_ms);
        // The ruler group is created later, by the ruler (`ruler/membership.rs`).
        let groups: Vec<_> = self
            .groups()
            .into_iter()
            .filter(|g| g.id != RULER_GROUP)
            .collect();
        let waits = groups.iter().map(|g| async move {
            let res = g
                .raft
                .wait(Some(timeout))
                .metrics(|m| m.current_leader.is_some(), "leader elected")
                .await;
            if let Err(e) = res {
                tracing::warn!(group = g.id, error = %e, "group has no leader yet");
            }
        });
        join_all(waits).await;
    }
}

/// Creates the data directory, opens the Raft log database in it, and clears snapshots half
/// received before a restart (of no use: their sender starts again).
fn prepare_data_dir(config: &Config) -> Result<LogDb, NodeError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| NodeError::Startup(format!("create {}: {e}", dir.display())))?;
    let budget =
        tidemark_storage::rocks::memory::MemoryBudget::new(config.storage.raft_log_budget_bytes());
    let log_db = LogDb::open_with_budget(&dir.join("raft-log"), budget)?;
    let snapshot_dir = dir.join(SNAPSHOT_DIR);
    if snapshot_dir.exists() {
        std::fs::remove_dir_all(&snapshot_dir)
            .map_err(|e| NodeError::Startup(format!("clear {}: {e}", snapshot_dir.display())))?;
    }
    Ok(log_db)
}

/// The cluster record of this data directory and the cluster's secret: checked against the
/// configuration when there are, written (synced; the secret first) when there are not.
fn load_or_create_cluster(
    log_db: &LogDb,
    config: &Config,
    join: Option<&JoinTarget>,
    members: Option<&BTreeMap<NodeId, String>>,
) -> Result<(ClusterFile, Option<String>), NodeError> {
    let offered = offered_secret(config, join)?;
    let initial_id = members.map(|m| initial_cluster_id(&config.initial_cluster_token, m));
    let dir = config.data_dir.display();
    if let Some(bytes) = log_db.get_node_record(CLUSTER_RECORD)? {
        let file: ClusterFile = codec::decode(&bytes)
            .map_err(|e| NodeError::LogStore(format!("cluster record: {e}")))?;
        if file.node_id != config.node_id {
            return Err(NodeError::Startup(format!(
                "data directory {dir} belongs to node {}, not node {}",
                file.node_id, config.node_id
            )));
        }
        if let Some(j) = join
            && j.cluster_id != file.cluster_id
        {
            return Err(NodeError::Startup(format!(
                "data directory {dir} holds cluster {}, but the node to join belongs to \
                 cluster {}: refusing to join (use an empty data directory)",
                file.cluster_id, j.cluster_id
            )));
        }
        if let Some(id) = &initial_id
            && *id != file.cluster_id
        {
            return Err(NodeError::Startup(format!(
                "data directory {dir} holds cluster {}, but initial_cluster and its token \
                 describe cluster {id}: refusing to start (use an empty data directory to \
                 bootstrap a new cluster)",
                file.cluster_id
            )));
        }
        let secret = existing_secret(log_db, config, offered)?;
        return Ok((file, secret));
    }
    let (cluster_id, shard_count) = match join {
        Some(j) => (j.cluster_id.clone(), j.shard_count),
        None => (
            initial_id.unwrap_or_else(new_cluster_id),
            config.shard_count,
        ),
    };
    let secret = match offered {
        Some((secret, _)) => secret,
        None if join.is_some() => {
            return Err(NodeError::Startup(
                "joining a cluster needs its join token (--join-token, or \
                 TIDEMARK_JOIN_TOKEN): `tidemarkctl cluster join-token` prints it, as does the \
                 join-token file in a member's data directory"
                    .into(),
            ));
        }
        None if members.is_some() => {
            // The cluster id is public (`/api/v1/status/cluster`): with the well-known default
            // token, so would be the secret.
            if config.initial_cluster_token == Config::default().initial_cluster_token {
                return Err(NodeError::Startup(
                    "bootstrapping a fixed cluster needs a secret: set initial_cluster_token \
                     (--initial-cluster-token) to the same secret value on every member, or \
                     give every member the same cluster_secret_file; the default token is \
                     known to everyone"
                        .into(),
                ));
            }
            derived_secret(&config.initial_cluster_token, &cluster_id)
        }
        None => new_secret(),
    };
    // Before the cluster record: a node that has one always has its secret.
    log_db.put_node_record_sync(SECRET_RECORD, secret.as_bytes())?;
    let file = ClusterFile {
        version: CLUSTER_FILE_VERSION,
        cluster_id,
        node_id: config.node_id,
        shard_count,
    };
    let bytes =
        codec::encode(&file).map_err(|e| NodeError::LogStore(format!("cluster record: {e}")))?;
    if join.is_some() {
        // First: a crash right after the cluster record must not leave a node that
        // initialises its groups alone on the next start.
        log_db.put_node_record_sync(JOINED_RECORD, b"1")?;
    }
    log_db.put_node_record_sync(CLUSTER_RECORD, &bytes)?;
    let (id, shards) = (&file.cluster_id, file.shard_count);
    match members {
        _ if join.is_some() => tracing::info!(cluster_id = %id, shards, "joining a cluster"),
        Some(m) => {
            tracing::info!(cluster_id = %id, shards, members = m.len(), "bootstrapping a fixed cluster")
        }
        None => tracing::info!(cluster_id = %id, shards, "created a one-node cluster"),
    }
    Ok((file, Some(secret)))
}

/// The secret the configuration offers, and where from: the join token's, else
/// `cluster_secret_file`'s.
fn offered_secret(
    config: &Config,
    join: Option<&JoinTarget>,
) -> Result<Option<(String, &'static str)>, NodeError> {
    if let Some(s) = join.and_then(|j| j.secret.clone()) {
        return Ok(Some((s, "the join token")));
    }
    let Some(path) = &config.cluster_secret_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::Startup(format!("cluster_secret_file {}: {e}", path.display())))?;
    let secret = text.trim().to_string();
    check_secret(&secret)
        .map_err(|e| NodeError::Startup(format!("cluster_secret_file {}: {e}", path.display())))?;
    Ok(Some((secret, "cluster_secret_file")))
}

/// The secret of a data directory that already has a cluster: the stored one (a different
/// one offered is an error), else the offered one, adopted (a cluster made before secrets);
/// `None` when there is neither.
fn existing_secret(
    log_db: &LogDb,
    config: &Config,
    offered: Option<(String, &'static str)>,
) -> Result<Option<String>, NodeError> {
    let dir = config.data_dir.display();
    if let Some(bytes) = log_db.get_node_record(SECRET_RECORD)? {
        let stored = String::from_utf8(bytes)
            .map_err(|_| NodeError::LogStore("cluster secret record is not UTF-8".into()))?;
        if let Some((o, from)) = offered
            && !constant_time_eq(o.as_bytes(), stored.as_bytes())
        {
            return Err(NodeError::Startup(format!(
                "data directory {dir} holds another cluster secret than {from}: refusing to \
                 start (a token or file of another cluster?)"
            )));
        }
        return Ok(Some(stored));
    }
    match offered {
        Some((secret, from)) => {
            log_db.put_node_record_sync(SECRET_RECORD, secret.as_bytes())?;
            tracing::info!(
                from,
                "this cluster, made before cluster secrets, adopted one"
            );
            Ok(Some(secret))
        }
        None => {
            tracing::warn!(
                "this cluster was made before cluster secrets: calls between its nodes are \
                 checked for the cluster id only. Give every member the same \
                 cluster_secret_file and restart them one at a time (docs/security.md)"
            );
            Ok(None)
        }
    }
}

/// Starts the meta group, the ruler group and every shard group the cluster has (shards added by shard-map
/// versions since the cluster record was written included).
async fn start_groups(
    config: Arc<Config>,
    engine: Arc<dyn Engine>,
    log_db: LogDb,
    cluster: &ClusterFile,
    auth: ClusterAuth,
) -> Result<GroupHost, NodeError> {
    let tls = match &config.grpc_tls {
        Some(files) => Some(GrpcTls::new(files).map_err(NodeError::Startup)?),
        None => None,
    };
    let starter = GroupStarter {
        node_id: config.node_id,
        raft_config: raft_config(&config)?,
        peers: PeerChannels::new(auth)
            .with_message_bytes_max(config.grpc_message_bytes_max)
            .with_tls(tls),
        log_db: log_db.clone(),
        registry: GroupRegistry::default(),
        backfill_ms: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        disk: DiskGuard::new(config.data_dir.clone(), config.free_space_reserve_bytes),
        series_limits: Arc::new(crate::series_limits::SeriesLimits::new(
            config.limits.series_max,
            config.limits.series_per_metric_max,
            cluster.shard_count,
        )),
        shard_timings: ShardTimings::default(),
    };
    let meta_sm = GroupStateMachine::meta(log_db.store(META_GROUP))
        .map_err(|e| NodeError::raft(META_GROUP)(format!("state machine: {e}")))?;
    let meta = starter.start(META_GROUP, meta_sm).await?;
    let (map, initial) = (meta.sm.clone(), cluster.shard_count);
    starter.series_limits.follow(move || {
        map.with_cluster_map(|m| {
            m.shard_map
                .versions()
                .last()
                .map_or(initial, |v| v.shard_count)
        })
    });
    let ruler_sm = GroupStateMachine::ruler(log_db.store(RULER_GROUP))
        .map_err(|e| NodeError::raft(RULER_GROUP)(format!("state machine: {e}")))?;
    let ruler = starter.start(RULER_GROUP, ruler_sm).await?;
    let group_count = meta
        .sm
        .with_cluster_map(|m| m.shard_map.groups())
        .max(cluster.shard_count);
    let mut shards = Vec::with_capacity(group_count as usize);
    let mut tasks = Vec::new();
    for shard in 0..group_count {
        let (slot, task) = start_shard(&starter, &config, &engine, shard).await?;
        shards.push(slot);
        tasks.push(task);
    }
    Ok(GroupHost {
        initial_shard_count: cluster.shard_count,
        config,
        engine,
        starter,
        meta,
        ruler,
        shards: RwLock::new(shards),
        grow_lock: tokio::sync::Mutex::new(()),
        flush_lock: tokio::sync::Mutex::new(()),
        tasks: Mutex::new(tasks),
    })
}

/// The members a cluster bootstrapped by this node starts with: the `initial_cluster` list, or
/// this node alone.
pub(crate) fn bootstrap_members(config: &Config) -> BTreeMap<NodeId, String> {
    config
        .initial_members()
        .ok()
        .flatten()
        .unwrap_or_else(|| BTreeMap::from([(config.node_id, config.grpc_advertised().to_string())]))
}

/// The meta group's voters of a cluster bootstrapped by `members`: the first
/// `meta_voters_max` in id order (the others follow it as learners).
pub(crate) fn meta_voters(members: &BTreeMap<NodeId, String>, meta_voters_max: u32) -> Vec<NodeId> {
    members
        .keys()
        .copied()
        .take(meta_voters_max.max(1) as usize)
        .collect()
}

/// Voters per shard of a cluster bootstrapped by this node: `replication_factor` capped at the
/// members of a fixed cluster; 1 for a one-node cluster.
pub(crate) fn bootstrap_replication_factor(config: &Config) -> u32 {
    match config.initial_members().ok().flatten() {
        Some(m) => config.replication_factor.clamp(1, m.len().max(1) as u32),
        None => 1,
    }
}
