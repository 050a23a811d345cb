//! The node's configuration: a YAML file (`--config`) whose every field has a default, overridden
//! by command-line flags. `tidemark` with no arguments runs on the defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tidemark_alerting::rules::PromDuration;

mod auth;
mod http_server;
mod notifier;
mod ruler;
mod storage;
pub use auth::AuthConfig;
pub use http_server::HttpServerLimits;
pub use notifier::NotifierSettings;
pub use ruler::RulerConfig;
pub use storage::StorageConfig;

/// Command-line flags of the `tidemark` binary. Flags override the config file.
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Tidemark: a clustered, Raft-replicated time-series database"
)]
pub struct Args {
    /// YAML configuration file; flags given on the command line override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the node's data (Raft logs, storage, cluster identity).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API (remote-write, Prometheus query API, admin).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Address of the gRPC endpoint for Raft traffic between nodes.
    #[arg(long, value_name = "ADDR")]
    pub grpc_listen: Option<String>,
    /// The address other nodes reach this node's gRPC endpoint at, when it differs from
    /// --grpc-listen (which may then be a wildcard such as 0.0.0.0:9202).
    #[arg(long, value_name = "HOST:PORT")]
    pub grpc_advertise: Option<String>,
    /// This node's id in the cluster (unique, non-zero).
    #[arg(long, value_name = "ID")]
    pub node_id: Option<u64>,
    /// Bootstraps a fixed cluster of these members, `ID=HOST:GRPC_PORT,...` (this node's id
    /// must be listed with its --grpc-listen address; every member gets the same list).
    #[arg(long, value_name = "ID=ADDR,...")]
    pub initial_cluster: Option<String>,
    /// Token mixed into the cluster id of an --initial-cluster bootstrap (default "tidemark"),
    /// so that two clusters with the same member list get different ids.
    #[arg(long, value_name = "TOKEN")]
    pub initial_cluster_token: Option<String>,
    /// Voters per shard group of an --initial-cluster bootstrap (default 3, capped at the
    /// number of members). A one-node cluster starts with 1; `tidemarkctl cluster
    /// set-replication` changes it later.
    #[arg(long, value_name = "N")]
    pub replication_factor: Option<u32>,
    /// Joins the cluster of the node at this HTTP URL (for example http://10.0.0.1:9201): an
    /// empty data directory adopts that cluster's id and shard count, and the node adds itself
    /// to the meta group and to every shard group below the replication factor (idempotent,
    /// retried until done). A data directory of another cluster is refused.
    #[arg(long, value_name = "URL")]
    pub join: Option<String>,
    /// The join token of the cluster --join enters (`tidemarkctl cluster join-token` prints
    /// it): its id and secret. Needed to join with an empty data directory.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TIDEMARK_JOIN_TOKEN",
        hide_env_values = true
    )]
    pub join_token: Option<String>,
    /// A file holding the cluster secret this node adopts when its data directory has none:
    /// a cluster it creates, or a cluster made before secrets (the same file on every member).
    #[arg(long, value_name = "FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// PEM certificate chain of the HTTP API: with --http-tls-key-file, it speaks HTTPS
    /// (`http_tls.cert_file`; reloaded when the file changes).
    #[arg(long, value_name = "FILE", requires = "http_tls_key_file")]
    pub http_tls_cert_file: Option<PathBuf>,
    /// PEM private key of the HTTP API's certificate (`http_tls.key_file`).
    #[arg(long, value_name = "FILE", requires = "http_tls_cert_file")]
    pub http_tls_key_file: Option<PathBuf>,
    /// PEM certificate chain of this node for mutual TLS between nodes: with
    /// --grpc-tls-key-file and --grpc-tls-ca-file, every gRPC connection is TLS with a
    /// certificate from that CA on both ends (`grpc_tls.cert_file`; reloaded when it changes).
    #[arg(long, value_name = "FILE", requires_all = ["grpc_tls_key_file", "grpc_tls_ca_file"])]
    pub grpc_tls_cert_file: Option<PathBuf>,
    /// PEM private key of this node's gRPC certificate (`grpc_tls.key_file`).
    #[arg(long, value_name = "FILE", requires = "grpc_tls_cert_file")]
    pub grpc_tls_key_file: Option<PathBuf>,
    /// PEM bundle of the CAs whose certificates are members (`grpc_tls.ca_file`).
    #[arg(long, value_name = "FILE", requires = "grpc_tls_cert_file")]
    pub grpc_tls_ca_file: Option<PathBuf>,
    /// PEM CA bundle trusted by --join for an https:// URL, beside the public roots
    /// (`join_ca_file`): for a cluster whose HTTP API has a certificate of a private CA.
    #[arg(long, value_name = "FILE")]
    pub join_ca_file: Option<PathBuf>,
    /// Serves the admin API to callers without a token while the cluster has no tokens
    /// (`auth.enable_admin_api`); off, it answers 403 until a token is given.
    #[arg(long)]
    pub enable_admin_api: bool,
    /// A token with every role, accepted by this node beside the cluster's tokens: how the
    /// first token is made (`tidemarkctl --token <it> token create`). Turns authentication
    /// on (`auth.bootstrap_token`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TIDEMARK_BOOTSTRAP_TOKEN",
        hide_env_values = true
    )]
    pub bootstrap_token: Option<String>,
    /// A rule file to load (repeatable; adds to `rule_files`).
    #[arg(long = "rule-file", value_name = "PATH")]
    pub rule_files: Vec<PathBuf>,
    /// An Alertmanager to send alerts to (repeatable; adds to `alertmanagers`).
    #[arg(long = "alertmanager-url", value_name = "URL")]
    pub alertmanager_urls: Vec<String>,
    /// An `alertmanager.yml` for the built-in notifier, imported into the cluster's replicated
    /// notifier configuration at start and on SIGHUP or `POST /-/reload`.
    #[arg(long = "notifier-config", value_name = "PATH")]
    pub notifier_config: Option<PathBuf>,
    /// Memory for the stores' caches and memtables, such as `512MiB` (`storage.memory_budget`).
    #[arg(long = "storage-memory-budget", value_name = "SIZE")]
    pub storage_memory_budget: Option<bytesize::ByteSize>,
}

