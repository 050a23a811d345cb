//! `notifier get|set|check|delete`: the cluster's `alertmanager.yml`. `set` and `check`
//! validate the file with the parser the node uses (`tidemark_alerting::notify::config`), so
//! that an invalid file is refused before anything is sent, with every problem told.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use tidemark_alerting::notify::config::{parse, read_template_globs};
use tidemark_alerting::notify::state::RETENTION_MS;
use tidemark_alerting::notify::template_data::Templates;

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
    let config = match parse(&yaml) {
        Ok(config) => config,
        Err(errors) => {
            print_errors(file, &errors);
            bail!("{} is invalid: nothing sent", shown(file));
        }
    };
    let files = match template_files(file, &config.templates) {
        Ok(files) => files,
        Err(e) => {
            print_errors(file, &e);
            bail!("{} is invalid: nothing sent", shown(file));
        }
    };
    // With template files, the body is Mimir's shape, which carries them.
    let body = if files.is_empty() {
        yaml
    } else {
        serde_yaml::to_string(&WithTemplates {
            template_files: files,
            alertmanager_config: yaml,
        })?
    };
    let answer = api.set_config(&body)?;
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
    let report = check_text_in(&yaml, dir_of(file));
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

/// What `check` finds in `yaml`, a file in `dir` (its template globs are read relative to
/// it): errors, or the warnings of a valid configuration (with the notification log's
/// retention, which the node keeps).
pub(super) fn check_text_in(yaml: &str, dir: &Path) -> CheckReport {
    let checked = parse(yaml).and_then(|config| {
        let files = read_template_globs(&config.templates, dir)?;
        Templates::with_files(files.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(config)
    });
    match checked {
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

/// The directory `file`'s template globs are relative to (the working directory for `-`).
fn dir_of(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if file != Path::new("-") && !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The template files `globs` match next to `file`, checked as the node checks them.
fn template_files(file: &Path, globs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let files = read_template_globs(globs, dir_of(file))?;
    Templates::with_files(files.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(files)
}

/// A configuration with its template files, in Mimir's shape (what the node's API takes).
#[derive(Debug, Serialize)]
struct WithTemplates {
    template_files: BTreeMap<String, String>,
    alertmanager_config: String,
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
