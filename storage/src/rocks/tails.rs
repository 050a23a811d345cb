//! The chunks column family's merge operator: an open chunk flushed again is stored as a tail
//! record (`chunk/xor/tail.rs`) merged into the chunk already under its key, so a flush writes
//! what was appended since the last one instead of the whole chunk.

use rocksdb::{MergeOperands, Options};

use crate::chunk::xor::{apply_tails, combine_tails};

/// The operator's name, which RocksDB records in the options of the column family.
const NAME: &str = "tidemark.chunk_tails.v1";

/// Sets the operator on the chunks column family's options (also for tools and tests that
/// open a data store themselves: without it, a chunk with tails cannot be read).
pub fn set_merge_operator(o: &mut Options) {
    o.set_merge_operator(NAME, full_merge, partial_merge);
}

/// The stored chunk with every tail applied in order. A tail that does not fit is corrupt
/// data: the read (or compaction) that meets it fails, with the key in the log.
fn full_merge(key: &[u8], stored: Option<&[u8]>, tails: &MergeOperands) -> Option<Vec<u8>> {
    match apply_tails(stored, tails) {
        Ok(chunk) => Some(chunk),
        Err(e) => {
            tracing::error!(key = ?key, error = %e, "a chunk tail does not apply to its chunk");
            None
        }
    }
}

/// Tails combined into one ahead of the stored chunk; left as they are when they do not follow
/// each other (the full merge then reports them).
fn partial_merge(_key: &[u8], _stored: Option<&[u8]>, tails: &MergeOperands) -> Option<Vec<u8>> {
    combine_tails(tails)
}