/// The whole node configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the node's data.
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    pub http_listen: String,
    /// Address of the gRPC endpoint between nodes.
    pub grpc_listen: String,
    /// The address other nodes reach the gRPC endpoint at; `grpc_listen` when absent.
    pub grpc_advertise: Option<String>,
    /// This node's id in the cluster.
    pub node_id: u64,
    /// Members of a fixed cluster to bootstrap, `ID=HOST:GRPC_PORT,...`; absent: a one-node
    /// cluster. Used only when the data directory is empty (and checked against it otherwise).
    pub initial_cluster: Option<String>,
    /// Token mixed into the cluster id of an `initial_cluster` bootstrap.
    pub initial_cluster_token: String,
    /// Voters per shard group of an `initial_cluster` bootstrap (capped at the number of
    /// members; a one-node cluster starts with 1). Used only when the data directory is empty.
    pub replication_factor: u32,
    /// HTTP URL of a member of the cluster to join (`--join`).
    pub join: Option<String>,
    /// The join token of the cluster to join (`--join-token`, `TIDEMARK_JOIN_TOKEN`): needed
    /// with an empty data directory. Never shown by `/api/v1/status/config`.
    pub join_token: Option<String>,
    /// A file holding the cluster secret (printable ASCII, at least 16 characters), adopted
    /// when the data directory has none: by a cluster this node creates (instead of a random
    /// or token-derived one) or by a cluster made before secrets. A data directory holding
    /// another secret refuses to start.
    pub cluster_secret_file: Option<PathBuf>,
    /// An older form of `auth.bootstrap_token` kept for existing files: a token with every
    /// role that this node accepts; while it is the only credential, callers without a token
    /// still read and write (but change neither rules nor silences). A joining node sends it
    /// to the member it joins through. Never shown by `/api/v1/status/config`.
    pub admin_token: Option<String>,
    /// Who may call the HTTP API: tokens, the admin API's switch (`docs/security.md`).
    pub auth: AuthConfig,
    /// Shards a new cluster starts with.
    pub shard_count: u32,
    /// Voters of the meta group at most; nodes beyond them join it as learners (they follow
    /// the cluster map without voting) and are promoted when a voter leaves.
    pub meta_voters_max: u32,
    /// A meta voter the meta leader has not heard from for this long (ms) gives its seat to a
    /// caught-up learner and stays a learner; 0 disables the replacement.
    pub meta_dead_voter_ms: u64,
    /// How far behind a series' newest sample a sample may still be written.
    pub ooo_window_ms: i64,
    /// How far ahead of the receiving node's clock a sample may be written.
    pub future_window_ms: i64,
    /// How far ahead a new shard-map version (`tidemarkctl shards set`) starts at least. A
    /// node routes a sample only when it confirmed its shard map with the meta leader less
    /// than this before the sample's time (every second, normally); otherwise it answers 503.
    pub shard_version_lead_ms: i64,
    /// Shard-map versions start on multiples of this (default: the storage partition width,
    /// 2 h, so that each partition of a shard is in one version).
    pub shard_version_align_ms: i64,
    /// How often the heads are flushed to the data store.
    pub flush_interval_ms: u64,
    /// Samples per Raft entry of a shard (soft: one write request is never split).
    pub write_batch_samples_max: usize,
    /// Write requests queued per shard on its leader; beyond, writes are refused as
    /// overloaded (429).
    pub inflight_writes_max: usize,
    /// How long a write waits for commit and apply (503 beyond: outcome unknown).
    pub write_timeout_ms: u64,
    /// How long a read barrier, a read of another node's replica or a flush may take per
    /// shard.
    pub read_timeout_ms: u64,
    /// How long a one-node cluster waits at start for its groups to elect leaders (a member
    /// of a multi-node cluster does not wait: its peers may not be up yet).
    pub startup_leader_wait_ms: u64,
    /// How metric and label names are validated on ingestion.
    pub name_validation: NameValidation,
    /// Bounds on ingestion.
    pub limits: WriteLimits,
    /// Free bytes the data directory's filesystem keeps: below, shard leaders refuse writes
    /// (503, `Retry-After`) until space returns; queries go on.
    pub free_space_reserve_bytes: u64,
    /// How the stores use memory.
    pub storage: StorageConfig,
    /// Bounds of the HTTP server: timeouts and connections.
    pub http_server: HttpServerLimits,
    /// TLS for the HTTP API: absent, plain HTTP (`docs/security.md`).
    pub http_tls: Option<crate::http_tls::HttpTlsConfig>,
    /// Mutual TLS between nodes: absent, gRPC over plain TCP, members told apart by the
    /// cluster secret alone (`docs/security.md`).
    pub grpc_tls: Option<crate::grpc_tls::GrpcTlsConfig>,
    /// A PEM CA bundle `join` trusts beside the public roots.
    pub join_ca_file: Option<PathBuf>,
    /// Whether the node stores its own `/metrics` (`job="tidemark"`, `instance` its HTTP
    /// address) every `self_scrape_interval_ms`, so that it monitors itself.
    pub self_scrape: bool,
    /// How often `self_scrape` reads the node's metrics.
    pub self_scrape_interval_ms: u64,
    /// Bounds on queries.
    pub query: tidemark_query::QueryLimits,
    /// Timing and bounds of the Raft groups.
    pub raft: RaftConfig,
    /// Largest gRPC message between nodes, in bytes, either way (a Raft batch, a forwarded
    /// write, a shard's answer to a read); a larger one fails with `RESOURCE_EXHAUSTED`.
    pub grpc_message_bytes_max: usize,
    /// Rule files imported into the rule store at start, each into a namespace named by its
    /// path (read-only through the rules API).
    pub rule_files: Vec<PathBuf>,
    /// Base URLs of the Alertmanagers alerts are sent to (`POST /api/v2/alerts`).
    pub alertmanagers: Vec<String>,
    /// How far back from the evaluation time every rule group queries unless it sets its own
    /// `query_offset` (remote-written data arrives late), in Prometheus' duration notation.
    pub rule_query_offset: PromDuration,
    /// How rules are evaluated and alerts sent.
    pub ruler: RulerConfig,
    /// An `alertmanager.yml` for the built-in notifier (`--notifier-config`), imported at start
    /// and on reload into the replicated configuration, which it owns from then on.
    pub notifier_config: Option<PathBuf>,
    /// How the built-in notifier sends.
    pub notifier: NotifierSettings,
    /// The retention policy this node seeds the cluster's with when none was ever set
    /// (`docs/retention.md`); a difference with the cluster's policy is reported at start,
    /// never applied. Changed with `tidemarkctl retention set`.
    pub retention: Option<tidemark_api::retention::RetentionPolicy>,
    /// How often each shard leader runs the retention jobs (0: only on
    /// `POST /api/v1/admin/retention/run`).
    pub retention_interval_ms: u64,
    /// The `--config` file this configuration was read from, if any: not a YAML field, kept
    /// for `/api/v1/status/flags`.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tidemark-data"),
            http_listen: "127.0.0.1:9201".into(),
            grpc_listen: "127.0.0.1:9202".into(),
            grpc_advertise: None,
            node_id: 1,
            initial_cluster: None,
            initial_cluster_token: "tidemark".into(),
            replication_factor: 3,
            join: None,
            join_token: None,
            cluster_secret_file: None,
            admin_token: None,
            auth: AuthConfig::default(),
            shard_count: 4,
            meta_voters_max: 5,
            meta_dead_voter_ms: 5 * 60 * 1000,
            ooo_window_ms: 10 * 60 * 1000,
            future_window_ms: 10 * 60 * 1000,
            shard_version_lead_ms: 2 * 60 * 60 * 1000,
            shard_version_align_ms: 2 * 60 * 60 * 1000,
            flush_interval_ms: 60 * 1000,
            write_batch_samples_max: 50_000,
            inflight_writes_max: 1024,
            write_timeout_ms: 10_000,
            read_timeout_ms: 10_000,
            startup_leader_wait_ms: 10_000,
            name_validation: NameValidation::default(),
            limits: WriteLimits::default(),
            http_server: HttpServerLimits::default(),
            http_tls: None,
            grpc_tls: None,
            join_ca_file: None,
            self_scrape: false,
            self_scrape_interval_ms: 15_000,
            free_space_reserve_bytes: 256 * 1024 * 1024,
            storage: StorageConfig::default(),
            query: tidemark_query::QueryLimits::default(),
            raft: RaftConfig::default(),
            grpc_message_bytes_max: GRPC_MESSAGE_BYTES_MAX_DEFAULT,
            rule_files: Vec::new(),
            alertmanagers: Vec::new(),
            rule_query_offset: PromDuration::default(),
            ruler: RulerConfig::default(),
            notifier_config: None,
            notifier: NotifierSettings::default(),
            retention: None,
            retention_interval_ms: 60 * 1000,
            config_file: None,
        }
    }
}

