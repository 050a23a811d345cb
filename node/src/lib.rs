//! The Tidemark server: multi-Raft host, write routing, and the gRPC and HTTP APIs.

pub mod config;
pub mod error;
pub mod http;
pub mod join;
pub mod meta;
pub mod raft;
pub mod remote_read;
pub mod remote_write;
pub mod server;
pub mod shards;
