//! `tidemark`: one Tidemark node. With no arguments it runs a single-node cluster with its data
//! in `./tidemark-data`.

use clap::Parser;

/// Ingest allocates many small label strings per request; glibc malloc spent about half the
/// ingest CPU managing them (perf, 10k-series benchmark), mimalloc a fraction of that. With the
/// crate's `override` feature mimalloc also serves `malloc` for the rest of the process,
/// RocksDB's C++ included: glibc's per-thread arenas held about 140 MiB more at 300k series
/// (`tidemark-bench cardinality`: RSS 772 MiB with glibc under RocksDB, 632 with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = tidemark_node::config::Args::parse();
    let config = tidemark_node::config::Config::load(&args)?;
    tidemark_node::server::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tidemark")
        .build()?;
    runtime.block_on(tidemark_node::server::run(config))
}