/// Which metric and label names are accepted.
pub use tidemark_ingest::NameValidation;

/// Bounds on one write request (exceeding one rejects it: 413 for the body, else 400) and on
/// remote-read requests (`remote_read_*`: 413 for the body, 400 for samples and series, as
/// Prometheus answers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteLimits {
    /// Compressed body size of one write request.
    pub write_body_bytes_max: usize,
    /// Decompressed (snappy) body size of one write request.
    pub write_decoded_bytes_max: usize,
    /// Labels of one series, `__name__` included.
    pub labels_per_series_max: usize,
    /// Bytes of one label name.
    pub label_name_bytes_max: usize,
    /// Bytes of one label value.
    pub label_value_bytes_max: usize,
    /// Series in one request.
    pub series_per_request_max: usize,
    /// Float samples in one request.
    pub samples_per_request_max: usize,
    /// Series the cluster's shards may hold (0: no limit); each shard leader admits new series
    /// up to its share, this divided by the number of shard groups.
    pub series_max: u64,
    /// Series of one metric name the cluster's shards may hold (0: no limit), shared out the
    /// same way.
    pub series_per_metric_max: u64,
    /// Bytes of remote-write requests held at once, compressed and decompressed (each
    /// reserves its body before reading it and its decompressed size after); beyond, a
    /// request waits.
    pub write_inflight_bytes_max: u64,
    /// How long a remote-write request waits for `write_inflight_bytes_max` to have room;
    /// after, 503 with `Retry-After`.
    pub write_inflight_wait_ms: u64,
    /// Metric names whose metadata the cluster keeps, replicated, for `/api/v1/metadata`.
    pub metadata_metrics_max: usize,
    /// Size of one remote-read request body, compressed and decompressed (Prometheus reads
    /// at most 32 MiB).
    pub remote_read_body_bytes_max: usize,
    /// Float samples one remote-read request may return over all its queries, in both
    /// response types (Prometheus' `--storage.remote.read-sample-limit`, 5e7).
    pub remote_read_samples_max: usize,
    /// Series one remote-read request may return over all its queries.
    pub remote_read_series_max: usize,
    /// Remote-read requests served at once; more wait for a slot (Prometheus'
    /// `--storage.remote.read-concurrent-limit`, 10).
    pub remote_read_concurrent_requests_max: usize,
    /// Protobuf bytes of one streamed-chunks frame, labels included; a frame holds at least one
    /// chunk (Prometheus' `--storage.remote.read-max-bytes-in-frame`, 1 MiB).
    pub remote_read_frame_bytes_max: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        let decode = tidemark_ingest::DecodeLimits::default();
        WriteLimits {
            write_body_bytes_max: 32 * 1024 * 1024,
            write_decoded_bytes_max: decode.write_decoded_bytes_max,
            labels_per_series_max: decode.labels_per_series_max,
            label_name_bytes_max: decode.label_name_bytes_max,
            label_value_bytes_max: decode.label_value_bytes_max,
            series_per_request_max: decode.series_per_request_max,
            samples_per_request_max: decode.samples_per_request_max,
            series_max: 0,
            series_per_metric_max: 0,
            write_inflight_bytes_max: 1 << 30,
            write_inflight_wait_ms: 10_000,
            metadata_metrics_max: 100_000,
            remote_read_body_bytes_max: 32 * 1024 * 1024,
            remote_read_samples_max: 50_000_000,
            remote_read_series_max: 1_000_000,
            remote_read_concurrent_requests_max: 10,
            remote_read_frame_bytes_max: 1024 * 1024,
        }
    }
}

