//! Child processes of tests and harnesses: started with their output appended to a log file,
//! killed when dropped (so also on error and panic), and what a caller needs to wait for one, to
//! stop one and to say why one failed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http;

/// How often [`ChildProcess::wait_ready`] asks again.
const READY_POLL_MS: u64 = 100;
/// How often [`ChildProcess::terminate`] looks whether the process has exited.
const EXIT_POLL_MS: u64 = 50;

/// A process started by a test or a harness; SIGKILLed (and reaped) when dropped.
pub struct ChildProcess {
    child: Option<Child>,
    name: String,
    log_path: PathBuf,
}

/// Why [`ChildProcess::wait_ready`] gave up.
#[derive(Debug)]
pub enum NotReady {
    /// The process exited before it was ready.
    Exited(ExitStatus),
    /// No 2xx answer within the timeout.
    TimedOut {
        /// The timeout waited for.
        timeout_ms: u64,
    },
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Exited(status) => write!(f, "exited during start ({status})"),
            NotReady::TimedOut { timeout_ms } => write!(f, "not ready after {timeout_ms} ms"),
        }
    }
}

impl std::error::Error for NotReady {}

/// Makes the child of `command` receive SIGKILL when the thread that spawns it exits
/// (`PR_SET_PDEATHSIG`): a harness killed without running its destructors then leaves no server
/// behind. Spawn from a thread that lives as long as the child should (the main thread of a
/// harness).
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl ChildProcess {
    /// Starts `command` (called `name` in messages) with stdin from `/dev/null` and stdout and
    /// stderr appended to `log_path`, so that a restarted process adds to its earlier output.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> std::io::Result<Self> {
        let context =
            |what: String, e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| context(format!("open {}", log_path.display()), e))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command.spawn().map_err(|e| {
            context(
                format!(
                    "start {name} ({})",
                    Path::new(command.get_program()).display()
                ),
                e,
            )
        })?;
        Ok(ChildProcess {
            child: Some(child),
            name: name.to_string(),
            log_path: log_path.to_path_buf(),
        })
    }

    /// The name given at start, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the process writes its output to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The process id, unless the process was killed or stopped through this handle.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process was started and not killed or stopped through this handle (it may
    /// have exited on its own: see [`ChildProcess::exited`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has exited on its own (not killed through this handle).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Everything the process has written so far (invalid UTF-8 replaced).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `bytes_max` bytes of the log (invalid UTF-8 replaced).
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

    /// Sends `signal` (such as `libc::SIGSTOP` or `libc::SIGCONT`) unless the process has
    /// exited or was killed or stopped through this handle.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = self.pid() {
            // SAFETY: plain kill(2) on our own child, which has not been reaped (so the pid is
            // still its own).
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    }

    /// SIGKILL: no flush, no goodbye; waits until the process is gone. A no-op once it was
    /// killed or stopped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `grace_ms` for the process to exit and returns its status;
    /// `None` if it had to be SIGKILLed after all (or was killed or stopped before).
    pub fn terminate(&mut self, grace_ms: u64) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        // SAFETY: plain kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_millis(grace_ms);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(EXIT_POLL_MS));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// [`ChildProcess::wait_ready`] for tests, which cannot go on without the process: panics
    /// with the reason and the process' log.
    pub fn expect_ready(&mut self, url: &str, timeout_ms: u64) -> Duration {
        self.wait_ready(url, timeout_ms)
            .unwrap_or_else(|e| panic!("{} {e}:\n{}", self.name, self.log()))
    }

    /// Waits until `url` answers a GET with 2xx, asking every [`READY_POLL_MS`] ms, and returns
    /// how long that took. Gives up when the process exits or after `timeout_ms`.
    pub fn wait_ready(&mut self, url: &str, timeout_ms: u64) -> Result<Duration, NotReady> {
        let started = Instant::now();
        let timeout = Duration::from_millis(timeout_ms);
        loop {
            if let Some(status) = self.exited() {
                return Err(NotReady::Exited(status));
            }
            if http::get_status(url).is_ok_and(|code| (200..300).contains(&code)) {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= timeout {
                return Err(NotReady::TimedOut { timeout_ms });
            }
            std::thread::sleep(Duration::from_millis(READY_POLL_MS));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path) -> ChildProcess {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo started; exec sleep 30"]);
        ChildProcess::spawn("sleeper", command, &dir.join("sleeper.log")).unwrap()
    }

    #[test]
    fn dropping_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let process = sleeper(dir.path());
        let pid = process.pid().unwrap();
        drop(process);
        // Reaped: no /proc entry, not even a zombie.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn terminate_reports_the_exit_and_the_log_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut process = sleeper(dir.path());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !process.log().contains("started") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = process.terminate(10_000).expect("exits on SIGTERM");
        assert!(!status.success());
        assert!(!process.is_running());
        assert_eq!(process.log_tail(8), "started\n");
    }

    #[test]
    fn wait_ready_stops_when_the_process_exits() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "exit 3"]);
        let mut process =
            ChildProcess::spawn("quitter", command, &dir.path().join("q.log")).unwrap();
        let port = crate::port::free_port();
        match process.wait_ready(&format!("http://127.0.0.1:{port}/"), 10_000) {
            Err(NotReady::Exited(status)) => assert_eq!(status.code(), Some(3)),
            other => panic!("{other:?}"),
        }
    }
}
