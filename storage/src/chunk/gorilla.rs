//! The bit codes Gorilla-style chunks share (`xor.md`, `histogram.md`): a timestamp's
//! delta-of-delta, and a float as its xor with the previous value in a leading/trailing-zero
//! window.

use super::bits::{BitReader, BitWriter, ByteBuf};
use super::xor::XorDecodeError;
use super::xor::layout::WINDOW_UNSET;

/// Writes a second time delta in the smallest bucket that holds it.
pub(crate) fn write_dod<B: ByteBuf>(w: &mut BitWriter<'_, B>, dod: i64) {
    if dod == 0 {
        w.bit(false);
    } else if in_bit_range(dod, 14) {
        w.bits(0b10, 2);
        w.bits(dod as u64, 14);
    } else if in_bit_range(dod, 17) {
        w.bits(0b110, 3);
        w.bits(dod as u64, 17);
    } else if in_bit_range(dod, 20) {
        w.bits(0b1110, 4);
        w.bits(dod as u64, 20);
    } else {
        w.bits(0b1111, 4);
        w.bits(dod as u64, 64);
    }
}

/// Reads what [`write_dod`] wrote.
#[inline]
pub(crate) fn read_dod<E: From<XorDecodeError>>(r: &mut BitReader<'_>) -> Result<i64, E> {
    let mut prefix = 0u32;
    while prefix < 4 && bit(r)? {
        prefix += 1;
    }
    Ok(match prefix {
        0 => 0,
        1 => signed(bits(r, 14)?, 14),
        2 => signed(bits(r, 17)?, 17),
        3 => signed(bits(r, 20)?, 20),
        _ => bits(r, 64)? as i64,
    })
}

/// Whether `x` fits the signed `n`-bit bucket the way Prometheus' `bitRange` defines it.
pub(crate) fn in_bit_range(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Interprets the low `n` bits of `raw` as a bucket value (Prometheus' convention: values above
/// `2^(n-1)` are negative).
pub(crate) fn signed(raw: u64, n: u32) -> i64 {
    let raw = raw as i64;
    if raw > (1i64 << (n - 1)) {
        raw - (1i64 << n)
    } else {
        raw
    }
}

/// Writes the xor of `bits` with the previous value, in the current window or a new one.
pub(crate) fn write_value<B: ByteBuf>(
    w: &mut BitWriter<'_, B>,
    bits: u64,
    prev: u64,
    leading: &mut u8,
    trailing: &mut u8,
) {
    let delta = bits ^ prev;
    if delta == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let lead = (delta.leading_zeros() as u8).min(31);
    let trail = delta.trailing_zeros() as u8;
    if *leading != WINDOW_UNSET && lead >= *leading && trail >= *trailing {
        w.bit(false);
        let sig = 64 - u32::from(*leading) - u32::from(*trailing);
        w.bits(delta >> *trailing, sig);
    } else {
        *leading = lead;
        *trailing = trail;
        w.bit(true);
        w.bits(u64::from(lead), 5);
        let sig = 64 - u32::from(lead) - u32::from(trail);
        // 64 significant bits are written as 0 (6 bits cannot hold 64).
        w.bits(u64::from(sig & 63), 6);
        w.bits(delta >> trail, sig);
    }
}

/// Reads what [`write_value`] wrote, xoring it into `v`. A window that was never set
/// (`leading == WINDOW_UNSET`) is refused when a value reuses it.
#[inline]
pub(crate) fn read_value<E: From<XorDecodeError>>(
    r: &mut BitReader<'_>,
    v: &mut u64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<(), E> {
    if !bit(r)? {
        return Ok(());
    }
    if bit(r)? {
        *leading = bits(r, 5)? as u8;
        let mut sig = bits(r, 6)? as u32;
        if sig == 0 {
            sig = 64;
        }
        let lead = u32::from(*leading);
        if lead + sig > 64 {
            return Err(XorDecodeError::WindowTooWide.into());
        }
        *trailing = (64 - lead - sig) as u8;
    }
    if *leading == WINDOW_UNSET {
        return Err(XorDecodeError::WindowUnset.into());
    }
    let sig = 64 - u32::from(*leading) - u32::from(*trailing);
    *v ^= bits(r, sig)? << *trailing;
    Ok(())
}

#[inline]
pub(crate) fn bit(r: &mut BitReader<'_>) -> Result<bool, XorDecodeError> {
    r.bit().map_err(|_| XorDecodeError::Truncated)
}

#[inline]
pub(crate) fn bits(r: &mut BitReader<'_>, n: u32) -> Result<u64, XorDecodeError> {
    r.bits(n).map_err(|_| XorDecodeError::Truncated)
}