impl WriteLimits {
    /// The bounds remote-write decoding checks.
    pub fn decode(&self) -> tidemark_ingest::DecodeLimits {
        tidemark_ingest::DecodeLimits {
            write_decoded_bytes_max: self.write_decoded_bytes_max,
            labels_per_series_max: self.labels_per_series_max,
            label_name_bytes_max: self.label_name_bytes_max,
            label_value_bytes_max: self.label_value_bytes_max,
            series_per_request_max: self.series_per_request_max,
            samples_per_request_max: self.samples_per_request_max,
        }
    }
}

/// The default of `grpc_message_bytes_max`: a shard's answer to a query with the default
/// `query.samples_max` fits.
pub const GRPC_MESSAGE_BYTES_MAX_DEFAULT: usize = 1 << 30;

/// Timing of the Raft groups (every group of the node uses the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Minimum election timeout in milliseconds (the maximum is twice this).
    pub election_timeout_ms: u64,
    /// Leader heartbeat interval in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Log entries kept below a flush for followers that are behind; a follower further behind
    /// is sent a snapshot of the shard instead.
    pub log_keep_entries: u64,
    /// How long sending one snapshot to a follower may take, in milliseconds.
    pub snapshot_timeout_ms: u64,
    /// Largest shard snapshot this node receives, in bytes (written to a file as it arrives;
    /// a larger one is refused and discarded, and the leader keeps trying).
    pub snapshot_bytes_max: u64,
    /// Largest snapshot of the meta or ruler group this node receives, in bytes (held in
    /// memory as it arrives).
    pub snapshot_memory_bytes_max: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            election_timeout_ms: 1_000,
            heartbeat_interval_ms: 250,
            // An entry holds up to `write_batch_samples_max` samples: 64 of them are enough
            // for a follower a few seconds behind; one further behind gets a snapshot.
            log_keep_entries: 64,
            snapshot_timeout_ms: 600_000,
            snapshot_bytes_max: 1 << 40,
            snapshot_memory_bytes_max: 256 << 20,
        }
    }
}

