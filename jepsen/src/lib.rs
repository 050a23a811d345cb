//! Fault-injection harness: real `tidemark` processes, a seeded nemesis, workloads with a recorded
//! history, and checkers that are plain functions over that history.
//!
//! Today only loopback mode exists: process-level faults (kill -9 and restart, SIGSTOP/SIGCONT);
//! network partitions in namespaces are a later step.

pub mod checker;
pub mod cluster;
pub mod consistency;
pub mod history;
pub mod run;
pub mod schedule;
pub mod workload;

pub use run::{Report, RunOptions, run};
pub use schedule::Nemesis;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Unique samples written by concurrent clients; lost/phantom checked after healing.
    Samples,
}

/// Why a run could not be carried out (setup errors; anomalies are in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad options or environment.
    #[error("setup: {0}")]
    Setup(String),
    /// A requested feature of the full suite that loopback mode lacks.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
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
