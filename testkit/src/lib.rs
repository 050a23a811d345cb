//! Plumbing that tests, examples and the tool binaries (bench, jepsen) share, kept out of the
//! product crates: depending on it is cheap (no RocksDB, no workspace crate).
//!
//! - [`digest`]: stable hashes of generated datasets, so that a change to a generator that
//!   alters its output is caught (benchmark figures stay comparable only while the data does).

pub mod digest;