impl Config {
    /// The configuration for `args`: defaults, then the `--config` file, then the flags.
    pub fn load(args: &Args) -> anyhow::Result<Config> {
        let mut config = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply(args);
        config.config_file = args.config.clone();
        config.validate()?;
        Ok(config)
    }

    /// Parses a YAML file; absent fields take their defaults, unknown fields are errors.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Config::from_yaml(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Parses YAML text; an empty document is the default configuration.
    pub fn from_yaml(text: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        Ok(serde_yaml::from_str(text)?)
    }

    fn apply(&mut self, args: &Args) {
        if let Some(v) = &args.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = &args.http_listen {
            self.http_listen = v.clone();
        }
        if let Some(v) = &args.grpc_listen {
            self.grpc_listen = v.clone();
        }
        if let Some(v) = &args.grpc_advertise {
            self.grpc_advertise = Some(v.clone());
        }
        if let Some(v) = args.node_id {
            self.node_id = v;
        }
        if let Some(v) = &args.initial_cluster {
            self.initial_cluster = Some(v.clone());
        }
        if let Some(v) = &args.initial_cluster_token {
            self.initial_cluster_token = v.clone();
        }
        if let Some(v) = args.replication_factor {
            self.replication_factor = v;
        }
        if let Some(v) = &args.join {
            self.join = Some(v.clone());
        }
        if let Some(v) = &args.join_token {
            self.join_token = Some(v.clone());
        }
        if let Some(v) = &args.cluster_secret_file {
            self.cluster_secret_file = Some(v.clone());
        }
        if let (Some(cert_file), Some(key_file)) =
            (&args.http_tls_cert_file, &args.http_tls_key_file)
        {
            self.http_tls = Some(crate::http_tls::HttpTlsConfig {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            });
        }
        if let (Some(cert_file), Some(key_file), Some(ca_file)) = (
            &args.grpc_tls_cert_file,
            &args.grpc_tls_key_file,
            &args.grpc_tls_ca_file,
        ) {
            let server_name = self.grpc_tls.as_ref().and_then(|t| t.server_name.clone());
            self.grpc_tls = Some(crate::grpc_tls::GrpcTlsConfig {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                ca_file: ca_file.clone(),
                server_name,
            });
        }
        if let Some(v) = &args.join_ca_file {
            self.join_ca_file = Some(v.clone());
        }
        if args.enable_admin_api {
            self.auth.enable_admin_api = true;
        }
        if let Some(v) = &args.bootstrap_token {
            self.auth.bootstrap_token = Some(v.clone());
        }
        self.rule_files.extend(args.rule_files.iter().cloned());
        self.alertmanagers
            .extend(args.alertmanager_urls.iter().cloned());
        if let Some(v) = &args.notifier_config {
            self.notifier_config = Some(v.clone());
        }
        if let Some(v) = args.storage_memory_budget {
            self.storage.memory_budget = v;
        }
    }

