//! A real Alertmanager (0.33, Debian's build, `prometheus-alertmanager`) for the notifier's
//! tests: alone, with clustering off, to compare notifications with, or as a pair of gossiping
//! peers, to measure Alertmanager's own high availability.
//!
//! The binary comes from the peers folder of `scripts/install-peers.sh` (`$TIDEMARK_PEERS_BIN`,
//! else `$PEERS_DIR/usr/bin`, else `~/.cache/tsdb-peers/usr/bin`). Debian's build reads its
//! default notification templates from [`TEMPLATES_DIR`] and refuses every configuration
//! without them (checked: "failed to parse templates: open .../default.tmpl"); the script copies
//! them there when run as root.
//!
//! Each Alertmanager runs in a temporary folder (removed on drop, kept when it fails to start):
//! `alertmanager.yml`, `data/` (its storage) and `alertmanager.log` (its stdout and stderr).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::ChildProcess;

/// Where Debian's Alertmanager reads its default templates (`default.tmpl`, `email.tmpl`).
pub const TEMPLATES_DIR: &str = "/usr/share/prometheus/alertmanager";
/// The binary's name in the peers folder.
pub const BINARY: &str = "prometheus-alertmanager";
/// How long Alertmanager may take to answer `/-/ready` after start.
const READY_TIMEOUT_MS: u64 = 30_000;
/// How long the peers of [`Alertmanager::start_pair`] may take to see each other.
const CLUSTER_TIMEOUT_MS: u64 = 30_000;
/// How often the cluster's status is asked again.
const POLL_MS: u64 = 100;
/// How long one API request may take to connect, and then to send and to read (each).
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How much of the log a start failure quotes.
const LOG_TAIL_BYTES: u64 = 4_000;

/// A running Alertmanager; killed when dropped, its folder removed.
pub struct Alertmanager {
    process: ChildProcess,
    port: u16,
    cluster_address: Option<String>,
    dir: tempfile::TempDir,
}

/// The gossip side of a peer of a pair: its own address and the other's.
struct Gossip {
    name: String,
    listen: String,
    peer: String,
}

impl Alertmanager {
    /// Starts Alertmanager with the configuration `config_yaml` on a free loopback port,
    /// clustering off (`--cluster.listen-address=`), and waits until `/-/ready` answers.
    pub fn start(config_yaml: &str) -> Result<Alertmanager, String> {
        Alertmanager::start_with_flags(config_yaml, &[])
    }

    /// [`Alertmanager::start`] with more command-line flags (`--log.level=debug`, ...).
    pub fn start_with_flags(config_yaml: &str, flags: &[&str]) -> Result<Alertmanager, String> {
        let bin = binary()?;
        let mut am = Alertmanager::spawn(&bin, config_yaml, None, flags)?;
        am.wait_ready()?;
        Ok(am)
    }

    /// Two clustered Alertmanagers with the same configuration, gossiping over loopback (each
    /// started with `--cluster.peer` the other's address, names `am0` and `am1`); returns
    /// when both are ready and each counts both as members.
    pub fn start_pair(config_yaml: &str) -> Result<[Alertmanager; 2], String> {
        Alertmanager::start_pair_with_flags(config_yaml, &[])
    }

