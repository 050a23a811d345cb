//! The node's own metrics, served at `GET /metrics` in Prometheus' text format (0.0.4) through
//! `prometheus-client`, named as Prometheus names its own (`tidemark_` prefix, base units,
//! `_total` counters):
//!
//! - HTTP, per matched route and status: `tidemark_http_requests_total{handler, code}`,
//!   `tidemark_http_request_duration_seconds{handler}`; connections open
//!   (`tidemark_http_connections_open`) and refused beyond `http_server.connections_max`
//!   (`tidemark_http_connections_refused_total`);
//! - ingestion: `tidemark_samples_ingested_total`, `tidemark_samples_rejected_total{reason}`
//!   (`too_old`, `too_new`, `conflicting`, `invalid_series`, `invalid_histogram`) and
//!   `tidemark_write_requests_failed_total{code}` (requests refused whole); metric metadata
//!   committed (`tidemark_metadata_stored_total`) and not kept
//!   (`tidemark_metadata_ignored_total{reason}`: `full`, `unavailable`);
//! - queries: `tidemark_query_duration_seconds`, `tidemark_query_queue_wait_seconds`,
//!   `tidemark_queries_refused_total` (the queue was full);
//! - read at each scrape: `tidemark_queries_running`, `tidemark_queries_queued`; per Raft
//!   group of this node (`group`, and `shard` for shard groups) `tidemark_raft_term`,
//!   `tidemark_raft_leader` (1 where this node leads), `tidemark_raft_has_leader`,
//!   `tidemark_raft_last_log_index`, `tidemark_raft_applied_index`,
//!   `tidemark_raft_apply_lag_entries` (elections: the term's increase), snapshots sent and
//!   received (`tidemark_raft_snapshots_{sent,send_failed,received,receive_failed}_total`);
//!   per shard held `tidemark_series`, `tidemark_head_chunks`, `tidemark_head_samples`,
//!   `tidemark_head_memory_bytes`; the data directory's `tidemark_disk_free_bytes` and
//!   `tidemark_disk_reserve_bytes`; the Raft log's synced-write latency; shard flush and seal
//!   durations (`tidemark_shard_flush_duration_seconds`, `tidemark_shard_flush_pause_seconds`,
//!   `tidemark_shard_seal_apply_duration_seconds`);
//! - the data store's RocksDB and both stores' memory budgets (`metrics/storage.rs`);
//! - the ruler's and notifier's counters (`metrics/alerting.rs`);
//! - the standard `process_*` figures (`metrics/process.rs`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod alerting;
mod c_heap;
pub mod process;
mod results_cache;
mod storage;

use crate::http::backend::Backend;
use crate::raft::shard_timings::ShardTimings;
use crate::request::{MetadataOutcome, WriteOutcome};

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An HTTP request's route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub handler: String,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabel {
    handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request and query latencies: 1 ms to about 65 s.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// What the node counts as it works, and the registry that serves it.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HandlerLabel>,
    samples_ingested: Counter,
    samples_rejected: Family<ReasonLabel, Counter>,
    write_requests_failed: Family<CodeLabel, Counter>,
    metadata_stored: Counter,
    metadata_ignored: Family<ReasonLabel, Counter>,
    query_duration: Histogram,
    query_queue_wait: Histogram,
    queries_refused: Counter,
    connections: HttpConnections,
}

/// The HTTP server's connection figures, updated by the accept loop.
#[derive(Clone, Debug, Default)]
pub struct HttpConnections {
    open: Gauge,
    refused: Counter,
}

impl HttpConnections {
    /// A connection accepted and served; it counts as open until `closed`.
    pub fn opened(&self) {
        self.open.inc();
    }

    /// A served connection ended.
    pub fn closed(&self) {
        self.open.dec();
    }