    /// The bounds on uploaded rules, names checked under `name_validation`.
    pub fn rule_limits(&self) -> tidemark_alerting::rules::RuleLimits {
        tidemark_alerting::rules::RuleLimits {
            legacy_names: self.name_validation == NameValidation::Legacy,
            ..self.ruler.limits.clone()
        }
    }

    /// Rejects values that cannot work (zero ids, zero limits).
    pub fn validate(&self) -> anyhow::Result<()> {
        for url in &self.alertmanagers {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "alertmanagers: {url:?} is not an HTTP URL (http://HOST:PORT)"
            );
        }
        anyhow::ensure!(self.node_id != 0, "node_id must be non-zero");
        self.storage.validate()?;
        anyhow::ensure!(
            (1..=crate::meta::SHARD_COUNT_MAX).contains(&self.shard_count),
            "shard_count must be between 1 and {}",
            crate::meta::SHARD_COUNT_MAX
        );
        anyhow::ensure!(
            (1..=crate::meta::REPLICATION_FACTOR_MAX).contains(&self.replication_factor),
            "replication_factor must be between 1 and {}",
            crate::meta::REPLICATION_FACTOR_MAX
        );
        self.initial_members()?;
        anyhow::ensure!(
            self.join.is_none() || self.initial_cluster.is_none(),
            "join and initial_cluster exclude each other: a node either bootstraps a fixed \
             cluster or joins an existing one"
        );
        if self.join.is_some() || self.initial_cluster.is_some() {
            let host = self
                .grpc_advertised()
                .rsplit_once(':')
                .map_or("", |(h, _)| h.trim_matches(['[', ']']));
            anyhow::ensure!(
                !matches!(host, "0.0.0.0" | "::" | ""),
                "other nodes cannot reach this node at {:?}: set grpc_advertise \
                 (--grpc-advertise HOST:PORT) to the address they should use",
                self.grpc_advertised()
            );
        }
        if let Some(url) = &self.join {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "join must be an HTTP URL of a member (http://HOST:PORT), got {url:?}"
            );
        }
        if let Some(t) = &self.join_token {
            crate::cluster_auth::JoinToken::parse(t)
                .map_err(|e| anyhow::anyhow!("join_token: {e}"))?;
        }
        anyhow::ensure!(
            self.admin_token.as_ref().is_none_or(|t| !t.is_empty()),
            "admin_token must not be empty (leave it out to disable admin authentication)"
        );
        self.auth.validate()?;
        anyhow::ensure!(
            self.meta_voters_max != 0,
            "meta_voters_max must be non-zero"
        );
        anyhow::ensure!(
            self.ooo_window_ms >= 0,
            "ooo_window_ms must not be negative"
        );
        anyhow::ensure!(
            self.future_window_ms >= 0,
            "future_window_ms must not be negative"
        );
        anyhow::ensure!(
            self.shard_version_lead_ms > self.future_window_ms,
            "shard_version_lead_ms must exceed future_window_ms (samples up to \
             future_window_ms ahead must be routable)"
        );
        anyhow::ensure!(
            self.shard_version_align_ms > 0,
            "shard_version_align_ms must be positive"
        );
        anyhow::ensure!(
            self.query.timeout_ms != 0,
            "query.timeout_ms must be non-zero"
        );
        anyhow::ensure!(
            self.query.lookback_delta_ms > 0,
            "query.lookback_delta_ms must be positive"
        );
        anyhow::ensure!(
            self.self_scrape_interval_ms >= 100,
            "self_scrape_interval_ms must be at least 100"
        );
        let h = &self.http_server;
        anyhow::ensure!(
            h.header_read_timeout_ms != 0 && h.body_read_timeout_ms != 0 && h.connections_max != 0,
            "http_server.header_read_timeout_ms, body_read_timeout_ms and connections_max must \
             be non-zero"
        );
        anyhow::ensure!(
            self.query.concurrent_max != 0,
            "query.concurrent_max must be non-zero"
        );
        anyhow::ensure!(
            self.query.max_depth >= 2 && self.query.max_length_bytes != 0,
            "query.max_depth must be at least 2 and query.max_length_bytes non-zero"
        );
        let cache = &self.query.results_cache;
        anyhow::ensure!(
            cache.recent_ms >= 0 && cache.split_interval_ms > 0,
            "query.results_cache.recent_ms must not be negative and split_interval_ms must be \
             positive"
        );
        let r = &self.raft;
        anyhow::ensure!(
            r.heartbeat_interval_ms != 0 && r.heartbeat_interval_ms < r.election_timeout_ms,
            "raft.heartbeat_interval_ms must be non-zero and below raft.election_timeout_ms"
        );
        anyhow::ensure!(
            r.snapshot_timeout_ms != 0,
            "raft.snapshot_timeout_ms must be non-zero"
        );
        anyhow::ensure!(
            self.grpc_message_bytes_max >= 64 << 20,
            "grpc_message_bytes_max must be at least 64 MiB (a Raft batch of log entries \
             travels in one message)"
        );
        let l = &self.limits;
        for (name, v) in [
            ("write_body_bytes_max", l.write_body_bytes_max),
            ("write_decoded_bytes_max", l.write_decoded_bytes_max),
            ("labels_per_series_max", l.labels_per_series_max),
            ("label_name_bytes_max", l.label_name_bytes_max),
            ("label_value_bytes_max", l.label_value_bytes_max),
            ("series_per_request_max", l.series_per_request_max),
            ("samples_per_request_max", l.samples_per_request_max),
            ("remote_read_body_bytes_max", l.remote_read_body_bytes_max),
            ("remote_read_samples_max", l.remote_read_samples_max),
            ("remote_read_series_max", l.remote_read_series_max),
            (
                "remote_read_concurrent_requests_max",
                l.remote_read_concurrent_requests_max,
            ),
            ("remote_read_frame_bytes_max", l.remote_read_frame_bytes_max),
        ] {
            anyhow::ensure!(v != 0, "limits.{name} must be non-zero");
        }
        anyhow::ensure!(
            l.write_inflight_bytes_max
                >= (l.write_body_bytes_max + l.write_decoded_bytes_max) as u64,
            "limits.write_inflight_bytes_max must hold one request of write_body_bytes_max \
             plus write_decoded_bytes_max"
        );
        Ok(())
    }
}

