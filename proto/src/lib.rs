//! Tidemark's wire formats: generated code only, no logic. Domain types live in the crates that
//! own them; conversions happen at the edge (one `From` per conversion).

/// Prometheus remote-write 1.0 (`prometheus.WriteRequest`) and remote-read messages.
pub mod prometheus {
    tonic::include_proto!("prometheus");
}

/// Prometheus remote-write 2.0 (`io.prometheus.write.v2.Request`).
pub mod write_v2 {
    tonic::include_proto!("io.prometheus.write.v2");
}

/// Tidemark's internal gRPC services (Raft transport between nodes).
pub mod raft {
    tonic::include_proto!("tidemark.raft.v1");
}

/// Tidemark's node-to-node shard service (write forwarding, read index).
pub mod node {
    tonic::include_proto!("tidemark.node.v1");
}