    /// A connection refused because `http_server.connections_max` were open.
    pub fn refused(&self) {
        self.refused.inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The metrics of a node over `backend`, whose state (groups, heads, disk, query slots)
    /// is read at every scrape through `state`.
    pub fn new(state: Box<dyn Collector>) -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "tidemark_http_requests",
            "HTTP requests served, by matched route and status code",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::<HandlerLabel>::new_with_constructor(latency_buckets);
        registry.register(
            "tidemark_http_request_duration_seconds",
            "Time to answer an HTTP request, by matched route",
            http_duration.clone(),
        );
        let samples_ingested = Counter::default();
        registry.register(
            "tidemark_samples_ingested",
            "Float samples committed through remote-write",
            samples_ingested.clone(),
        );
        let samples_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tidemark_samples_rejected",
            "Samples of accepted remote-write requests that were not written, by reason",
            samples_rejected.clone(),
        );
        let metadata_stored = Counter::default();
        registry.register(
            "tidemark_metadata_stored",
            "Metric metadata entries from remote-write committed to the meta group",
            metadata_stored.clone(),
        );
        let metadata_ignored = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tidemark_metadata_ignored",
            "Metric metadata entries from remote-write not kept, by reason",
            metadata_ignored.clone(),
        );
        let write_requests_failed = Family::<CodeLabel, Counter>::default();
        registry.register(
            "tidemark_write_requests_failed",
            "Remote-write requests refused or failed whole, by status code",
            write_requests_failed.clone(),
        );
        let query_duration = latency_buckets();
        registry.register(
            "tidemark_query_duration_seconds",
            "Time to evaluate a query, series or label read (waiting for a slot not included)",
            query_duration.clone(),
        );
        let query_queue_wait = latency_buckets();
        registry.register(
            "tidemark_query_queue_wait_seconds",
            "Time a query waited for an evaluation slot (query.concurrent_max)",
            query_queue_wait.clone(),
        );
        let queries_refused = Counter::default();
        registry.register(
            "tidemark_queries_refused",
            "Queries refused with 429 because the queue was full (query.queue_max)",
            queries_refused.clone(),
        );
        let connections = HttpConnections::default();
        registry.register(
            "tidemark_http_connections_open",
            "HTTP connections being served",
            connections.open.clone(),
        );
        registry.register(
            "tidemark_http_connections_refused",
            "HTTP connections answered 503 and closed because http_server.connections_max were \
             open",
            connections.refused.clone(),
        );
        registry.register_collector(state);
        Metrics {
            registry,
            http_requests,
            http_duration,
            samples_ingested,
            samples_rejected,
            metadata_stored,
            metadata_ignored,
            write_requests_failed,
            query_duration,
            query_queue_wait,
            queries_refused,
            connections,
        }
    }

    /// The handle the HTTP server counts its connections with.
    pub fn http_connections(&self) -> HttpConnections {
        self.connections.clone()
    }

    /// Serves the Raft log's synced-write latency, which the log observes itself.
    pub fn register_raft_log_sync(&mut self, histogram: Histogram) {
        self.registry.register(
            "tidemark_raft_log_sync_write_seconds",
            "Time of one synced write of the Raft log (entries appended, or a vote, and the \
             fsync that makes them durable), every group of the node",
            histogram,
        );
    }

    /// Serves the shard state machines' flush and seal durations, which they observe
    /// themselves.
    pub fn register_shard_timings(&mut self, timings: ShardTimings) {
        self.registry.register(
            "tidemark_shard_flush_duration_seconds",
            "Time of one shard flush (head, applied index and sealed partitions persisted), its \
             encoding work included, every shard of the node",
            timings.flush,
        );
        self.registry.register(
            "tidemark_shard_flush_pause_seconds",
            "Time during one shard flush that the shard's applies waited (the write, after the \
             encoding work), every shard of the node",
            timings.flush_pause,
        );
        self.registry.register(
            "tidemark_shard_seal_apply_duration_seconds",
            "Time of applying one Seal entry (a partition closed to writes), every shard of the \
             node",
            timings.seal_apply,
        );
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(error = %e, "encoding /metrics");
        }
        out
    }

    /// One HTTP request answered.
    pub fn http_request(&self, handler: &str, code: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                handler: handler.to_string(),
                code,
            })
            .inc();
        self.http_duration
            .get_or_create(&HandlerLabel {
                handler: handler.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One remote-write request's outcome: what it wrote, and what it did not and why.
    pub fn write(
        &self,
        floats: &WriteOutcome,
        histograms: &WriteOutcome,
        invalid_series_samples: usize,
        invalid_histograms: usize,
    ) {
        let written = floats.samples_written + histograms.samples_written;
        self.samples_ingested.inc_by(written as u64);
        let both = |f: fn(&WriteOutcome) -> usize| f(floats) + f(histograms);
        for (reason, n) in [
            ("too_old", both(|o| o.too_old)),
            ("too_new", both(|o| o.too_new)),
            ("conflicting", both(|o| o.conflicting)),
            ("series_limit", both(|o| o.samples_limited)),
            ("invalid_series", invalid_series_samples),
            ("invalid_histogram", invalid_histograms),
        ] {
            if n > 0 {
                self.samples_rejected
                    .get_or_create(&ReasonLabel { reason })
                    .inc_by(n as u64);
            }
        }
    }

    /// What keeping one request's metric metadata did.
    pub fn metadata(&self, o: &MetadataOutcome) {
        self.metadata_stored.inc_by(o.stored as u64);
        for (reason, n) in [("full", o.full), ("unavailable", o.unavailable)] {
            if n > 0 {
                self.metadata_ignored
                    .get_or_create(&ReasonLabel { reason })
                    .inc_by(n as u64);
            }
        }
    }

    /// A remote-write request refused or failed whole with `code`.
    pub fn write_failed(&self, code: u16) {
        self.write_requests_failed
            .get_or_create(&CodeLabel { code })
            .inc();
    }

    /// A query that ran after waiting `queued` for its slot.
    pub fn query(&self, queued: Duration, took: Duration) {
        self.query_queue_wait.observe(queued.as_secs_f64());
        self.query_duration.observe(took.as_secs_f64());
    }

    /// A query refused because the queue was full.
    pub fn query_refused(&self) {
        self.queries_refused.inc();
    }
}

/// One Raft group's state as this node's replica sees it.
#[derive(Clone, Debug)]
pub struct GroupGauges {
    pub group: u64,
    pub shard: Option<u32>,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
}

/// The state `/metrics` reads at each scrape.
#[derive(Clone, Debug, Default)]
pub struct StateGauges {
    pub node_id: u64,
    pub groups: Vec<GroupGauges>,
    /// Per shard held: its series, the chunks and samples of its heads, their memory.
    pub shards: Vec<(u32, tidemark_storage::ShardStats)>,
    /// Free and reserved bytes of the data directory's filesystem.
    pub disk: Option<(u64, u64)>,
    /// Snapshots sent, failed to send, received and installed, failed to receive.
    pub snapshots: [u64; 4],
    /// The data store's files and background work.
    pub store: Option<tidemark_storage::StoreStats>,
    /// What the Raft log's cache and memtables hold.
    pub raft_log_memory: Option<tidemark_storage::rocks::memory::MemoryUsage>,
    /// Each peer's clock minus this node's, in milliseconds, as its answers show it.
    pub clock_offsets: Vec<(u64, i64)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
    shard: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabel {
    shard: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: u64,
}

/// Reads the node's state at each scrape: its groups, heads and disk through the backend, the
/// query slots of its HTTP API.
pub struct StateCollector {
    pub backend: Arc<dyn Backend>,
    pub slots: Arc<crate::http::QuerySlots>,
    pub write_budget: Arc<crate::http::WriteBudget>,
    pub results_cache: Arc<tidemark_query::ResultsCache>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

/// Writes one gauge family: `name` with `help`, one value per label set.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in values {
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one counter without labels (`_total` is added to `name`).
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// Writes gauges without labels from unsigned figures (saturating at `i64::MAX`).
fn unsigned_gauges<const N: usize>(
    encoder: &mut DescriptorEncoder,
    figures: [(&str, &str, u64); N],
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in figures {
        gauge(
            encoder,
            name,
            help,
            i64::try_from(value).unwrap_or(i64::MAX),
        )?;
    }
    Ok(())
}

/// Writes one gauge without labels.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.backend.state_gauges();
        let (running, queued) = self.slots.load();
        gauge(
            &mut encoder,
            "tidemark_queries_running",
            "Queries evaluating now",
            running as i64,
        )?;
        gauge(
            &mut encoder,
            "tidemark_queries_queued",
            "Queries waiting for an evaluation slot",
            queued as i64,
        )?;
        gauge(
            &mut encoder,
            "tidemark_write_inflight_bytes",
            "Bytes of remote-write requests held now (limits.write_inflight_bytes_max)",
            i64::try_from(self.write_budget.held_bytes()).unwrap_or(i64::MAX),
        )?;
        let labels = |g: &GroupGauges| GroupLabels {
            group: g.group.to_string(),
            shard: g.shard.map(|s| s.to_string()).unwrap_or_default(),
        };
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let per_group = |f: &dyn Fn(&GroupGauges) -> i64| {
            s.groups
                .iter()
                .map(|g| (labels(g), f(g)))
                .collect::<Vec<_>>()
        };
        gauges(
            &mut encoder,
            "tidemark_raft_term",
            "Current Raft term of each group on this node",
            per_group(&|g| as_i64(g.term)),
        )?;
        gauges(
            &mut encoder,
            "tidemark_raft_leader",
            "1 where this node leads the group",
            per_group(&|g| i64::from(g.leader == Some(s.node_id))),
        )?;
        gauges(
            &mut encoder,
            "tidemark_raft_has_leader",
            "1 where this node knows a leader of the group",
            per_group(&|g| i64::from(g.leader.is_some())),
        )?;
        gauges(
            &mut encoder,
            "tidemark_raft_last_log_index",
            "Index of the last entry of this node's log of the group",
            per_group(&|g| as_i64(g.last_log_index.unwrap_or(0))),
        )?;
        gauges(
            &mut encoder,
            "tidemark_raft_applied_index",
            "Index of the last entry this node applied in the group",
            per_group(&|g| as_i64(g.applied_index.unwrap_or(0))),
        )?;
        gauges(
            &mut encoder,
            "tidemark_raft_apply_lag_entries",
            "Entries of this node's log of the group not applied yet",
            per_group(&|g| {
                as_i64(
                    g.last_log_index
                        .unwrap_or(0)
                        .saturating_sub(g.applied_index.unwrap_or(0)),
                )
            }),
        )?;
        let per_shard = |f: fn(&tidemark_storage::ShardStats) -> u64| {
            s.shards
                .iter()
                .map(|(shard, st)| (ShardLabel { shard: *shard }, as_i64(f(st))))
                .collect::<Vec<_>>()
        };
        gauges(
            &mut encoder,
            "tidemark_series",
            "Series each shard this node holds knows",
            per_shard(|st| st.series),
        )?;
        gauges(
            &mut encoder,
            "tidemark_head_chunks",
            "Open (unflushed) chunks per shard this node holds",
            per_shard(|st| st.head_chunks),
        )?;
        gauges(
            &mut encoder,
            "tidemark_head_samples",
            "Samples in open chunks per shard this node holds",
            per_shard(|st| st.head_samples),
        )?;
        gauges(
            &mut encoder,
            "tidemark_head_memory_bytes",
            "Memory per shard this node holds of its series' label sets, heads and open \
             partitions' postings (estimated; the split is in /api/v1/status/tsdb)",
            per_shard(|st| {
                let m = &st.memory;
                (m.registry + m.heads + m.postings) as u64
            }),
        )?;
        for (name, help, value) in [
            (
                "tidemark_raft_snapshots_sent",
                "Snapshots this node sent to a lagging peer",
                s.snapshots[0],
            ),
            (
                "tidemark_raft_snapshots_send_failed",
                "Snapshots this node failed to send",
                s.snapshots[1],
            ),
            (
                "tidemark_raft_snapshots_received",
                "Snapshots this node received and installed",
                s.snapshots[2],
            ),
            (
                "tidemark_raft_snapshots_receive_failed",
                "Snapshot streams this node refused or could not install",
                s.snapshots[3],
            ),
        ] {
            counter(&mut encoder, name, help, value)?;
        }
        alerting::encode(&mut encoder, self.backend.as_ref(), s.node_id)?;
        if let Some(store) = &s.store {
            storage::encode(&mut encoder, store)?;
        }
        if let Some(memory) = &s.raft_log_memory {
            storage::encode_raft_log(&mut encoder, memory)?;
        }
        if let Some(p) = process::ProcessStats::read() {
            process::encode(&mut encoder, &p)?;
        }
        if let Some(heap) = crate::c_heap::stats() {
            c_heap::encode(&mut encoder, &heap, &crate::c_heap::trim_totals())?;
        }
        results_cache::encode(&mut encoder, &self.results_cache.counters())?;
        {
            let mut family = encoder.encode_descriptor(
                "tidemark_peer_clock_offset_seconds",
                "Each peer's wall clock minus this node's, estimated from its answers (off by \
                 at most half the round trip)",
                None,
                MetricType::Gauge,
            )?;
            for (peer, ms) in &s.clock_offsets {
                ConstGauge::new(*ms as f64 / 1000.0)
                    .encode(family.encode_family(&PeerLabel { peer: *peer })?)?;
            }
        }
        if let Some((free, reserve)) = s.disk {
            gauge(
                &mut encoder,
                "tidemark_disk_free_bytes",
                "Free bytes of the data directory's filesystem",
                as_i64(free),
            )?;
            gauge(
                &mut encoder,
                "tidemark_disk_reserve_bytes",
                "Free bytes below which writes are refused (free_space_reserve_bytes)",
                as_i64(reserve),
            )?;
        }
        Ok(())
    }
}
