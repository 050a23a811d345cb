//! Reading the template files a configuration's `templates` globs match: the one file access
//! of this crate, shared by whoever imports a configuration (a node's `--notifier-config`,
//! `tidemarkctl notifier set`); the files' contents then travel with the configuration.

use std::collections::BTreeMap;
use std::path::Path;

/// Files the globs may match at most, and bytes per file, so that a mistaken glob cannot fill
/// the replicated state.
const TEMPLATE_FILES_MAX: usize = 100;
const TEMPLATE_FILE_BYTES_MAX: u64 = 1 << 20;

/// Reads the files `globs` match (relative ones against `dir`), by path as matched.
pub fn read_template_globs(
    globs: &[String],
    dir: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for g in globs {
        let pattern = if Path::new(g).is_absolute() {
            g.clone()
        } else {
            dir.join(g).display().to_string()
        };
        let paths = glob::glob(&pattern).map_err(|e| format!("templates: {g:?}: {e}"))?;
        for path in paths {
            let path = path.map_err(|e| format!("templates: {g:?}: {e}"))?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size > TEMPLATE_FILE_BYTES_MAX {
                return Err(format!(
                    "templates: {} is {size} bytes, more than {TEMPLATE_FILE_BYTES_MAX}",
                    path.display()
                ));
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("templates: {}: {e}", path.display()))?;
            files.insert(path.display().to_string(), text);
            if files.len() > TEMPLATE_FILES_MAX {
                return Err(format!("templates: more than {TEMPLATE_FILES_MAX} files"));
            }
        }
    }
    Ok(files)
}
