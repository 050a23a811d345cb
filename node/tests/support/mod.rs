//! The node-specific layer of the tests that run the real `tidemark` binary (and peers) as
//! processes on loopback: starting a node or a Prometheus, remote-write encoding, queries. Ports,
//! processes and readiness come from `tidemark_testkit`.
//! (`support/mod.rs` rather than `support.rs`: cargo would build the latter as a test target.)
#![allow(dead_code)]

pub mod alertmanager;

use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_testkit::{ChildProcess, free_port};

/// Time a node may take to answer `/-/ready` after start.
pub const READY_TIMEOUT_MS: u64 = 60_000;
/// Time a node may take to exit after SIGTERM (it flushes on the way out).
const STOP_TIMEOUT_MS: u64 = 60_000;
/// Time a Prometheus may take to answer `/-/ready` after start.
const PROMETHEUS_READY_TIMEOUT_MS: u64 = 60_000;

/// A `tidemark` process started by a test; killed when dropped.
pub struct Node {
    process: Option<ChildProcess>,
    /// Data directory; the log is `<data_dir>.log`.
    pub data_dir: PathBuf,
    /// HTTP listen address (`127.0.0.1:port`).
    pub http_addr: String,
    /// gRPC listen address (`127.0.0.1:port`).
    pub grpc_addr: String,
    /// Arguments after the data directory and addresses, kept for restarts.
    pub extra_args: Vec<String>,
    /// Whether the node runs with `--enable-admin-api` (what most tests need: they flush and
    /// delete without tokens); [`Node::start_as_shipped`] turns it off.
    pub admin_api: bool,
    /// Environment variables of the process, from its next start (libfaketime's, say).
    pub env: Vec<(String, String)>,
}

impl Node {
    /// Starts a node on fresh loopback ports with `data_dir` and waits until it is ready.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Node {
        Node::start_on_fresh_ports(data_dir, extra_args, true)
    }

    /// Starts a node as a user gets it: `extra_args` only (no `--enable-admin-api`).
    pub fn start_as_shipped(data_dir: &Path, extra_args: &[&str]) -> Node {
        Node::start_on_fresh_ports(data_dir, extra_args, false)
    }

    fn start_on_fresh_ports(data_dir: &Path, extra_args: &[&str], admin_api: bool) -> Node {
        let mut node = Node {
            process: None,
            data_dir: data_dir.to_path_buf(),
            http_addr: format!("127.0.0.1:{}", free_port()),
            grpc_addr: format!("127.0.0.1:{}", free_port()),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            admin_api,
            env: Vec::new(),
        };
        node.spawn();
        node
    }

    /// Starts a node on the given addresses without waiting for it to be ready (members of a
    /// multi-node cluster are ready only once a quorum runs): call [`Node::wait_ready`].
    pub fn launch(data_dir: &Path, http_addr: &str, grpc_addr: &str, extra_args: &[&str]) -> Node {
        let mut node = Node {
            process: None,
            data_dir: data_dir.to_path_buf(),
            http_addr: http_addr.to_string(),
            grpc_addr: grpc_addr.to_string(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            admin_api: true,
            env: Vec::new(),
        };
        node.spawn_process();
        node
    }

    /// Starts the same node again without waiting for it to be ready.
    pub fn relaunch(&mut self) {
        assert!(!self.is_running(), "restart of a running node");
        self.spawn_process();
    }

    /// Whether the process has been started and not killed or stopped by the test.
    pub fn is_running(&self) -> bool {
        self.process.as_ref().is_some_and(ChildProcess::is_running)
    }

    /// Whether the process exited on its own (a refused start, a crash).
    pub fn has_exited(&mut self) -> bool {
        self.exit_status().is_some()
    }

    /// How the process exited, if it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.as_mut().and_then(|p| p.exited())
    }

    /// The base URL of the node's HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    fn spawn(&mut self) {
        self.spawn_process();
        self.wait_ready();
    }

    /// Starts the process, its output appended to `<data_dir>.log` (one log over restarts).
    fn spawn_process(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tidemark"));
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-listen")
            .arg(&self.http_addr)
            .arg("--grpc-listen")
            .arg(&self.grpc_addr)
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.admin_api {
            command.arg("--enable-admin-api");
        }
        let log = self.data_dir.with_extension("log");
        let process = ChildProcess::spawn("tidemark", command, &log).expect("spawn tidemark");
        self.process = Some(process);
    }

    /// Waits for `/-/ready` to answer 200; panics with the node's log after the timeout.
    pub fn wait_ready(&mut self) {
        let url = format!("{}/-/ready", self.url());
        self.process
            .as_mut()
            .expect("wait_ready of a node never started")
            .expect_ready(&url, READY_TIMEOUT_MS);
    }

    /// The node's stdout/stderr so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ChildProcess::log)
            .unwrap_or_default()
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.kill();
        }
    }

    /// SIGTERM and wait for a clean exit (the node flushes on the way out).
    pub fn stop(&mut self) {
        let Some(process) = self.process.as_mut().filter(|p| p.is_running()) else {
            return;
        };
        match process.terminate(STOP_TIMEOUT_MS) {
            Some(status) => assert!(
                status.success(),
                "tidemark exited with {status}:\n{}",
                self.log()
            ),
            None => panic!(
                "tidemark did not stop within {STOP_TIMEOUT_MS} ms of SIGTERM:\n{}",
                self.log()
            ),
        }
    }

    /// Starts the same node again (same data dir and ports).
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "restart of a running node");
        self.spawn();
    }
}

