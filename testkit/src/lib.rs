//! Plumbing that tests, examples and the tool binaries (bench, jepsen) share, kept out of the
//! product crates: depending on it is cheap (no RocksDB, no workspace crate).
//!
//! - [`dataset`]: seeded synthetic scrape data (node-exporter hosts, pods), the same on every
//!   machine for a given seed, handed out as plain labels and `(series, t_ms, value)` samples.
//! - [`digest`]: stable hashes of generated datasets, so that a change to a generator that
//!   alters its output is caught (benchmark figures stay comparable only while the data does).
//! - [`rng`]: the seeded random generator the datasets are drawn from.
//! - [`port`]: free loopback ports that stay free while a server is down between a kill and a
//!   restart.
//! - [`process`]: child processes with a log file, killed when dropped, waited for until an
//!   HTTP endpoint answers.
//! - [`http`]: one blocking GET, for readiness and health checks without an async runtime.

pub mod dataset;
pub mod digest;
pub mod http;
pub mod port;
pub mod process;
pub mod rng;

pub use port::{free_port, try_free_port};
pub use process::{ChildProcess, NotReady};
