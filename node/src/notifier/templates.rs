//! Template files of a notifier configuration (read where it is imported:
//! `tidemark_alerting::notify::config::read_template_globs`), checked, and parsed once per
//! configuration for sending; the notifier itself reads no file.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tidemark_alerting::notify::template_data::Templates;

/// The default templates with `files` added (their `define`s replace the defaults'); an
/// error names the file.
pub fn parse(files: &BTreeMap<String, String>) -> Result<Templates, String> {
    Templates::with_files(files.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Template files by name, with their text.
type Files = BTreeMap<String, String>;

/// The parsed templates of the latest configuration sent with.
#[derive(Default)]
pub struct TemplateCache {
    last: Mutex<Option<(Files, Arc<Templates>)>>,
}

impl TemplateCache {
    /// The templates of `files`, parsed once per distinct set. Files that do not parse (a
    /// configuration checked by another build) fall back to the defaults, logged.
    pub fn get(&self, files: &BTreeMap<String, String>) -> Arc<Templates> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((f, t)) = last.as_ref()
            && f == files
        {
            return t.clone();
        }
        let templates = Arc::new(parse(files).unwrap_or_else(|e| {
            tracing::error!(error = %e, "notifier template files do not parse: defaults used");
            Templates::new()
        }));
        *last = Some((files.clone(), templates.clone()));
        templates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_read_relative_to_the_configuration_and_parsed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(
            dir.path().join("t/a.tmpl"),
            r#"{{ define "my.subject" }}[{{ .Status }}] {{ .GroupLabels.alertname }}{{ end }}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("t/skip.txt"), "not a template").unwrap();
        let files = tidemark_alerting::notify::config::read_template_globs(
            &["t/*.tmpl".to_string()],
            dir.path(),
        )
        .unwrap();
        assert_eq!(files.len(), 1);
        let templates = parse(&files).unwrap();
        assert!(templates.defines("my.subject") && templates.defines("email.default.html"));
        let bad = BTreeMap::from([("x.tmpl".to_string(), "{{ define \"x\" }}".to_string())]);
        assert!(parse(&bad).unwrap_err().contains("x.tmpl"));
        assert!(
            tidemark_alerting::notify::config::read_template_globs(&["[".to_string()], dir.path())
                .is_err()
        );
    }
}