impl Config {
    /// The address other nodes reach this node's gRPC endpoint at.
    pub fn grpc_advertised(&self) -> &str {
        self.grpc_advertise.as_deref().unwrap_or(&self.grpc_listen)
    }

    /// The members of `initial_cluster` (node id -> gRPC address), `None` without it. Errors
    /// when the list is malformed, names a node twice, or does not list this node with its
    /// `grpc_listen` address.
    pub fn initial_members(&self) -> anyhow::Result<Option<BTreeMap<u64, String>>> {
        let Some(list) = &self.initial_cluster else {
            return Ok(None);
        };
        let members = parse_initial_cluster(list)?;
        match members.get(&self.node_id) {
            None => anyhow::bail!(
                "initial_cluster does not list this node (node_id {}): {list}",
                self.node_id
            ),
            Some(addr) if addr != self.grpc_advertised() => anyhow::bail!(
                "initial_cluster lists node {} at {addr}, but its advertised gRPC address \
                 (grpc_advertise, or grpc_listen) is {}: they must match",
                self.node_id,
                self.grpc_advertised()
            ),
            Some(_) => {}
        }
        anyhow::ensure!(
            !self.initial_cluster_token.is_empty(),
            "initial_cluster_token must not be empty"
        );
        Ok(Some(members))
    }
}