/// The `tidemarkctl` binary built beside `tidemark`.
pub fn tidemarkctl() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_tidemark")).with_file_name("tidemarkctl");
    assert!(
        bin.is_file(),
        "{} missing: build it first (cargo build -p tidemark-cli)",
        bin.display()
    );
    bin
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

/// The wall clock in milliseconds since the epoch.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `result` of an instant query of `expr` at the current time ([`query`]).
pub async fn query_now(client: &reqwest::Client, base: &str, expr: &str) -> serde_json::Value {
    let now_s = wall_clock_ms() as f64 / 1000.0;
    query(client, base, expr, now_s).await["data"]["result"].clone()
}

/// The single value `expr` answers at the current time, 0 when it answers nothing.
pub async fn value_now(client: &reqwest::Client, base: &str, expr: &str) -> u64 {
    query_now(client, base, expr).await[0]["value"][1]
        .as_str()
        .map_or(0, |v| v.parse().unwrap())
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
/// on 127.0.0.1:`port`, with extra `flags`. Not waiting until it is ready.
pub fn spawn_prometheus(
    bin: &Path,
    dir: &Path,
    config: &str,
    port: u16,
    flags: &[&str],
) -> ChildProcess {
    std::fs::create_dir_all(dir).unwrap();
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut command = Command::new(bin.join("prometheus"));
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(flags);
    ChildProcess::spawn("prometheus", command, &dir.join("prometheus.log"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A Prometheus started by a test (see [`spawn_prometheus`]) that answered `/-/ready`; killed
/// when dropped.
pub struct Prometheus {
    /// The process; its log is `dir/prometheus.log`.
    pub process: ChildProcess,
    /// Base URL of its HTTP API.
    pub url: String,
}

impl Prometheus {
    /// Starts Prometheus of `bin` in `dir` with `config` and extra `flags` on a free port, and
    /// waits until it is ready (panics with its log if it is not).
    pub fn start(bin: &Path, dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
        let port = free_port();
        let mut process = spawn_prometheus(bin, dir, config, port, flags);
        let url = format!("http://127.0.0.1:{port}");
        process.expect_ready(&format!("{url}/-/ready"), PROMETHEUS_READY_TIMEOUT_MS);
        Prometheus { process, url }
    }

    /// Its stdout/stderr so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
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

/// Starts `bin` with `args`, its output in `log`; killed when dropped.
pub fn spawn_peer(bin: &Path, args: &[String], log: &Path) -> ChildProcess {
    let name = bin
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let mut command = Command::new(bin);
    command.args(args);
    ChildProcess::spawn(&name, command, log).unwrap_or_else(|e| panic!("{e}"))
}

/// The JSON body of a GET of `url` (panics unless it answers with JSON).
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    serde_json::from_str(&get_text(client, url).await)
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
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

/// Three nodes of one `--initial-cluster` on loopback ports, node `k` in `dir/nk`, each
/// started with `extra` flags too, all ready.
pub fn launch_three(dir: &Path, extra: &[&str]) -> Vec<Node> {
    let ports: Vec<(String, String)> = (0..3)
        .map(|_| {
            (
                format!("127.0.0.1:{}", tidemark_testkit::free_port()),
                format!("127.0.0.1:{}", tidemark_testkit::free_port()),
            )
        })
        .collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, grpc))| format!("{}={grpc}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    // The cluster's secret derives from it: the same on every member, unguessable.
    let token = format!("test-{:032x}", rand::random::<u128>());
    let mut nodes: Vec<Node> = ports
        .iter()
        .enumerate()
        .map(|(i, (http, grpc))| {
            let id = (i + 1).to_string();
            let mut args = vec![
                "--node-id",
                &id,
                "--initial-cluster",
                &initial,
                "--initial-cluster-token",
                &token,
            ];
            args.extend_from_slice(extra);
            Node::launch(&dir.join(format!("n{}", i + 1)), http, grpc, &args)
        })
        .collect();
    for n in &mut nodes {
        n.wait_ready();
    }
    nodes
}

/// A Prometheus API answer to a POSTed form: `status` must be success; returns `data`.
pub async fn api(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, String)],
) -> serde_json::Value {
    let r = client.post(url).form(form).send().await.expect("request");
    let status = r.status();
    let json: serde_json::Value = r.json().await.expect("JSON answer");
    assert!(
        status.is_success() && json["status"] == "success",
        "{url} {form:?}: {status} {json}"
    );
    json["data"].clone()
}

/// POSTs a remote-read request (protobuf + snappy) to `base`; panics unless it is answered
/// 2xx. Returns the answer's Content-Type and body.
pub async fn post_read(
    client: &reqwest::Client,
    base: &str,
    req: &pb::ReadRequest,
) -> (String, Vec<u8>) {
    let r = client
        .post(format!("{base}/api/v1/read"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(snappy(&req.encode_to_vec()))
        .send()
        .await
        .expect("remote read");
    let status = r.status();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = r.bytes().await.unwrap();
    assert!(
        status.is_success(),
        "{base}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    (content_type, bytes.to_vec())
}

/// A wire label.
pub fn label(name: &str, value: &str) -> pb::Label {
    pb::Label {
        name: name.into(),
        value: value.into(),
    }
}

/// A query result's elements keyed by their series (as JSON text), sorted, so that the order
/// of series does not matter.
pub fn by_metric(v: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<_> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["metric"].to_string(), e.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether two vector results have the same series with the same values (floats within a
/// relative 1e-9, histograms field by field, bucket bounds and counts alike).
pub fn same_result(want: &serde_json::Value, got: &serde_json::Value) -> Result<(), String> {
    let (want, got) = (by_metric(want), by_metric(got));
    if want.len() != got.len() {
        return Err(format!("{} series against {}", want.len(), got.len()));
    }
    for ((wm, w), (gm, g)) in want.iter().zip(&got) {
        if wm != gm {
            return Err(format!("series {wm} against {gm}"));
        }
        same_json_numbers(&w["value"], &g["value"])
            .and_then(|_| same_json_numbers(&w["histogram"], &g["histogram"]))
            .map_err(|e| format!("{wm}: {e}"))?;
    }
    Ok(())
}

/// JSON alike, numbers in strings compared within a relative 1e-9.
pub fn same_json_numbers(a: &serde_json::Value, b: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value::*;
    match (a, b) {
        (Array(x), Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .try_for_each(|(p, q)| same_json_numbers(p, q)),
        (Object(x), Object(y)) if x.len() == y.len() => x
            .iter()
            .try_for_each(|(k, v)| same_json_numbers(v, y.get(k).ok_or(format!("no {k}"))?)),
        (String(x), String(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(p), Ok(q)) if p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()) => Ok(()),
            (Ok(p), Ok(q)) if p.is_nan() && q.is_nan() => Ok(()),
            _ if x == y => Ok(()),
            _ => Err(format!("{x} against {y}")),
        },
        _ if a == b => Ok(()),
        _ => Err(format!("{a} against {b}")),
    }
}
