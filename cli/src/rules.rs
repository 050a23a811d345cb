//! Rule commands: `rules list|get|lint|sync|diff|delete`, as `mimirtool rules` and
//! `cortextool rules` have them, against the ruler's configuration API (Mimir's
//! `/config/v1/rules`, served by every node).
//!
//! Rule files are Prometheus rule files (`groups:`); each file is one namespace, named by the
//! file's stem. `sync` makes the server's namespaces match the files: it computes a plan
//! (groups to create, to update, to delete), prints it, then applies it one group at a time,
//! showing each step; `diff` prints the same plan with the YAML that changes. Groups are
//! compared as parsed, normalised rule groups, not as text, so formatting, comments and the
//! order of groups never count as changes. Files are validated as the server validates an
//! upload (the same parser, templates checked, the server's default limits) before anything
//! is sent.
//!
//! - `client.rs`: the HTTP calls ([`Api`]);
//! - `files.rs`: finding rule files and reading them into namespaces;
//! - `plan.rs`: the plan, a pure function of the local and the server's groups;
//! - `diff.rs`: the line diff `diff` prints for updated groups;
//! - `show.rs`: `list`, `get`, `delete`; `lint.rs`: `lint`; `sync.rs`: `sync` and `diff`.

mod client;
mod diff;
mod files;
mod lint;
mod plan;
mod show;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tidemark_alerting::rules::{RuleGroup, RuleLimits};

use crate::Output;
pub use client::Api;

/// Rule groups by namespace, namespaces sorted, groups in their order.
pub type Namespaces = BTreeMap<String, Vec<RuleGroup>>;

/// What `diff` exits with when the server differs from the files (as `diff(1)` and
/// `terraform plan -detailed-exitcode` do: 0 same, 1 error, 2 different).
pub const EXIT_CHANGES_FOUND: i32 = 2;

/// Rule groups on the ruler (Mimir's `/config/v1/rules` API).
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Every namespace and its groups (with their number of rules).
    List,
    /// A namespace's groups, or one group, as the server holds them (YAML).
    Get {
        /// The namespace.
        namespace: String,
        /// One group of it (default: all).
        group: Option<String>,
    },
    /// Validates rule files as the server validates an upload: every file given and every
    /// `*.yml`/`*.yaml` below each directory given. Prints each error with its file; exits 1
    /// if any file is invalid.
    Lint {
        /// Rule files, or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Makes the server's namespaces match the rule files: each file is one namespace (its
    /// file stem), whose groups are created, updated (when they differ) or deleted (when the
    /// file no longer has them). Prints the plan, then applies it one group at a time,
    /// showing each step. Idempotent: running it again prints "no changes", and resumes a
    /// sync that failed halfway.
    Sync {
        #[command(flatten)]
        source: Source,
        /// Print the plan only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Prints what `sync` would change, with the YAML lines that differ for updated groups.
    /// Exits 0 if nothing differs, 2 if something does (1 on errors).
    Diff {
        #[command(flatten)]
        source: Source,
    },
    /// Deletes a namespace with all its groups, or one group of it.
    Delete {
        /// The namespace.
        namespace: String,
        /// Only this group of it.
        group: Option<String>,
    },
}

/// The rule files `sync` and `diff` compare with the server.
#[derive(Args, Debug)]
pub struct Source {
    /// Rule files, or directories of them (every `*.yml`/`*.yaml` below, recursively). Each
    /// file is one namespace, named by its file stem.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The namespace of the rule file, instead of its file stem (only with exactly one file).
    #[arg(long)]
    namespace: Option<String>,
    /// Also delete every namespace on the server that no file holds (as `mimirtool rules
    /// sync` does). Without it, namespaces the files do not name are left alone.
    #[arg(long)]
    delete: bool,
}

/// Runs `cmd` against `api`; the process' exit code when the command succeeded (0, or
/// [`EXIT_CHANGES_FOUND`] for `diff`).
pub fn run(api: &Api, output: Output, cmd: &RulesCommand) -> anyhow::Result<i32> {
    match cmd {
        RulesCommand::List => show::list(api, output)?,
        RulesCommand::Get { namespace, group } => {
            show::get(api, output, namespace, group.as_deref())?
        }
        RulesCommand::Lint { paths } => lint::lint(paths)?,
        RulesCommand::Sync { source, dry_run } => sync::sync(api, output, source, *dry_run)?,
        RulesCommand::Diff { source } => {
            if sync::diff(api, output, source)? {
                return Ok(EXIT_CHANGES_FOUND);
            }
        }
        RulesCommand::Delete { namespace, group } => {
            show::delete(api, namespace, group.as_deref())?
        }
    }
    Ok(0)
}

/// The limits local rule files are checked against: the server's defaults (`ruler.limits`
/// in a node's configuration), so that what passes here passes an upload to a node that
/// keeps them.
fn upload_limits() -> RuleLimits {
    RuleLimits::default()
}

/// The limits the server's own answers are read with: none. What it holds passed its limits
/// when it was uploaded, and those may be wider than the defaults.
fn read_limits() -> RuleLimits {
    RuleLimits {
        rules_per_group_max: 0,
        groups_per_namespace_max: 0,
        body_bytes_max: 0,
        interval_min_ms: 0,
        legacy_names: false,
    }
}
