//! The one binary encoding of the Raft layer: bincode 2 with its standard configuration
//! (little-endian, varint integers) over serde. Used for log entries, votes and log ids in the
//! log store, the meta group's persisted state, shard `sm_meta`, and transport payloads.
//!
//! bincode is not self-describing: a change to an encoded type is a format change and needs a
//! new version (the transport carries one; the stores keep a version byte where noted).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| CodecError(e.to_string()))
}

/// Decodes a whole `T` from `bytes` (trailing bytes are an error).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, read) =
        bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
            .map_err(|e| CodecError(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError(format!("{} trailing bytes", bytes.len() - read)));
    }
    Ok(value)
}

/// An encoding or decoding failure (corrupt bytes or a format mismatch).
#[derive(Debug, thiserror::Error)]
#[error("raft codec: {0}")]
pub struct CodecError(pub String);

impl From<CodecError> for std::io::Error {
    fn from(e: CodecError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}
