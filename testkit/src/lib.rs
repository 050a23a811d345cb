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
//! - [`receiver`]: a recording HTTP server (a webhook's other end) that fails on purpose when
//!   told to: error statuses, late answers, refused connections.
//! - [`smtp`]: a real SMTP server (aiosmtpd) that keeps every message, with AUTH and TLS
//!   (STARTTLS or implicit) when asked.
//! - [`alertmanager`]: a real Alertmanager, alone or as a gossiping pair.
//! - [`certs`]: a CA and a server certificate for loopback, made with `openssl`.

pub mod alertmanager;
pub mod certs;
pub mod dataset;
pub mod digest;
pub mod http;
pub mod port;
pub mod process;
pub mod receiver;
pub mod rng;
pub mod smtp;

pub use alertmanager::Alertmanager;
pub use port::{free_port, try_free_port};
pub use process::{ChildProcess, NotReady};
pub use receiver::{Receiver, Recorded};
pub use smtp::{SmtpOptions, SmtpServer};

/// Why a `wait_for` (of [`Receiver`], [`smtp::SmtpServer`]) gave up: fewer arrived than waited
/// for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooFew {
    /// What was counted (`requests`, `messages`).
    pub what: &'static str,
    /// How many were waited for.
    pub wanted: usize,
    /// How many had arrived at the timeout.
    pub got: usize,
    /// The timeout waited for.
    pub timeout_ms: u64,
}

impl std::fmt::Display for TooFew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} {} within {} ms",
            self.got, self.wanted, self.what, self.timeout_ms
        )
    }
}

impl std::error::Error for TooFew {}
