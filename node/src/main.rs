//! `tidemark`: one Tidemark node. With no arguments it runs a single-node cluster with its data
//! in `./tidemark-data`.

use clap::Parser;

/// Ingest allocates many small label strings per request; glibc malloc spent about half the
/// ingest CPU managing them (perf, 10k-series benchmark), mimalloc a fraction of that.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
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
