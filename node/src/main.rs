//! `tidemark`: one Tidemark node. With no arguments it runs a single-node cluster with its data
//! in `./tidemark-data`.

use clap::Parser;

/// Ingest allocates many small label strings per request; glibc malloc spent about half the
/// ingest CPU managing them (perf, 10k-series benchmark), mimalloc a fraction of that.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// glibc malloc arenas for the C and C++ code (RocksDB): by default up to 8 per core, each
/// holding memory freed by the threads that used it, which no budget sees. Two held about 130
/// MiB less at 300k series (`tidemark-bench cardinality`: RSS 772 MiB with the default, 641
/// with two, 632 with mimalloc overriding malloc, which breaks LD_PRELOADed tools such as
/// libfaketime). Set before any thread starts.
const MALLOC_ARENAS_MAX: i32 = 2;

fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS_MAX);
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let args = tidemark_node::config::Args::parse();
    let config = tidemark_node::config::Config::load(&args)?;
    tidemark_node::server::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tidemark")
        .build()?;
    runtime.block_on(tidemark_node::server::run(config))
}
