//! `GET /api/v2/status`: the instance's build, configuration and cluster.

use serde::{Deserialize, Serialize};

/// An Alertmanager's status. Field order as Alertmanager emits it: `cluster`, `config`,
/// `uptime`, `versionInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerStatus {
    /// The gossip cluster this instance belongs to.
    pub cluster: ClusterStatus,
    /// The configuration in force.
    pub config: AlertmanagerConfig,
    /// When the process started (despite the name, a time, not a duration), RFC 3339, UTC.
    pub uptime: String,
    /// The build.
    pub version_info: VersionInfo,
}

/// The gossip cluster as one instance sees it. Field order as Alertmanager emits it: `name`,
/// `peers`, `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// This instance's peer name (a ULID); absent when clustering is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every member, this instance included; `[]` when clustering is disabled.
    #[serde(default)]
    pub peers: Vec<PeerStatus>,
    /// Whether the cluster is usable.
    pub status: ClusterState,
}

/// One member of the gossip cluster. Field order as Alertmanager emits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its gossip address, `host:port`.
    pub address: String,
    /// Its peer name (a ULID).
    pub name: String,
}

/// The state of the gossip cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterState {
    /// Joined and settled: notifications are sent.
    Ready,
    /// Still gossiping its initial state (about the first `cluster.settle-timeout`).
    Settling,
    /// Clustering is off (`--cluster.listen-address=`).
    Disabled,
}

/// The configuration in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertmanagerConfig {
    /// The configuration as YAML, re-serialised with every default filled in (and secrets shown
    /// as `<secret>`), not the file as written.
    pub original: String,
}

/// The build of the answering instance (Prometheus' `version` package). Field order as
/// Alertmanager emits it; every field is required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The VCS branch built, e.g. `HEAD`.
    pub branch: String,
    /// When it was built, as the build wrote it, e.g. `20260929-12:08:01`.
    pub build_date: String,
    /// Who built it, e.g. `user@host`.
    pub build_user: String,
    /// The Go toolchain, e.g. `go1.27.1`.
    pub go_version: String,
    /// The VCS revision built.
    pub revision: String,
    /// The release, without `v`, e.g. `0.33.1`. `amtool` and Grafana read it to pick the API.
    pub version: String,
}
