//! What differs between the two byte layouts of an XOR chunk (`xor.md`): the header, the first
//! time delta, and how leniently a reader takes bytes no writer produces.

use super::XorDecodeError;
use crate::chunk::bits::{BitReader, BitWriter, ByteBuf};
use crate::chunk::{ENCODING_XOR, HEADER_LEN};

/// Which byte layout an XOR chunk uses. Both hold the same Gorilla sample stream; a chunk's
/// layout is fixed by where its bytes go, never read from the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XorLayout {
    /// Tidemark's chunk, in the head and on disk: encoding byte 1, then the count; a signed
    /// first delta. Its bytes never change (chunks on disk are read back).
    Tidemark,
    /// Prometheus' own chunk (`tsdb/chunkenc/xor.go`) bit for bit, for remote read's
    /// streamed chunks, which Prometheus decodes with its own code: the count alone; an
    /// unsigned first delta; read as Go reads it.
    Prometheus,
}

impl XorLayout {
    /// Bytes before the bit stream.
    pub const fn header_len(self) -> usize {
        match self {
            XorLayout::Tidemark => HEADER_LEN,
            XorLayout::Prometheus => 2,
        }
    }

    /// Writes the header of a chunk of `count` samples into `header` (`header_len` bytes).
    pub(super) fn write_header(self, header: &mut [u8], count: u16) {
        let [hi, lo] = count.to_be_bytes();
        match self {
            XorLayout::Tidemark => header.copy_from_slice(&[ENCODING_XOR, hi, lo]),
            XorLayout::Prometheus => header.copy_from_slice(&[hi, lo]),
        }
    }

    /// The sample count a chunk's header declares.
    pub(super) fn read_header(self, bytes: &[u8]) -> Result<u16, XorDecodeError> {
        let len = self.header_len();
        if bytes.len() < len {
            return Err(XorDecodeError::ShortHeader);
        }
        if self == XorLayout::Tidemark && bytes[0] != ENCODING_XOR {
            return Err(XorDecodeError::NotXor(bytes[0]));
        }
        Ok(u16::from_be_bytes([bytes[len - 2], bytes[len - 1]]))
    }

    /// Writes `t1 - t0`: zigzag for Tidemark, the delta's 64 bits unsigned for Prometheus
    /// (Go's `PutUvarint(uint64(delta))`).
    pub(super) fn write_first_delta<B: ByteBuf>(self, w: &mut BitWriter<'_, B>, delta: i64) {
        match self {
            XorLayout::Tidemark => w.varint(delta),
            XorLayout::Prometheus => w.uvarint(delta as u64),
        }
    }

    /// Reads what [`Self::write_first_delta`] wrote.
    pub(super) fn read_first_delta(self, r: &mut BitReader<'_>) -> Result<i64, XorDecodeError> {
        let u = self.read_uvarint(r)?;
        Ok(match self {
            XorLayout::Tidemark => crate::varint::unzigzag(u),
            XorLayout::Prometheus => u as i64,
        })
    }

    /// Reads a zigzag varint (the first timestamp, in both layouts).
    pub(super) fn read_varint(self, r: &mut BitReader<'_>) -> Result<i64, XorDecodeError> {
        Ok(crate::varint::unzigzag(self.read_uvarint(r)?))
    }

    /// Reads a LEB128 varint from the bit stream. Prometheus refuses one that overflows 64
    /// bits, as Go's `binary.Uvarint` does; Tidemark drops the bits of a tenth byte beyond 64
    /// and refuses an eleventh byte (its reader always has).
    fn read_uvarint(self, r: &mut BitReader<'_>) -> Result<u64, XorDecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = r.bits(8).map_err(|_| XorDecodeError::Truncated)?;
            if i == 9 && b > 1 && self == XorLayout::Prometheus {
                return Err(XorDecodeError::VarintOverflow);
            }
            v |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(XorDecodeError::VarintTooLong)
    }

    /// The value window `(leading, trailing)` a reader starts with. Tidemark's starts unset
    /// (`0xff`: a value that reuses it is refused); Prometheus' starts as Go's, `(0, 0)`, so
    /// such a value reads 64 bits. Writers start unset in both layouts.
    pub(super) const fn initial_read_window(self) -> (u8, u8) {
        match self {
            XorLayout::Tidemark => (WINDOW_UNSET, 0),
            XorLayout::Prometheus => (0, 0),
        }
    }
}

/// `leading` of a value window that is not set yet (writers, and Tidemark's reader).
pub(crate) const WINDOW_UNSET: u8 = 0xff;
