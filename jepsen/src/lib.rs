//! Fault-injection harness (real node processes, nemeses, workloads, checkers).
//! Not implemented yet: this crate is a placeholder so that the workspace has its final shape.
