//! The C heap on `/metrics` (glibc's malloc, which RocksDB allocates from), read at each scrape:
//! `tidemark_c_heap_in_use_bytes`, `tidemark_c_heap_free_bytes` (what glibc keeps, resident
//! until trimmed), `tidemark_c_heap_mmapped_bytes`, and the trimmer's
//! `tidemark_c_heap_trims_total`, `tidemark_c_heap_trimmed_bytes_total` and
//! `tidemark_c_heap_trim_seconds_total`.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::{counter, unsigned_gauges};
use crate::c_heap::{HeapStats, TrimTotals};

/// Writes the figures of `heap` and `trims`.
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    heap: &HeapStats,
    trims: &TrimTotals,
) -> Result<(), std::fmt::Error> {
    unsigned_gauges(
        encoder,
        [
            (
                "tidemark_c_heap_in_use_bytes",
                "Bytes the C heap (glibc malloc: RocksDB) has handed out and not yet freed",
                heap.in_use_bytes,
            ),
            (
                "tidemark_c_heap_free_bytes",
                "Free bytes the C heap keeps in its arenas (resident until trimmed)",
                heap.free_bytes,
            ),
            (
                "tidemark_c_heap_mmapped_bytes",
                "Bytes of C heap chunks served by their own mmap",
                heap.mmapped_bytes,
            ),
        ],
    )?;
    counter(
        encoder,
        "tidemark_c_heap_trims",
        "Times the C heap's free pages were given back (storage.malloc_trim_threshold passed)",
        trims.trims,
    )?;
    counter(
        encoder,
        "tidemark_c_heap_trimmed_bytes",
        "Resident bytes the C heap's trims gave back",
        trims.released_bytes,
    )?;
    let metric = encoder.encode_descriptor(
        "tidemark_c_heap_trim_seconds",
        "Time spent trimming the C heap",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(trims.seconds).encode(metric)
}
