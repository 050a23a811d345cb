//! Prometheus' promqltest corpus (`testdata/promql/*.test`) run against the engine over the
//! in-memory storage engine, the way Prometheus' own runner runs it (instant evals also as range
//! queries and with `@` pinned, see `promqltest/runner.rs`).
//!
//! Cases listed in `testdata/promql-skip.txt` (with a reason each) are skipped; any other
//! failing case fails the test. Set `PROMQLTEST_FAILURES=<path>` to write the failing cases,
//! `PROMQLTEST_RUN_SKIPPED=1` to run the skipped cases too and list those that pass.

mod promqltest {
    pub mod at_modifier;
    pub mod nhcb;
    pub mod runner;
    pub mod script;
    pub mod store;
}

use std::collections::HashMap;
use std::path::Path;

use promqltest::{runner, script};

/// The skip list: `file:line reason` or `file:* reason`.
fn skip_list(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (case, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        assert!(
            !reason.trim().is_empty(),
            "skip-list entry without a reason: {line}"
        );
        out.insert(case.to_string(), reason.trim().to_string());
    }
    out
}

#[test]
fn promql_conformance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let skips = skip_list(&dir.join("promql-skip.txt"));
    let mut files: Vec<_> = std::fs::read_dir(dir.join("promql"))
        .expect("testdata/promql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let only = std::env::var("PROMQLTEST_FILE").ok();
    let run_skipped = std::env::var_os("PROMQLTEST_RUN_SKIPPED").is_some();
    let (mut total_pass, mut total_fail, mut total_skip) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (mut pass, mut fail, mut skip) = (0, 0, 0);
        let whole_file = skips.contains_key(&format!("{name}:*")) && !run_skipped;
        let outcomes = match script::parse_script(&text) {
            Ok(cmds) if !whole_file => runner::run(&cmds),
            Ok(cmds) => {
                skip = cmds
                    .iter()
                    .filter(|c| matches!(c, script::Command::Eval(_)))
                    .count();
                Vec::new()
            }
            Err(e) => {
                assert!(whole_file, "{name}: cannot parse: {e}");
                skip = text.lines().filter(|l| l.starts_with("eval")).count();
                Vec::new()
            }
        };
        for o in outcomes {
            let key = format!("{name}:{}", o.line);
            if skips.contains_key(&key) || skips.contains_key(&format!("{name}:*")) {
                skip += 1;
                if run_skipped && o.error.is_none() {
                    println!("SKIPPED BUT PASSES {key} {}", o.text);
                }
                continue;
            }
            match o.error {
                None => pass += 1,
                Some(err) => {
                    fail += 1;
                    failures.push(format!("{key} {}\n    {err}", o.text));
                }
            }
        }
        println!("{name}: {pass} passed, {fail} failed, {skip} skipped");
        total_pass += pass;
        total_fail += fail;
        total_skip += skip;
    }
    println!("total: {total_pass} passed, {total_fail} failed, {total_skip} skipped");
    for f in &failures {
        println!("FAIL {f}");
    }
    if let Ok(p) = std::env::var("PROMQLTEST_FAILURES") {
        std::fs::write(p, failures.join("\n")).unwrap();
    }
    assert_eq!(
        total_fail, 0,
        "{total_fail} promqltest cases failed (see above)"
    );
}
