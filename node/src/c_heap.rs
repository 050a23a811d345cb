//! The C heap: glibc's malloc, which RocksDB's C++ allocates from (Rust's own allocations go to
//! mimalloc, unless the node is built without its default features).
//!
//! glibc keeps what is freed in the middle of an arena: a memtable's blocks after its flush, a
//! flush's write batch, compaction buffers. It returns to the kernel only what is at an arena's
//! top, so after a flush most of what RocksDB freed stays resident, counted by no budget (at
//! 300k active series, `malloc_trim` called by hand after a flush took RSS from 537 to 404
//! MiB). The trimmer looks at the free bytes every `storage.malloc_trim_interval_ms` and, past
//! `storage.malloc_trim_threshold`, gives the free pages back (`malloc_trim(0)`: free chunks stay
//! where they are, their pages are dropped and fault in again, zeroed, when reused).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// glibc malloc arenas: by default up to 8 per core, each holding memory freed by the threads
/// that used it, which no budget sees. Two held about 130 MiB less at 300k series
/// (`tidemark-bench cardinality`: RSS 772 MiB with the default, 641 with two, 632 with mimalloc
/// overriding malloc, which breaks LD_PRELOADed tools such as libfaketime).
const ARENAS_MAX: i32 = 2;

/// Caps glibc's arenas. Call before any other thread starts: threads take their arena on their
/// first allocation.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS_MAX);
    }
}

/// What the C heap holds, as glibc counts it (`mallinfo2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in chunks handed out and not yet freed (arenas and mmapped chunks).
    pub in_use_bytes: u64,
    /// Bytes of free chunks the arenas keep; resident unless trimmed.
    pub free_bytes: u64,
    /// Bytes of chunks served by their own mmap (returned to the kernel when freed).
    pub mmapped_bytes: u64,
}

/// The C heap now; `None` where the C library is not glibc.
pub fn stats() -> Option<HeapStats> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 reads the allocator's counters under its own locks.
        let info = unsafe { libc::mallinfo2() };
        Some(HeapStats {
            in_use_bytes: (info.uordblks + info.hblkhd) as u64,
            free_bytes: info.fordblks as u64,
            mmapped_bytes: info.hblkhd as u64,
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// What the trimmer has done since the process started.
#[derive(Debug, Default)]
pub struct TrimCounters {
    trims: AtomicU64,
    released_bytes: AtomicU64,
    micros: AtomicU64,
}

/// A copy of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrimTotals {
    /// `malloc_trim` calls.
    pub trims: u64,
    /// Resident bytes they gave back (resident size before less after, when it fell).
    pub released_bytes: u64,
    /// Time spent in them.
    pub seconds: f64,
}

static COUNTERS: TrimCounters = TrimCounters {
    trims: AtomicU64::new(0),
    released_bytes: AtomicU64::new(0),
    micros: AtomicU64::new(0),
};

/// The process's trim counters.
pub fn trim_totals() -> TrimTotals {
    TrimTotals {
        trims: COUNTERS.trims.load(Ordering::Relaxed),
        released_bytes: COUNTERS.released_bytes.load(Ordering::Relaxed),
        seconds: COUNTERS.micros.load(Ordering::Relaxed) as f64 / 1e6,
    }
}

/// Gives the C heap's free pages back when it keeps more than `threshold_bytes` free; true if
/// it trimmed. Blocks the calling thread while glibc walks its arenas (each arena locked in
/// turn): call it from a blocking thread.
pub fn trim_if_above(threshold_bytes: u64) -> bool {
    let Some(heap) = stats() else {
        return false;
    };
    if heap.free_bytes <= threshold_bytes {
        return false;
    }
    let before = resident_bytes();
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    let micros = started.elapsed().as_micros() as u64;
    let released = before.saturating_sub(resident_bytes());
    COUNTERS.trims.fetch_add(1, Ordering::Relaxed);
    COUNTERS.micros.fetch_add(micros, Ordering::Relaxed);
    COUNTERS
        .released_bytes
        .fetch_add(released, Ordering::Relaxed);
    tracing::debug!(
        free_bytes = heap.free_bytes,
        released_bytes = released,
        micros,
        "C heap trimmed"
    );
    true
}

/// Resident bytes of this process (`/proc/self/statm`), 0 where unreadable.
fn resident_bytes() -> u64 {
    crate::metrics::process::resident_bytes().unwrap_or(0)
}

/// Runs the trimmer every `interval` until the runtime stops; `None` for a zero interval (off).
pub fn start_trimmer(
    interval: Duration,
    threshold_bytes: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    if interval.is_zero() || stats().is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let trimmed = tokio::task::spawn_blocking(move || trim_if_above(threshold_bytes)).await;
            if trimmed.is_err() {
                return;
            }
        }
    }))
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn freed_c_heap_is_counted_free_and_trimmed_back() {
        // Many middle-sized blocks from glibc (below the mmap threshold), then every other one
        // freed: the free chunks sit between live ones, where only a trim reaches them.
        const BLOCK: usize = 64 << 10;
        const BLOCKS: usize = 1024;
        let blocks: Vec<*mut u8> = (0..BLOCKS)
            .map(|_| {
                // SAFETY: a plain C allocation, written in full so that its pages are resident.
                unsafe {
                    let p = libc::malloc(BLOCK) as *mut u8;
                    assert!(!p.is_null());
                    std::ptr::write_bytes(p, 1, BLOCK);
                    p
                }
            })
            .collect();
        let before = stats().unwrap();
        for p in blocks.iter().step_by(2) {
            // SAFETY: each pointer came from malloc above and is freed once.
            unsafe { libc::free(*p as *mut libc::c_void) };
        }
        let after_free = stats().unwrap();
        let freed = (BLOCKS / 2 * BLOCK) as u64;
        assert!(
            after_free.free_bytes >= before.free_bytes + freed * 9 / 10,
            "{before:?} -> {after_free:?}"
        );
        let resident = resident_bytes();
        // Above a threshold past what is free: nothing happens.
        assert!(!trim_if_above(after_free.free_bytes + (1 << 30)));
        assert!(trim_if_above(freed / 2));
        let totals = trim_totals();
        assert!(totals.trims >= 1);
        // Most of the freed blocks' pages went back (other tests' threads may allocate meanwhile).
        let dropped = resident.saturating_sub(resident_bytes());
        assert!(
            dropped >= freed / 2,
            "RSS fell by {dropped} of {freed} freed"
        );
        assert!(totals.released_bytes >= dropped.min(freed / 2));
        for p in blocks.iter().skip(1).step_by(2) {
            // SAFETY: the other half, freed once.
            unsafe { libc::free(*p as *mut libc::c_void) };
        }
    }
}
