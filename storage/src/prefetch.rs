//! A hint that the CPU fetch a cache line it will need soon: for loops whose every step touches
//! memory no earlier step did (one open chunk per series of a write). A prefetch reads nothing
//! architecturally and never faults, whatever the address; on other targets it does nothing.

#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint: it neither faults nor changes memory, for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
