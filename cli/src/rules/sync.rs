//! `rules sync` and `rules diff`: the rule files against the server's groups. Both read and
//! validate every file first (nothing is sent when one is invalid), read the server's groups,
//! compute the plan ([`super::plan`]) and print it; `sync` then applies it one group at a
//! time, printing each step, and stops at the first refusal (running it again resumes, since
//! the plan is computed afresh).

use anyhow::Context;
use serde::Serialize;
use tidemark_alerting::rules::RuleGroup;

use super::diff::unified;
use super::files::load_namespaces;
use super::plan::{Change, ChangeRow, Kind, Op, Plan, Prune, plan};
use super::{Api, Output, Source};

/// Unchanged lines shown around each changed one in `diff`.
const DIFF_CONTEXT_LINES: usize = 3;

/// What `sync` and `diff` print with `--output json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    /// The plan's changes, in order.
    changes: Vec<ChangeRow<'a>>,
    /// Groups the server already holds as the files do.
    unchanged: usize,
    /// How many changes `sync` applied (all of them, as it stops at the first failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<usize>,
}

/// The plan that makes the server hold `source`'s rule files.
fn compute(api: &Api, source: &Source) -> anyhow::Result<Plan> {
    let local = load_namespaces(&source.paths, source.namespace.as_deref())?;
    let remote = api.namespaces()?;
    let prune = if source.delete {
        Prune::AllNamespaces
    } else {
        Prune::FileNamespaces
    };
    Ok(plan(&local, &remote, prune))
}

/// Prints `plan` as lines (`+ ns/group`, …) and its summary; with `diffs`, each change's YAML
/// lines below it.
fn print_plan(plan: &Plan, diffs: bool) {
    for change in &plan.changes {
        println!("{change}");
        if diffs {
            for line in change_diff(change) {
                println!("    {line}");
            }
        }
    }
    println!("{}", plan.summary());
}

/// The YAML lines `change` removes and adds: the whole group for a creation or a deletion.
fn change_diff(change: &Change) -> Vec<String> {
    let (old, new) = (
        change.remote().map(RuleGroup::to_yaml),
        change.local().map(RuleGroup::to_yaml),
    );
    let name = format!("{}/{}", change.namespace, change.group);
    let mut lines = vec![format!("--- server {name}"), format!("+++ files {name}")];
    lines.extend(unified(
        old.as_deref().unwrap_or(""),
        new.as_deref().unwrap_or(""),
        DIFF_CONTEXT_LINES,
    ));
    lines
}

/// `rules diff`: prints the plan with the lines each change makes differ; whether there is
/// any change.
pub fn diff(api: &Api, output: Output, source: &Source) -> anyhow::Result<bool> {
    let plan = compute(api, source)?;
    match output {
        Output::Table => print_plan(&plan, true),
        Output::Json => print_report(&plan, None)?,
    }
    Ok(!plan.is_empty())
}

/// `rules sync`: prints the plan, then (unless `dry_run`) applies it, printing each step.
pub fn sync(api: &Api, output: Output, source: &Source, dry_run: bool) -> anyhow::Result<()> {
    let plan = compute(api, source)?;
    let table = matches!(output, Output::Table);
    if table {
        print_plan(&plan, false);
    }
    if dry_run || plan.is_empty() {
        if table && dry_run && !plan.is_empty() {
            println!("dry run: nothing changed");
        }
        return match output {
            Output::Table => Ok(()),
            Output::Json => print_report(&plan, Some(0)),
        };
    }
    let total = plan.changes.len();
    for (i, change) in plan.changes.iter().enumerate() {
        apply(api, change).with_context(|| {
            format!("{change} failed after {i} of {total} changes; run sync again to resume")
        })?;
        if table {
            println!("applied {}/{total}: {change}", i + 1);
        }
    }
    match output {
        Output::Table => println!(
            "sync done: {} created, {} updated, {} deleted",
            plan.count(Op::Create),
            plan.count(Op::Update),
            plan.count(Op::Delete)
        ),
        Output::Json => print_report(&plan, Some(total))?,
    }
    Ok(())
}

/// Sends one change to the server.
fn apply(api: &Api, change: &Change) -> anyhow::Result<()> {
    match &change.kind {
        Kind::Create { local } | Kind::Update { local, .. } => {
            api.set_group(&change.namespace, local)
        }
        Kind::Delete { .. } => api.delete_group(&change.namespace, &change.group),
    }
}

/// Prints the plan (and what was applied) as JSON.
fn print_report(plan: &Plan, applied: Option<usize>) -> anyhow::Result<()> {
    let report = Report {
        changes: plan.rows(),
        unchanged: plan.unchanged,
        applied,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
