//! Why bytes do not decode as an XOR chunk.

use crate::error::Error;

/// Why bytes are not an XOR chunk of the expected layout. A value rather than a message, so
/// that each user words it in its own error: storage as [`Error::Decode`] (with the texts
/// below), remote read as its `ChunkDecodeError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XorDecodeError {
    /// Fewer bytes than the layout's header.
    #[error("chunk shorter than its header")]
    ShortHeader,
    /// A Tidemark chunk whose encoding byte is not the XOR one.
    #[error("not an xor chunk (encoding {0})")]
    NotXor(u8),
    /// The bit stream ends before the samples the header declares.
    #[error("chunk bit stream truncated")]
    Truncated,
    /// A varint of more than 10 bytes (Tidemark's reader).
    #[error("chunk varint longer than 10 bytes")]
    VarintTooLong,
    /// A varint beyond 64 bits (Prometheus' reader, as Go's `binary.Uvarint`).
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A new value window of more than 64 bits.
    #[error("xor value window exceeds 64 bits")]
    WindowTooWide,
    /// A value reusing a window before any was set (Tidemark's reader).
    #[error("xor value reuses a window that was never set")]
    WindowUnset,
}

impl From<XorDecodeError> for Error {
    fn from(e: XorDecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}
