//! The Tidemark server: multi-Raft host, write routing, and the gRPC and HTTP APIs.

mod batcher;
pub mod clock;
pub mod cluster_auth;
mod cluster_version;
pub mod config;
mod disk_guard;
pub mod error;
pub mod exposition;
mod groups;
pub mod http;
mod http_server;
pub mod join;
pub(crate) mod key_index;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod notifier;
mod peer;
mod placement;
pub mod raft;
mod reads;
pub mod remote_read;
pub mod remote_write;
pub mod request;
pub mod retention;
mod router;
pub mod ruler;
mod selector;
pub mod self_scrape;
pub mod server;
mod writes;

pub use groups::JoinTarget;
pub use node::Node;
pub use placement::SHARD_COUNT_MAX;