    /// [`Alertmanager::start_pair`] with more command-line flags for both
    /// (`--cluster.peer-timeout=1s`, ...).
    pub fn start_pair_with_flags(
        config_yaml: &str,
        flags: &[&str],
    ) -> Result<[Alertmanager; 2], String> {
        let bin = binary()?;
        let gossip_ports = [free_port()?, free_port()?];
        let address = |i: usize| format!("127.0.0.1:{}", gossip_ports[i]);
        let gossip = |i: usize| Gossip {
            name: format!("am{i}"),
            listen: address(i),
            peer: address(1 - i),
        };
        let mut pair = [
            Alertmanager::spawn(&bin, config_yaml, Some(gossip(0)), flags)?,
            Alertmanager::spawn(&bin, config_yaml, Some(gossip(1)), flags)?,
        ];
        for am in &mut pair {
            am.wait_ready()?;
        }
        let deadline = Instant::now() + Duration::from_millis(CLUSTER_TIMEOUT_MS);
        for am in &mut pair {
            loop {
                let members = am.cluster_members();
                if members.as_ref().is_ok_and(|m| m.len() == 2) {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(am.failed(&format!(
                        "did not see both peers within {CLUSTER_TIMEOUT_MS} ms (members: \
                         {members:?})"
                    )));
                }
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
        }
        Ok(pair)
    }

    /// Writes the configuration and starts the process (without waiting for it).
    fn spawn(
        bin: &Path,
        config_yaml: &str,
        gossip: Option<Gossip>,
        flags: &[&str],
    ) -> Result<Alertmanager, String> {
        let dir = tempfile::Builder::new()
            .prefix("tidemark-alertmanager-")
            .tempdir()
            .map_err(|e| format!("alertmanager: temporary folder: {e}"))?;
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config_yaml).map_err(|e| format!("alertmanager: {e}"))?;
        let port = free_port()?;
        let mut command = Command::new(bin);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let cluster_address = match gossip {
            None => {
                command.arg("--cluster.listen-address=");
                None
            }
            Some(gossip) => {
                command
                    .arg(format!("--cluster.listen-address={}", gossip.listen))
                    .arg(format!("--cluster.peer={}", gossip.peer))
                    .arg(format!("--cluster.peer-name={}", gossip.name));
                Some(gossip.listen)
            }
        };
        command.args(flags);
        let process = ChildProcess::spawn(
            "alertmanager",
            command,
            &dir.path().join("alertmanager.log"),
        )
        .map_err(|e| format!("alertmanager: {e}"))?;
        Ok(Alertmanager {
            process,
            port,
            cluster_address,
            dir,
        })
    }

