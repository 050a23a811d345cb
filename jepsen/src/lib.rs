//! Fault-injection harness: real `tidemark` processes, a seeded nemesis, workloads with a recorded
//! history, and checkers that are plain functions over that history.
//!
//! Two modes: namespace mode (the default: every node in a network namespace of its own on a
//! bridge, so partitions and packet loss are real dropped packets; needs root and iptables) and
//! loopback mode (process-level faults only: kill -9 and restart, SIGSTOP/SIGCONT, membership).

pub mod alerts;
pub mod api;
pub mod cached_reads;
pub mod checker;
pub mod cluster;
pub mod consistency;
pub mod history;
pub mod membership;
pub mod net;
pub mod notifier;
pub mod run;
pub mod schedule;
pub mod tiers;
pub mod workload;

pub use run::{Report, RunOptions, run};
pub use schedule::Nemesis;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Unique samples written by concurrent clients; lost/phantom checked after healing.
    Samples,
    /// After an acknowledged write, a query through another random node must see it.
    LinearizableRead,
    /// Brand-new nodes join (`--join`), leaders are rebalanced onto them, the previous joiner
    /// is removed (`tidemarkctl node remove`), while the other workloads run.
    Membership,
    /// An alerting rule over a gauge set during episodes; a fake Alertmanager in the harness
    /// records the ruler's notifications (fired once per episode, never resolved early).
    Alerts,
    /// The built-in notifier: alerts and silences posted through its API v2, webhook
    /// receivers in the harness that fail at random (fired and resolved pages delivered at
    /// least once, silences hold, nothing left pending or given up).
    Notifier,
    /// The samples workload writes every fourth sample as a native histogram of the same
    /// series (sum = the sample's value, count 1): acknowledged histograms are checked like
    /// the floats (read back after healing, and read after writing with `linearizable-read`).
    Histograms,
    /// Samples backfilled days into the past while retention rolls them up and expires raw
    /// data (raw 2 days), run through random nodes; every acknowledged sample still counted
    /// through every member, from raw data or rollup windows; range queries over those days
    /// through every node's results cache meanwhile, none stale after healing.
    Tiers,
}

/// Where the nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetMode {
    /// Each node in a network namespace of its own (root, `ip`, `iptables`): every nemesis.
    Netns,
    /// Loopback ports in the harness' namespace: process-level faults only.
    Loopback,
}

/// Why a run could not be carried out (setup errors; anomalies are in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad options or environment.
    #[error("setup: {0}")]
    Setup(String),
    /// A requested feature that the chosen mode does not have.
    #[error("not available: {0}")]
    NotAvailable(String),
    /// A node did not become ready.
    #[error("node {node} not ready: {why}\n--- tail of its log ---\n{log_tail}")]
    NotReady {
        /// Node id.
        node: u32,
        /// What happened.
        why: String,
        /// The end of the node's log.
        log_tail: String,
    },
    /// File or socket I/O of the harness itself.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
