//! `notifier get|set|check|delete`: the cluster's `alertmanager.yml`. `set` and `check`
//! validate the file with the parser the node uses (`tidemark_alerting::notify::config`), so
//! that an invalid file is refused before anything is sent, with every problem told.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use tidemark_alerting::notify::config::parse;
use tidemark_alerting::notify::state::RETENTION_MS;

use super::client::NO_CONFIG;
use super::{Api, Output};

/// What `notifier get` prints with `--output json`.
#[derive(Debug, Serialize)]
struct ConfigJson<'a> {
    /// The `alertmanager.yml` as set.
    config: &'a str,
}

/// What `notifier check` prints with `--output json`.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Whether the file is valid.
    pub valid: bool,
    /// Every problem, one an entry, each starting with where it is.
    pub errors: Vec<String>,
    /// Alertmanager's warnings about a valid file.
    pub warnings: Vec<String>,
}

/// `notifier get`: the configuration as it was set; an error (exit 1) when none is.
pub fn get(api: &Api, output: Output) -> anyhow::Result<()> {
    let Some(yaml) = api.config()? else {
        bail!("{}", NO_CONFIG);
    };
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&ConfigJson { config: &yaml })?
        ),
        Output::Table => {
            print!("{yaml}");
            if !yaml.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(())
}

/// `notifier set FILE`: validated locally, then sent; the node's warnings printed.
pub fn set(api: &Api, output: Output, file: &Path) -> anyhow::Result<()> {
    let yaml = read(file)?;
    if let Err(errors) = parse(&yaml) {
        print_errors(file, &errors);
        bail!("{} is invalid: nothing sent", shown(file));
    }
    let answer = api.set_config(&yaml)?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        Output::Table => {
            println!("notifier configuration set from {}", shown(file));
            print_warnings(&answer.warnings);
        }
    }
    Ok(())
}

/// `notifier check FILE`: validated as `set` validates it, without a server.
pub fn check(output: Output, file: &Path) -> anyhow::Result<()> {
    let yaml = read(file)?;
    let report = check_text(&yaml);
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => {
            if report.valid {
                println!("{}: valid", shown(file));
                print_warnings(&report.warnings);
            } else {
                print_errors(file, &report.errors.join("\n"));
            }
        }
    }
    if !report.valid {
        bail!("{} is invalid", shown(file));
    }
    Ok(())
}

/// What `check` finds in `yaml`: errors, or the warnings of a valid configuration (with
/// the notification log's retention, which the node keeps).
pub fn check_text(yaml: &str) -> CheckReport {
    match parse(yaml) {
        Ok(config) => CheckReport {
            valid: true,
            errors: Vec::new(),
            warnings: config.warnings(RETENTION_MS),
        },
        Err(e) => CheckReport {
            valid: false,
            errors: e.lines().map(str::to_string).collect(),
            warnings: Vec::new(),
        },
    }
}

/// `notifier delete`.
pub fn delete(api: &Api, output: Output) -> anyhow::Result<()> {
    let answer = api.delete_config()?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        Output::Table => println!("notifier configuration deleted"),
    }
    Ok(())
}

/// The text of `file`, or of standard input for `-`.
fn read(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// How `file` is named in messages.
fn shown(file: &Path) -> String {
    if file == Path::new("-") {
        "standard input".into()
    } else {
        file.display().to_string()
    }
}

/// Each line of `errors` as `FILE: line`.
fn print_errors(file: &Path, errors: &str) {
    for line in errors.lines() {
        println!("{}: {line}", shown(file));
    }
}

/// Each warning as `warning: ...`, on standard error.
fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
