//! `tidemark-jepsen`: runs the fault-injection suite against real `tidemark` processes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidemark_jepsen::{Nemesis, NetMode, RunOptions, Workload, run};

#[derive(Parser)]
#[command(
    name = "tidemark-jepsen",
    about = "Fault-injection tests of a Tidemark cluster"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a cluster, run workloads under faults, heal, check; exit 0 pass, 1 anomaly, 2 setup error.
    Run {
        /// Workload duration in seconds.
        #[arg(long, default_value_t = 60)]
        time_limit: u64,
        /// Seed of the fault schedule and the clients (same seed, same schedule).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Path to the `tidemark` binary.
        #[arg(long)]
        binary: PathBuf,
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Faults to inject (comma-separated; default: every kind the mode has).
        #[arg(long, value_enum, value_delimiter = ',')]
        nemesis: Vec<Nemesis>,
        /// Workloads (comma-separated).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "samples,linearizable-read,membership,alerts,notifier"
        )]
        workload: Vec<Workload>,
        /// Where the nodes run: `netns` (needs root and iptables; every nemesis) or `loopback`
        /// (process faults only).
        #[arg(long, value_enum, default_value = "netns")]
        net: NetMode,
        /// Output directory (default: a fresh temp dir, printed).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cmd::Run {
        time_limit,
        seed,
        binary,
        nodes,
        nemesis,
        workload,
        net,
        out,
    } = Cli::parse().cmd;
    let nemesis = if nemesis.is_empty() {
        Nemesis::ALL
            .into_iter()
            .filter(|k| net == NetMode::Netns || !k.is_network())
            .filter(|k| {
                *k != Nemesis::ClockSkew
                    || std::path::Path::new(tidemark_jepsen::cluster::LIBFAKETIME).exists()
            })
            .collect()
    } else {
        nemesis
    };
    let opts = RunOptions {
        time_limit_s: time_limit,
        seed,
        binary,
        nodes,
        nemeses: nemesis,
        workloads: workload,
        net,
        out,
    };
    // Dropping the run future on Ctrl-C drops the cluster guard, which kills every node.
    let result = tokio::select! {
        r = run(&opts) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: killing all nodes");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(report) => {
            print!("{}", report.table());
            println!("history and summary: {}", report.out_dir.display());
            println!("{}", report.verdict());
            if report.pass() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            println!(
                "VERDICT: ERROR (setup) {}",
                e.to_string().lines().next().unwrap_or("")
            );
            ExitCode::from(2)
        }
    }
}