    /// Waits until `/-/ready` answers 2xx; on failure kills the process and keeps its folder.
    fn wait_ready(&mut self) -> Result<(), String> {
        let ready = format!("{}/-/ready", self.url());
        match self.process.wait_ready(&ready, READY_TIMEOUT_MS) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(&e.to_string())),
        }
    }

    /// Kills the process, keeps the folder (so the log survives the drop) and says why, where
    /// the log is and how it ends.
    fn failed(&mut self, why: &str) -> String {
        self.process.kill();
        self.dir.disable_cleanup(true);
        format!(
            "alertmanager on port {} {why}; its log is {}:\n{}",
            self.port,
            self.log_path().display(),
            self.process.log_tail(LOG_TAIL_BYTES)
        )
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port of its API.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its gossip address (`127.0.0.1:PORT`) when clustered.
    pub fn cluster_address(&self) -> Option<&str> {
        self.cluster_address.as_deref()
    }

    /// Its folder (configuration, `data/`, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file its stdout and stderr go to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("alertmanager.log")
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The process, to kill, stop (`SIGSTOP`) or terminate it.
    pub fn process(&mut self) -> &mut ChildProcess {
        &mut self.process
    }

    /// GETs `path` (such as `/api/v2/alerts`) and parses the answer as JSON; an error unless it
    /// answers 2xx.
    pub fn api_get(&self, path: &str) -> Result<serde_json::Value, String> {
        request(self.port, "GET", path, None)
    }

    /// POSTs `body` as JSON to `path` and parses the answer as JSON (`null` when empty); an
    /// error unless it answers 2xx.
    pub fn api_post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        request(self.port, "POST", path, Some(&body.to_string()))
    }

    /// Posts `alerts` (a JSON array of `{"labels": {...}, "annotations": {...}, ...}`) to
    /// `/api/v2/alerts`, as Prometheus does.
    pub fn post_alerts(&self, alerts: &serde_json::Value) -> Result<(), String> {
        self.api_post("/api/v2/alerts", alerts).map(|_| ())
    }

    /// The names of the cluster's members as this peer sees them (`/api/v2/status`); empty
    /// when clustering is off.
    pub fn cluster_members(&self) -> Result<Vec<String>, String> {
        let status = self.api_get("/api/v2/status")?;
        Ok(status["cluster"]["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect())
    }
}

/// The Alertmanager binary of the peers folder; an error saying how to install it when it is
/// missing, or when the templates Debian's build needs are.
pub fn binary() -> Result<PathBuf, String> {
    let mut folders = Vec::new();
    if let Some(dir) = std::env::var_os("TIDEMARK_PEERS_BIN") {
        folders.push(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("PEERS_DIR") {
        folders.push(PathBuf::from(dir).join("usr/bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        folders.push(PathBuf::from(home).join(".cache/tsdb-peers/usr/bin"));
    }
    let bin = folders
        .iter()
        .map(|dir| dir.join(BINARY))
        .find(|bin| bin.exists())
        .ok_or_else(|| {
            format!(
                "{BINARY} not found in {}: run scripts/install-peers.sh",
                folders
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    templates_present()?;
    Ok(bin)
}

/// Whether the default templates Debian's Alertmanager needs are in [`TEMPLATES_DIR`]; an
/// error saying how to put them there when not.
pub fn templates_present() -> Result<(), String> {
    let template = Path::new(TEMPLATES_DIR).join("default.tmpl");
    if template.exists() {
        return Ok(());
    }
    Err(format!(
        "{} is missing and Debian's Alertmanager refuses every configuration without it: run \
         scripts/install-peers.sh as root, or copy ~/.cache/tsdb-peers{TEMPLATES_DIR}/*.tmpl there",
        template.display()
    ))
}

fn free_port() -> Result<u16, String> {
    crate::try_free_port().map_err(|e| format!("alertmanager: {e}"))
}

/// One HTTP/1.0 request (so that the answer comes unchunked, the connection closed after it)
/// to `127.0.0.1:port`; the answer's body as JSON (`null` when empty), or an error unless 2xx.
fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<serde_json::Value, String> {
    let what = format!("{method} 127.0.0.1:{port}{path}");
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let exchange = || -> std::io::Result<Vec<u8>> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let body = body.unwrap_or_default();
        // One write: the request in one piece, not one send per formatted fragment.
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    };
    let answer = exchange().map_err(|e| format!("{what}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(format!("{what}: {status}: {}", body.trim()));
    }
    if body.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(body).map_err(|e| format!("{what}: not JSON ({e}): {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Receiver;

    const WAIT: Duration = Duration::from_secs(30);

    /// Whether the tests can run Alertmanager: the binary must be installed (a failure like
    /// the other peer tests' when it is not), the templates may be missing (then they skip).
    fn can_run() -> bool {
        if let Err(e) = templates_present() {
            eprintln!("skipped: {e}");
            return false;
        }
        binary().unwrap_or_else(|e| panic!("{e}"));
        true
    }

    fn webhook_config(url: &str) -> String {
        format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 100ms\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}/hook\n"
        )
    }

    #[test]
    fn notifies_the_webhook_of_a_posted_alert() {
        if !can_run() {
            return;
        }
        let receiver = Receiver::start();
        let am =
            Alertmanager::start(&webhook_config(&receiver.url())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(am.cluster_address(), None);
        let status = am.api_get("/api/v2/status").unwrap();
        assert_eq!(status["cluster"]["status"], "disabled");
        am.post_alerts(&serde_json::json!([{"labels": {"alertname": "Probe", "team": "db"}}]))
            .unwrap();
        let requests = receiver
            .wait_for(1, WAIT)
            .unwrap_or_else(|e| panic!("{e}\n{}", am.log()));
        let body = requests[0].json();
        assert_eq!(requests[0].path, "/hook");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["alerts"][0]["labels"]["team"], "db");
        assert_eq!(body["groupLabels"]["alertname"], "Probe");
    }

    #[test]
    fn a_refused_configuration_reports_the_log() {
        if !can_run() {
            return;
        }
        let error = match Alertmanager::start("route: [oops") {
            Ok(_) => panic!("started with a broken configuration"),
            Err(error) => error,
        };
        let log_path = error
            .split("its log is ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("no log path in: {error}"));
        assert!(error.contains("exited during start"), "{error}");
        let log = std::fs::read_to_string(log_path).unwrap();
        assert!(log.contains("error loading configuration file"), "{log}");
        std::fs::remove_dir_all(Path::new(log_path).parent().unwrap()).unwrap();
    }

    #[test]
    fn a_pair_gossips_silences() {
        if !can_run() {
            return;
        }
        let receiver = Receiver::start();
        let pair = Alertmanager::start_pair(&webhook_config(&receiver.url()))
            .unwrap_or_else(|e| panic!("{e}"));
        for am in &pair {
            let mut members = am.cluster_members().unwrap();
            members.sort();
            assert_eq!(members, ["am0", "am1"]);
            assert!(am.cluster_address().is_some());
        }
        let silence = serde_json::json!({
            "matchers": [
                {"name": "alertname", "value": "Probe", "isRegex": false, "isEqual": true},
            ],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "tidemark-testkit",
            "comment": "gossip test",
        });
        let id = pair[0].api_post("/api/v2/silences", &silence).unwrap()["silenceID"]
            .as_str()
            .unwrap()
            .to_string();
        let deadline = Instant::now() + WAIT;
        loop {
            let silences = pair[1].api_get("/api/v2/silences").unwrap();
            if silences
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"].as_str() == Some(id.as_str()))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "silence {id} not gossiped: {silences}"
            );
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }
}
