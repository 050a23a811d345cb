//! The built-in notifier's commands, as `amtool` has them, against any node's HTTP API:
//!
//! - `notifier get|set|check|delete`: the replicated `alertmanager.yml`
//!   (`/api/v1/admin/notifier/config`); `set` and `check` validate the file locally first,
//!   with the parser the node uses;
//! - `silence add|list|expire`: Alertmanager's `/api/v2/silences` and `/api/v2/silence/{id}`;
//! - `alerts [MATCHER...]`, `alerts groups`: `/api/v2/alerts` and `/api/v2/alerts/groups`.
//!
//! Every request names who sends it in `X-Tidemark-User` (`$USER`, or `silence add
//! --author`), which the node's audit log records, and carries `--admin-token` as a bearer
//! token. Answers are read as `tidemark_api::alertmanager` types; `--output json` prints them
//! as the node wrote them.
//!
//! - `client.rs`: the HTTP calls ([`Api`]) and the reading of refusals;
//! - `args.rs`: matchers, times and durations as given on the command line, and the silence
//!   `silence add` posts (pure functions, the clock passed in);
//! - `table.rs`: the column-aligned tables of table output;
//! - `config.rs`: `notifier ...`; `silences.rs`: `silence ...`; `alerts.rs`: `alerts ...`.

mod alerts;
mod args;
mod client;
mod config;
mod silences;
mod table;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};

use crate::Output;
pub use client::Api;

/// The built-in notifier's configuration: the cluster's replicated `alertmanager.yml`.
#[derive(Subcommand, Debug)]
pub enum NotifierCommand {
    /// Prints the configuration as it was set (the `alertmanager.yml` text).
    Get,
    /// Validates FILE (an `alertmanager.yml`; `-` for standard input) as the node does, then
    /// makes it the cluster's configuration. Nothing is sent when the file is invalid. Prints
    /// the node's warnings (a `repeat_interval` shorter than its `group_interval`, ...).
    Set {
        /// The `alertmanager.yml`, or `-`.
        file: PathBuf,
    },
    /// Validates FILE as `notifier set` does, without a server (as `amtool check-config`):
    /// prints every problem, one a line, and exits 1 if there is one; prints the warnings.
    Check {
        /// The `alertmanager.yml`, or `-`.
        file: PathBuf,
    },
    /// Removes the configuration: alerts are kept, but routed nowhere until one is set.
    Delete,
}

/// Silences of the built-in notifier (as `amtool silence`).
#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Adds a silence for the alerts all MATCHERs match; prints its id.
    Add(AddArgs),
    /// Lists silences: the active and pending ones, or with --expired the expired ones; with
    /// MATCHERs, those whose equality matchers describe labels the MATCHERs match.
    List {
        /// Matchers in Alertmanager's syntax (`alertname=Down`, `instance=~"db.*"`).
        matchers: Vec<String>,
        /// Show the expired silences (still kept) instead of the active and pending ones.
        #[arg(long)]
        expired: bool,
        /// Print only the ids, one a line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Expires silences now (an expired one stays as it is).
    Expire {
        /// Silence ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// `silence add`'s arguments.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Matchers in Alertmanager's syntax: `alertname=Down`, `instance=~"db.*"`, `env!=dev`,
    /// `{a="b",c!~"d"}`. A first argument without an operator is the alert name: `Down` is
    /// `alertname="Down"`.
    #[arg(required = true)]
    pub matchers: Vec<String>,
    /// Why the silence exists.
    #[arg(long, short)]
    pub comment: String,
    /// How long it lasts from its start (`1h`, `90m`, `2d`, `1w`); default 1h.
    #[arg(long, short, conflicts_with = "end")]
    pub duration: Option<String>,
    /// When it ends: RFC 3339 (`2026-12-05T18:00:00Z`) or Unix seconds.
    #[arg(long)]
    pub end: Option<String>,
    /// When it starts: RFC 3339 or Unix seconds; default now.
    #[arg(long)]
    pub start: Option<String>,
    /// Who creates it; also the user the node's audit log names.
    #[arg(long, short, env = "USER")]
    pub author: Option<String>,
}

/// `alerts`: the built-in notifier's alerts, or with `groups` their aggregation groups.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    #[command(flatten)]
    pub filter: AlertFilter,
}

/// `alerts groups`.
#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// The aggregation groups (per route and receiver) and their alerts.
    Groups {
        #[command(flatten)]
        filter: AlertFilter,
    },
}

/// Which alerts `alerts` and `alerts groups` show: by default the active ones (neither
/// silenced nor inhibited) that every MATCHER matches.
#[derive(Args, Debug, Clone, Default)]
pub struct AlertFilter {
    /// Matchers in Alertmanager's syntax (`alertname=Down`, `severity=~"page|ticket"`). A
    /// first argument without an operator is the alert name.
    pub matchers: Vec<String>,
    /// Only alerts routed to a receiver whose name this regex (anchored) matches.
    #[arg(long)]
    pub receiver: Option<String>,
    /// Also show silenced alerts.
    #[arg(long)]
    pub silenced: bool,
    /// Also show inhibited alerts.
    #[arg(long)]
    pub inhibited: bool,
}

/// Runs `notifier ...`.
pub fn run_notifier(api: &Api, output: Output, cmd: &NotifierCommand) -> anyhow::Result<()> {
    match cmd {
        NotifierCommand::Get => config::get(api, output),
        NotifierCommand::Set { file } => config::set(api, output, file),
        NotifierCommand::Check { file } => config::check(output, file),
        NotifierCommand::Delete => config::delete(api, output),
    }
}

/// Runs `silence ...`.
pub fn run_silence(api: &Api, output: Output, cmd: &SilenceCommand) -> anyhow::Result<()> {
    match cmd {
        SilenceCommand::Add(args) => silences::add(api, output, args, now_ms()),
        SilenceCommand::List {
            matchers,
            expired,
            quiet,
        } => silences::list(api, output, matchers, *expired, *quiet),
        SilenceCommand::Expire { ids } => silences::expire(api, output, ids),
    }
}

/// Runs `alerts ...`.
pub fn run_alerts(api: &Api, output: Output, args: &AlertsArgs) -> anyhow::Result<()> {
    match &args.command {
        None => alerts::list(api, output, &args.filter),
        Some(AlertsCommand::Groups { filter }) => alerts::groups(api, output, filter),
    }
}

/// The wall clock, in milliseconds since the Unix epoch: read here, at the edge, and passed
/// to what computes with it.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
