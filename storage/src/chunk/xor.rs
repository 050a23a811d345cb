//! Gorilla-style chunks: delta-of-delta timestamps and XOR-compressed float values, written
//! after Prometheus' `tsdb/chunkenc/xor.go`, in two byte layouts ([`XorLayout`]): Tidemark's
//! on-disk chunk, and Prometheus' own for remote read's streamed chunks. Byte layouts in
//! `xor.md`.

mod append;
mod error;
mod iter;
pub(crate) mod layout;
mod tail;

pub use append::XorChunk;
pub use error::XorDecodeError;
pub use iter::XorIter;
pub use layout::XorLayout;
pub use tail::{ChunkTail, apply_tails, combine_tails};

/// Samples a chunk can hold (the header's count is a u16).
pub const XOR_SAMPLES_MAX: usize = u16::MAX as usize;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod golden_tests;