#[cfg(test)]
impl Config {
    /// A one-node configuration for in-process tests: data in `dir`, `shard_count` shards,
    /// fast elections, no periodic flush.
    pub(crate) fn test_node(dir: &Path, shard_count: u32) -> Config {
        Config {
            data_dir: dir.to_path_buf(),
            grpc_listen: "127.0.0.1:1".into(),
            shard_count,
            flush_interval_ms: 0,
            // Tests write at fixed times long past; retention runs only when a test asks.
            retention_interval_ms: 0,
            raft: RaftConfig {
                election_timeout_ms: 150,
                heartbeat_interval_ms: 50,
                ..RaftConfig::default()
            },
            ..Config::default()
        }
    }
}

/// Parses `ID=HOST:PORT,ID=HOST:PORT,...` (ids non-zero and distinct).
pub fn parse_initial_cluster(list: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut members = BTreeMap::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry
            .split_once('=')
            .with_context(|| format!("initial_cluster entry {entry:?} is not ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .with_context(|| format!("initial_cluster entry {entry:?}: bad node id"))?;
        anyhow::ensure!(
            id != 0,
            "initial_cluster entry {entry:?}: node ids are non-zero"
        );
        let addr = addr.trim();
        anyhow::ensure!(
            addr.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()),
            "initial_cluster entry {entry:?}: address must be HOST:PORT"
        );
        anyhow::ensure!(
            members.insert(id, addr.to_string()).is_none(),
            "initial_cluster names node {id} twice"
        );
    }
    anyhow::ensure!(!members.is_empty(), "initial_cluster is empty");
    Ok(members)
}

#[cfg(test)]
mod tests;
