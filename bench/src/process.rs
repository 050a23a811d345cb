//! Child processes of the benchmark and what is measured on them. The processes are
//! `tidemark_testkit` [`ChildProcess`]es, killed on drop (so also on error and panic) and through
//! `PR_SET_PDEATHSIG` if the benchmark itself is killed; measured here: CPU time and resident
//! memory from `/proc/PID/...`, and `du`-style disk usage.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tidemark_testkit::ChildProcess;
use tidemark_testkit::process::die_with_parent;

/// How long a child gets to exit after SIGTERM before it is SIGKILLed.
const STOP_GRACE_MS: u64 = 10_000;
/// How much of the end of a child's log an error quotes.
const LOG_TAIL_BYTES_MAX: u64 = 2_000;

/// Starts `program args` (called `name`) with stdout and stderr appended to `log_path`. Must be
/// called from the main thread: the death signal fires when the spawning thread exits.
pub fn spawn(name: &str, program: &Path, args: &[String], log_path: &Path) -> Result<ChildProcess> {
    let mut command = Command::new(program);
    command.args(args);
    die_with_parent(&mut command);
    Ok(ChildProcess::spawn(name, command, log_path)?)
}

/// Fails, quoting the end of its log, if `child` has already exited.
pub fn check_alive(child: &mut ChildProcess) -> Result<()> {
    if let Some(status) = child.exited() {
        bail!(
            "{} exited early ({status}); log tail:\n{}",
            child.name(),
            child.log_tail(LOG_TAIL_BYTES_MAX)
        );
    }
    Ok(())
}

/// The end of `child`'s log, for an error.
pub fn log_tail(child: &ChildProcess) -> String {
    child.log_tail(LOG_TAIL_BYTES_MAX)
}

/// SIGTERM, then SIGKILL after a grace period; waits for the exit.
pub fn stop(child: &mut ChildProcess) {
    child.terminate(STOP_GRACE_MS);
}

/// The pid of a running `child`.
pub fn pid(child: &ChildProcess) -> Result<u32> {
    child
        .pid()
        .with_context(|| format!("{} is not running", child.name()))
}

/// CPU time (user + system) `pid` has used so far, in seconds (`/proc/PID/stat` fields 14 and
/// 15). Unlike wall-clock rates it hardly moves when other work shares the machine, so it is the
/// figure to compare efficiency by on a noisy host.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("parse /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i - 3)
            .context("short /proc stat")?
            .parse::<u64>()
            .context("parse /proc stat")? as f64)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14)? + ticks(15)?) / hz)
}

/// Resident set size of `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .context("parse VmRSS")?;
            return Ok(kb * 1024);
        }
    }
    bail!("no VmRSS for pid {pid}")
}

/// Allocated bytes under `path` like `du -s --block-size=1` (hard links counted once), skipping
/// the top-level entries named in `exclude`.
pub fn disk_usage(path: &Path, exclude: &[&str]) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    let mut entries_visited = 0u64;
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            entries_visited += 1;
            if entries_visited > 10_000_000 {
                return total;
            }
            if dir == path && exclude.iter().any(|e| entry.file_name() == **e) {
                continue;
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            }
            if seen.insert((meta.dev(), meta.ino())) {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

/// Polls `disk_usage` once a second until it is unchanged three times in a row (background merges
/// and compactions have settled) or `timeout` passes; returns the last value.
pub fn settled_disk_usage(path: &Path, exclude: &[&str], timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    let mut last = disk_usage(path, exclude);
    let mut stable = 0;
    while stable < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let now = disk_usage(path, exclude);
        if now == last {
            stable += 1;
        } else {
            stable = 0;
            last = now;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_of_self_is_positive() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn disk_usage_counts_files_and_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 100_000]).unwrap();
        std::fs::create_dir(dir.path().join("skip")).unwrap();
        std::fs::write(dir.path().join("skip/b"), vec![1u8; 100_000]).unwrap();
        let all = disk_usage(dir.path(), &[]);
        let some = disk_usage(dir.path(), &["skip"]);
        assert!(all >= 200_000 && some >= 100_000 && some < all);
    }

    #[test]
    fn spawned_child_is_killed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let args = ["30".to_string()];
        let child = spawn(
            "sleep",
            Path::new("/bin/sleep"),
            &args,
            &dir.path().join("log"),
        )
        .unwrap();
        let pid = pid(&child).unwrap();
        drop(child);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || rss_bytes(pid).is_err());
    }
}
