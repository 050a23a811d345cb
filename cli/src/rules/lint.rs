//! `rules lint`: rule files validated as the server validates an upload, without a server.

use std::path::PathBuf;

use anyhow::bail;

use super::files;

/// `rules lint PATH...`: every rule file of `paths` read and validated; each error printed
/// with its file (`path: error`), then a summary. An error when any file is invalid (the
/// process exits 1), or when there is no rule file.
pub fn lint(paths: &[PathBuf]) -> anyhow::Result<()> {
    let found = files::find(paths)?;
    if found.is_empty() {
        bail!("no rule files (*.yml, *.yaml) found");
    }
    let mut invalid = 0;
    let mut groups = 0;
    for path in &found {
        match files::read(path) {
            Ok(file) => groups += file.groups.len(),
            Err(e) => {
                invalid += 1;
                for line in e.lines() {
                    println!("{}: {line}", path.display());
                }
            }
        }
    }
    if invalid > 0 {
        bail!("{invalid} of {} rule files are invalid", found.len());
    }
    println!("{} rule files valid ({groups} groups)", found.len());
    Ok(())
}
