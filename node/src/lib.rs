//! The Tidemark server: multi-Raft host, write routing, and the gRPC and HTTP APIs.

mod batcher;
pub mod c_heap;
pub mod clock;
pub mod cluster_auth;
mod cluster_version;
pub mod config;
mod disk_guard;
pub mod error;
pub mod exposition;
mod groups;
pub mod grpc_tls;
pub mod http;
mod http_server;
pub mod http_tls;
pub mod join;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod notifier;
mod peer;
pub mod peer_clock;
mod placement;
pub mod raft;
mod reads;
pub mod remote_read;
/// Remote-write decoding lives in its own crate (no I/O; fuzzed without RocksDB).
pub use tidemark_ingest as remote_write;
pub mod request;
pub mod retention;
mod router;
pub mod ruler;
mod selector;
pub mod self_scrape;
pub mod series_limits;
pub mod server;
mod stored_formats;
pub mod tls_files;
pub mod tokens;
mod writes;

pub use groups::JoinTarget;
pub use node::Node;
pub use placement::SHARD_COUNT_MAX;
