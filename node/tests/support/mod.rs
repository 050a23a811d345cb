//! Helpers for tests that run the real `tidemark` binary (and peers) as processes on loopback.
//! (`support/mod.rs` rather than `support.rs`: cargo would build the latter as a test target.)
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use tidemark_proto::prometheus as pb;

/// Time a node may take to answer `/-/ready` after start.
pub const READY_TIMEOUT_MS: u64 = 60_000;

/// A free loopback port below the kernel's ephemeral range (32768 and up), so that no outgoing
/// connection can take it while its process is down between a kill and a restart. Ports are
/// tried from a per-process starting point, each checked by binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below 32000");
}

/// A `tidemark` process started by a test; killed when dropped.
pub struct Node {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub http_addr: String,
    pub grpc_addr: String,
    pub extra_args: Vec<String>,
}

impl Node {
    /// Starts a node on fresh loopback ports with `data_dir` and waits until it is ready.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Node {
        let mut node = Node {
            child: None,
            data_dir: data_dir.to_path_buf(),
            http_addr: format!("127.0.0.1:{}", free_port()),
            grpc_addr: format!("127.0.0.1:{}", free_port()),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        node.spawn();
        node
    }

    /// Starts a node on the given addresses without waiting for it to be ready (members of a
    /// multi-node cluster are ready only once a quorum runs): call [`Node::wait_ready`].
    pub fn launch(data_dir: &Path, http_addr: &str, grpc_addr: &str, extra_args: &[&str]) -> Node {
        let mut node = Node {
            child: None,
            data_dir: data_dir.to_path_buf(),
            http_addr: http_addr.to_string(),
            grpc_addr: grpc_addr.to_string(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        node.spawn_process();
        node
    }

    /// Starts the same node again without waiting for it to be ready.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "restart of a running node");
        self.spawn_process();
    }

    /// Whether the process has been started and not killed or stopped by the test.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The base URL of the node's HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    fn spawn(&mut self) {
        self.spawn_process();
        self.wait_ready();
    }

    fn spawn_process(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.with_extension("log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-listen")
            .arg(&self.http_addr)
            .arg("--grpc-listen")
            .arg(&self.grpc_addr)
            .args(&self.extra_args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tidemark");
        self.child = Some(child);
    }

    /// Waits for `/-/ready` to answer 200; panics with the node's log after the timeout.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        let url = format!("{}/-/ready", self.url());
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tidemark exited during start ({status}):\n{}", self.log());
            }
            if blocking_get(&url).is_ok_and(|code| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "tidemark not ready after {READY_TIMEOUT_MS} ms:\n{}",
            self.log()
        );
    }

    /// The node's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (the node flushes on the way out).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "tidemark exited with {status}:\n{}",
                        self.log()
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            panic!(
                "tidemark did not stop within 60 s of SIGTERM:\n{}",
                self.log()
            );
        }
    }

    /// Starts the same node again (same data dir and ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running node");
        self.spawn();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A minimal HTTP GET returning the status code, without an async runtime.
pub fn blocking_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf)?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(code)
}

/// One series of a test write: labels (name/value pairs, any order) and samples `(t_ms, v)`.
pub type TestSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

/// Encodes a remote-write 1.0 request (protobuf + snappy block), labels sorted as the spec says.
pub fn encode_write_v1(series: &[TestSeries]) -> Vec<u8> {
    snappy(&write_request_v1(series, true).encode_to_vec())
}

/// A remote-write 1.0 request of `series`, labels sorted by name or in the order given.
pub fn write_request_v1(series: &[TestSeries], sort_labels: bool) -> pb::WriteRequest {
    pb::WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| {
                let mut labels: Vec<pb::Label> = labels
                    .iter()
                    .map(|(n, v)| pb::Label {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect();
                if sort_labels {
                    labels.sort_by(|a, b| a.name.cmp(&b.name));
                }
                pb::TimeSeries {
                    labels,
                    samples: samples
                        .iter()
                        .map(|&(t, v)| pb::Sample {
                            value: v,
                            timestamp: t,
                        })
                        .collect(),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

/// Snappy block compression, as remote-write bodies are.
pub fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("snappy")
}

/// POSTs a remote-write 1.0 body; returns the status and the response text.
pub async fn post_write_v1(
    client: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
) -> reqwest::Result<(u16, String)> {
    let r = client
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

/// Runs an instant query and returns the JSON answer (panics unless it is a success).
pub async fn query(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    time_s: f64,
) -> serde_json::Value {
    let r = client
        .post(format!("{base}/api/v1/query"))
        .form(&[
            ("query", expr.to_string()),
            ("time", format!("{time_s:.3}")),
        ])
        .send()
        .await
        .expect("query request");
    let status = r.status();
    let json: serde_json::Value = r.json().await.expect("query JSON");
    assert!(status.is_success(), "query {expr} failed: {status} {json}");
    json
}

/// Parses a Prometheus sample value string ("NaN", "+Inf", "1.5").
pub fn parse_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().expect("sample value"),
    }
}

/// Starts the real Prometheus binary of `bin` with `config` (YAML) written to
/// `dir/prometheus.yml`, its TSDB in `dir/data`, its output in `dir/prometheus.log`, listening
/// on 127.0.0.1:`port`, with extra `flags`. The caller waits for readiness and kills it.
pub fn spawn_prometheus(bin: &Path, dir: &Path, config: &str, port: u16, flags: &[&str]) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    Command::new(bin.join("prometheus"))
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(flags)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start prometheus")
}

/// The peer binaries folder (`scripts/install-peers.sh` prints it; the test script exports it).
pub fn peers_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TIDEMARK_PEERS_BIN") {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var("HOME").ok()?;
    let dir = PathBuf::from(home).join(".cache/tsdb-peers/usr/bin");
    dir.join("prometheus").exists().then_some(dir)
}

/// A peer process started by a test (Prometheus, VictoriaMetrics, vmagent); killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` with `args`, its output in `log`.
pub fn spawn_peer(bin: &Path, args: &[String], log: &Path) -> Killed {
    let log = std::fs::File::create(log).unwrap();
    Killed(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display())),
    )
}

/// The body of a GET of `url` (panics unless it answers).
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Raw samples `(t_ms, value as written in the answer)` of every series in
/// `(end - window, end]`, keyed by the series' labels as JSON (keys sorted).
pub async fn raw_samples(
    client: &reqwest::Client,
    base: &str,
    end_s: f64,
    window_ms: u64,
) -> std::collections::BTreeMap<String, Vec<(i64, String)>> {
    let json = query(
        client,
        base,
        &format!("{{__name__=~\".+\"}}[{window_ms}ms]"),
        end_s,
    )
    .await;
    let mut out = std::collections::BTreeMap::new();
    for s in json["data"]["result"].as_array().unwrap() {
        let points = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.insert(s["metric"].to_string(), points);
    }
    out
}
