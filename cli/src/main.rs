//! `tidemarkctl`: the admin and client CLI of a Tidemark cluster.
//!
//! Today it speaks to one node's HTTP API: queries, flush, build info. Cluster membership and
//! shard placement commands arrive with the cluster.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// Admin and client CLI for Tidemark.
#[derive(Parser, Debug)]
#[command(name = "tidemarkctl", version, about)]
struct Cli {
    /// HTTP address of any Tidemark node.
    #[arg(
        long,
        global = true,
        env = "TIDEMARK_ENDPOINT",
        default_value = "http://127.0.0.1:9201"
    )]
    endpoint: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Request timeout in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    timeout_s: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// Human-readable lines.
    Table,
    /// The node's JSON answer, unchanged.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluates a PromQL expression at one instant (default: now).
    Query {
        /// The PromQL expression.
        expr: String,
        /// Evaluation time: RFC 3339 or Unix seconds.
        #[arg(long)]
        time: Option<String>,
    },
    /// Evaluates a PromQL expression over a time range.
    QueryRange {
        expr: String,
        /// Start: RFC 3339 or Unix seconds.
        #[arg(long)]
        start: String,
        /// End: RFC 3339 or Unix seconds.
        #[arg(long)]
        end: String,
        /// Step: a duration such as 15s or 1m, or seconds.
        #[arg(long, default_value = "60s")]
        step: String,
    },
    /// Persists every in-memory head of the node to chunk storage and waits until done.
    Flush,
    /// Prints the node's build information.
    Buildinfo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(cli.timeout_s))
        .build()?;
    let base = cli.endpoint.trim_end_matches('/');
    let (path, form): (&str, Vec<(&str, String)>) = match &cli.command {
        Command::Query { expr, time } => {
            let mut form = vec![("query", expr.clone())];
            if let Some(t) = time {
                form.push(("time", t.clone()));
            }
            ("/api/v1/query", form)
        }
        Command::QueryRange {
            expr,
            start,
            end,
            step,
        } => (
            "/api/v1/query_range",
            vec![
                ("query", expr.clone()),
                ("start", start.clone()),
                ("end", end.clone()),
                ("step", step.clone()),
            ],
        ),
        Command::Flush => ("/api/v1/admin/flush", vec![]),
        Command::Buildinfo => ("/api/v1/status/buildinfo", vec![]),
    };
    let url = format!("{base}{path}");
    let request = match cli.command {
        Command::Buildinfo => client.get(&url),
        _ => client.post(&url).form(&form),
    };
    let response = request
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text()?;
    let json: serde_json::Value = if body.trim().is_empty() {
        serde_json::json!({"status": if status.is_success() { "success" } else { "error" }})
    } else {
        serde_json::from_str(&body)
            .with_context(|| format!("{url} answered {status} with non-JSON: {body}"))?
    };
    match cli.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Output::Table => print_table(&json),
    }
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(())
}

/// Prints a Prometheus API answer as lines: one per series for vectors and matrices.
fn print_table(json: &serde_json::Value) {
    if let Some(err) = json.get("error") {
        eprintln!(
            "error ({}): {}",
            json["errorType"].as_str().unwrap_or("unknown"),
            err.as_str().unwrap_or("")
        );
        return;
    }
    let data = &json["data"];
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                println!(
                    "{} {} @{}",
                    s["metric"],
                    s["value"][1].as_str().unwrap_or(""),
                    s["value"][0]
                );
            }
        }
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let values = s["values"].as_array().map(|v| v.len()).unwrap_or(0);
                println!("{} ({values} points)", s["metric"]);
                for p in s["values"].as_array().into_iter().flatten() {
                    println!("  {} @{}", p[1].as_str().unwrap_or(""), p[0]);
                }
            }
        }
        Some("scalar") | Some("string") => println!("{} @{}", data["result"][1], data["result"][0]),
        _ if data.is_null() => println!("{}", json["status"].as_str().unwrap_or("")),
        _ => println!("{data}"),
    }
    for w in json["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or(""));
    }
}
