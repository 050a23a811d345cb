//! Rule files on disk: found below the paths given ([`find`]), read and validated as the
//! server validates an upload ([`read`]), and gathered into namespaces, one per file
//! ([`load_namespaces`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tidemark_alerting::rules::{RuleFile, parse_rule_file};
use tidemark_alerting::template::check_alert;

use super::{Namespaces, upload_limits};

/// How deep [`find`] looks below a directory given.
const DIR_DEPTH_MAX: usize = 32;

/// The rule files of `paths`: each path that is a file, and every `*.yml`/`*.yaml` file
/// below each directory (recursively; symbolic links to directories are not followed), each
/// directory's files sorted by path. A path that does not exist is an error.
pub fn find(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut below = Vec::new();
            walk(path, 0, &mut below)?;
            below.sort();
            found.extend(below);
        } else {
            found.push(path.clone());
        }
    }
    Ok(found)
}

/// Adds the rule files below `dir` (at `depth` below a directory given) to `found`.
fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if depth > DIR_DEPTH_MAX {
        bail!(
            "{}: more than {DIR_DEPTH_MAX} directories deep",
            dir.display()
        );
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            walk(&path, depth + 1, found)?;
        } else if is_rule_file(&path) && path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// Whether `path` is named as a rule file (`*.yml`, `*.yaml`).
fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// Reads and validates the rule file at `path` as the server validates one namespace: the
/// file, or why it is invalid (one line per error).
pub fn read(path: &Path) -> Result<RuleFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    parse_rule_file(&text, &upload_limits(), &check_alert).map_err(|e| e.to_string())
}

/// The namespace a rule file holds: its file stem (`api.rules.yml` holds `api.rules`).
pub fn namespace_of(path: &Path) -> anyhow::Result<String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .with_context(|| format!("{}: no file stem to name a namespace", path.display()))
}

/// The namespaces the rule files of `paths` hold: each file one namespace, named `namespace`
/// when given (there must then be exactly one file), else by its file stem. Every invalid
/// file, and two files naming one namespace, make it an error that names the files.
pub fn load_namespaces(paths: &[PathBuf], namespace: Option<&str>) -> anyhow::Result<Namespaces> {
    let files = find(paths)?;
    if files.is_empty() {
        bail!("no rule files (*.yml, *.yaml) found");
    }
    if namespace.is_some() && files.len() != 1 {
        bail!(
            "--namespace names the namespace of one rule file, but {} were found",
            files.len()
        );
    }
    let mut namespaces = Namespaces::new();
    let mut owners: Vec<(String, &Path)> = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        let name = match namespace {
            Some(n) => n.to_string(),
            None => namespace_of(path)?,
        };
        if let Some((_, other)) = owners.iter().find(|(n, _)| *n == name) {
            errors.push(format!(
                "{}: namespace {name:?} is also the namespace of {}",
                path.display(),
                other.display()
            ));
            continue;
        }
        owners.push((name.clone(), path));
        match read(path) {
            Ok(file) => {
                namespaces.insert(name, file.groups);
            }
            Err(e) => errors.extend(e.lines().map(|l| format!("{}: {l}", path.display()))),
        }
    }
    if !errors.is_empty() {
        bail!("invalid rule files, nothing done:\n{}", errors.join("\n"));
    }
    Ok(namespaces)
}
