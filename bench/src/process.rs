//! Child processes of the benchmark and what is measured on them: a guard that always kills the
//! child (on drop, so also on error and panic; and through `PR_SET_PDEATHSIG` if the benchmark
//! itself is killed), resident memory from `/proc/PID/status` and `du`-style disk usage.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a child gets to exit after SIGTERM before it is SIGKILLed.
const STOP_GRACE_MS: u64 = 10_000;

/// A running child process, killed when dropped.
pub struct ChildGuard {
    child: Option<Child>,
    pub name: String,
    pub log_path: PathBuf,
}

impl ChildGuard {
    /// Starts `program args` with stdout and stderr appended to `log_path`. Must be called from the
    /// main thread: the death signal fires when the spawning thread exits.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log_path: &Path,
    ) -> Result<ChildGuard> {
        let log =
            File::create(log_path).with_context(|| format!("create {}", log_path.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("start {name}: {}", program.display()))?;
        Ok(ChildGuard {
            child: Some(child),
            name: name.to_string(),
            log_path: log_path.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Fails if the child has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!(
                "{} exited early ({status}); log tail:\n{}",
                self.name,
                self.log_tail(2_000)
            );
        }
        Ok(())
    }

    /// The last `bytes_max` bytes of the child's log.
    pub fn log_tail(&self, bytes_max: u64) -> String {
        let Ok(mut file) = File::open(&self.log_path) else {
            return String::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(bytes_max)));
        let mut buf = Vec::new();
        let _ = file.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// SIGTERM, then SIGKILL after a grace period; waits for the exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_millis(STOP_GRACE_MS);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// A free TCP port on 127.0.0.1 (bound and released; the child binds it right after).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
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
    fn guard_kills_child_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let guard = ChildGuard::spawn(
            "sleep",
            Path::new("/bin/sleep"),
            &["30".to_string()],
            &dir.path().join("log"),
        )
        .unwrap();
        let pid = guard.pid();
        drop(guard);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || rss_bytes(pid).is_err());
    }
}
