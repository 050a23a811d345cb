//! `tidemark`: one Tidemark node. With no arguments it runs a single-node cluster with its data
//! in `./tidemark-data`.

use clap::Parser;

/// Ingest allocates many small label strings per request; glibc malloc spent about half the
/// ingest CPU managing them (perf, 10k-series benchmark), mimalloc a fraction of that.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process. mimalloc asks for them on its arenas
/// (`MADV_HUGEPAGE`), and a 2 MiB page stays resident whole while any of it is in use: an idle
/// node held 60 MiB of huge pages (RSS 98 MiB, 63 without), and at 300k active series RSS after
/// ingest was 40-90 MiB higher with them, for no CPU per sample measurably saved
/// (`tidemark-bench cardinality`, medians of 2-3 runs).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl sets a flag of this process's memory map; no pointers are passed.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    // Before any other thread starts: threads take their glibc arena at their first malloc.
    tidemark_node::c_heap::limit_arenas();
    let args = tidemark_node::config::Args::parse();
    let config = tidemark_node::config::Config::load(&args)?;
    tidemark_node::server::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tidemark")
        .build()?;
    runtime.block_on(tidemark_node::server::run(config))
}
