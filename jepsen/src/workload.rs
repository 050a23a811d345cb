//! The `samples` workload: concurrent clients writing unique samples to random nodes, and the
//! final read of every sample through one node.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tidemark_proto::prometheus as pb;

use crate::history::{Op, Outcome, ReadOp, ReadOutcome, SampleId, classify_status};

/// The metric name every sample of the workload carries.
pub const METRIC: &str = "jepsen_sample";
/// Concurrent writing clients.
pub const CLIENTS: u32 = 5;
/// Series per client (label `key`).
pub const KEYS_PER_CLIENT: u32 = 4;
/// Pause between two writes of one client.
pub const OP_INTERVAL_MS: u64 = 20;
/// Bound on one write request (a paused node makes it time out: indeterminate).
pub const WRITE_TIMEOUT_MS: u64 = 5_000;
/// Bound on one read request.
pub const READ_TIMEOUT_MS: u64 = 30_000;
/// How long the final read keeps retrying a node's 503s and transport errors.
pub const READ_RETRY_MS: u64 = 60_000;
/// Client values are `client * VALUES_PER_CLIENT + n`: unique over the run.
pub const VALUES_PER_CLIENT: u64 = 1_000_000_000;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether the `histograms` workload writes sample `value` as a native histogram: every
/// fourth value, always an even one (the linearizable read of odd values aggregates with
/// `max`, which leaves histograms out).
pub fn as_histogram(value: u64) -> bool {
    value % 4 == 2
}

/// Encodes a remote-write 1.0 request (protobuf + snappy block) of the given samples; with
/// `histograms`, those [`as_histogram`] picks go as native histograms (sum = the value).
pub fn encode_write(samples: &[SampleId], histograms: bool) -> Vec<u8> {
    let req = pb::WriteRequest {
        timeseries: samples
            .iter()
            .map(|s| {
                let mut ts = pb::TimeSeries {
                    // Sorted by name, as the spec requires.
                    labels: vec![
                        label("__name__", METRIC),
                        label("client", &s.client.to_string()),
                        label("key", &s.key.to_string()),
                    ],
                    ..Default::default()
                };
                if histograms && as_histogram(s.value) {
                    ts.histograms = vec![pb::Histogram {
                        count: Some(pb::histogram::Count::CountInt(1)),
                        zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(0)),
                        sum: s.value as f64,
                        schema: 0,
                        positive_spans: vec![pb::BucketSpan {
                            offset: 60,
                            length: 1,
                        }],
                        positive_deltas: vec![1],
                        timestamp: s.t_ms,
                        ..Default::default()
                    }];
                } else {
                    ts.samples = vec![pb::Sample {
                        value: s.value as f64,
                        timestamp: s.t_ms,
                    }];
                }
                ts
            })
            .collect(),
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

/// Sends one remote-write 1.0 request (`body` from [`encode_write`] or alike) to the node at
/// `base`, within [`WRITE_TIMEOUT_MS`]; returns its outcome and the status or error, for the
/// record.
pub async fn post_write(http: &reqwest::Client, base: &str, body: Vec<u8>) -> (Outcome, String) {
    let res = http
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .timeout(Duration::from_millis(WRITE_TIMEOUT_MS))
        .body(body)
        .send()
        .await;
    match res {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.chars().take(200).collect();
            (classify_status(status), format!("{status} {body}"))
        }
        // Refused before anything was sent: definitely not applied.
        Err(e) if e.is_connect() => (Outcome::Fail, format!("connect: {e}")),
        Err(e) => (Outcome::Indeterminate, format!("transport: {e}")),
    }
}

/// A remote-write label.
pub fn label(name: &str, value: &str) -> pb::Label {
    pb::Label {
        name: name.into(),
        value: value.into(),
    }
}

/// Share of acknowledged writes followed by a linearizable read (`linearizable-read`).
pub const READ_AFTER_WRITE_SHARE: f64 = 0.3;

/// What one client did.
#[derive(Default)]
pub struct ClientHistory {
    pub writes: Vec<Op>,
    pub reads: Vec<ReadOp>,
}

/// What a client does besides writing float samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientMode {
    /// Some acknowledged writes are followed by a query for the sample through another node
    /// (the `linearizable-read` workload).
    pub read_after_write: bool,
    /// Some samples go as native histograms (the `histograms` workload, [`as_histogram`]).
    pub histograms: bool,
}

/// Runs one client until `until`; returns its operations. `urls[i]` is node `i + 1`.
pub async fn run_client(
    client_id: u32,
    seed: u64,
    http: reqwest::Client,
    urls: Vec<String>,
    (started, until): (Instant, Instant),
    mode: ClientMode,
) -> ClientHistory {
    let ClientMode {
        read_after_write,
        histograms,
    } = mode;
    let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(client_id) << 32) ^ 0x6a65_7073);
    let mut ops = Vec::new();
    let mut reads = Vec::new();
    let mut last_t = vec![0i64; KEYS_PER_CLIENT as usize];
    let mut n: u64 = 0;
    while Instant::now() < until {
        let key = rng.random_range(0..KEYS_PER_CLIENT);
        let node = rng.random_range(0..urls.len());
        let t_ms = now_ms().max(last_t[key as usize] + 1);
        last_t[key as usize] = t_ms;
        n += 1;
        let sample = SampleId {
            client: client_id,
            key,
            t_ms,
            value: u64::from(client_id) * VALUES_PER_CLIENT + n,
        };
        let invoke_ms = started.elapsed().as_millis() as u64;
        let body = encode_write(&[sample], histograms);
        let (outcome, detail) = post_write(&http, &urls[node], body).await;
        ops.push(Op {
            client: client_id,
            node: node as u32 + 1,
            invoke_ms,
            complete_ms: started.elapsed().as_millis() as u64,
            samples: vec![sample],
            outcome,
            detail,
        });
        if read_after_write && outcome == Outcome::Ok && rng.random_bool(READ_AFTER_WRITE_SHARE) {
            let other = (node + rng.random_range(1..urls.len().max(2))) % urls.len();
            reads.push(read_after(&http, client_id, other, &urls[other], sample, started).await);
        }
        tokio::time::sleep(Duration::from_millis(OP_INTERVAL_MS)).await;
    }
    ClientHistory { writes: ops, reads }
}

/// Queries `base` (node `node + 1`) for `sample`'s series at the sample's time: the answer
/// must hold the sample's value, since the write was acknowledged before the query began and
/// later writes of the series are later in time. Every other sample value is read through an
/// aggregation (`max by (client, key)`), which the shard holding the series computes itself
/// (pushdown): that read path must be linearizable too.
async fn read_after(
    http: &reqwest::Client,
    client_id: u32,
    node: usize,
    base: &str,
    sample: SampleId,
    started: Instant,
) -> ReadOp {
    let invoke_ms = started.elapsed().as_millis() as u64;
    let selector = format!(
        r#"{METRIC}{{client="{}",key="{}"}}"#,
        sample.client, sample.key
    );
    let expr = if sample.value % 2 == 1 {
        format!("max by (client, key) ({selector})")
    } else {
        selector
    };
    let time = format!("{:.3}", sample.t_ms as f64 / 1000.0);
    let res = http
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", expr.as_str()), ("time", time.as_str())])
        .timeout(Duration::from_millis(WRITE_TIMEOUT_MS))
        .send()
        .await;
    let outcome = match res {
        Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
            Ok(json) => {
                let result = &json["data"]["result"];
                // A histogram's sum is the sample's value.
                let value = result[0]["value"][1]
                    .as_str()
                    .or_else(|| result[0]["histogram"][1]["sum"].as_str())
                    .unwrap_or("");
                if result.as_array().is_some_and(|a| a.len() == 1)
                    && value.parse::<f64>().ok() == Some(sample.value as f64)
                {
                    ReadOutcome::Seen
                } else {
                    ReadOutcome::Stale {
                        got: result.to_string().chars().take(300).collect(),
                    }
                }
            }
            Err(e) => ReadOutcome::Unknown {
                detail: format!("body: {e}"),
            },
        },
        Ok(r) => ReadOutcome::Unknown {
            detail: format!("{} {}", r.status(), r.text().await.unwrap_or_default())
                .chars()
                .take(200)
                .collect(),
        },
        Err(e) => ReadOutcome::Unknown {
            detail: format!("transport: {e}"),
        },
    };
    ReadOp {
        client: client_id,
        node: node as u32 + 1,
        invoke_ms,
        complete_ms: started.elapsed().as_millis() as u64,
        sample,
        outcome,
    }
}

/// Width of one read window: the final read is split so that no series returns more points
/// than the query limits allow (`points_per_series_max`) however long the run.
pub const READ_WINDOW_S: i64 = 60;

/// Reads every workload sample in `(from_ms, to_ms]` through `base`: range-vector instant queries
/// over consecutive left-open windows, each retrying 503s and transport errors for
/// [`READ_RETRY_MS`].
pub async fn read_all(
    http: &reqwest::Client,
    base: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeSet<SampleId>, String> {
    let mut out = BTreeSet::new();
    let mut end_ms = from_ms;
    while end_ms < to_ms {
        // The last window may overlap the one before: the result is a set.
        end_ms = (end_ms + READ_WINDOW_S * 1000).min(to_ms);
        out.extend(read_window(http, base, end_ms).await?);
    }
    Ok(out)
}

/// The samples in `(end_ms - READ_WINDOW_S, end_ms]`.
async fn read_window(
    http: &reqwest::Client,
    base: &str,
    end_ms: i64,
) -> Result<BTreeSet<SampleId>, String> {
    let expr = format!("{METRIC}[{READ_WINDOW_S}s]");
    let time = format!("{:.3}", end_ms as f64 / 1000.0);
    let deadline = Instant::now() + Duration::from_millis(READ_RETRY_MS);
    loop {
        let res = http
            .post(format!("{base}/api/v1/query"))
            .form(&[("query", expr.as_str()), ("time", time.as_str())])
            .timeout(Duration::from_millis(READ_TIMEOUT_MS))
            .send()
            .await;
        let retry_why = match res {
            Ok(r) if r.status().is_success() => {
                let json: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
                return parse_matrix(&json);
            }
            Ok(r) if r.status().as_u16() == 503 => {
                format!("503 {}", r.text().await.unwrap_or_default())
            }
            Ok(r) => {
                let status = r.status();
                return Err(format!(
                    "query {expr}: {status} {}",
                    r.text().await.unwrap_or_default()
                ));
            }
            Err(e) => format!("transport: {e}"),
        };
        if Instant::now() > deadline {
            return Err(format!(
                "query {expr}: still failing after {READ_RETRY_MS} ms: {retry_why}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Parses a Prometheus matrix answer of `jepsen_sample` series into sample ids.
pub fn parse_matrix(json: &serde_json::Value) -> Result<BTreeSet<SampleId>, String> {
    let result = json["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("no data.result in {json}"))?;
    let mut out = BTreeSet::new();
    for series in result {
        let m = &series["metric"];
        let client = m["client"].as_str().and_then(|s| s.parse().ok());
        let key = m["key"].as_str().and_then(|s| s.parse().ok());
        let (Some(client), Some(key)) = (client, key) else {
            return Err(format!("unexpected series {m}"));
        };
        let values = series["values"].as_array().into_iter().flatten();
        // A native histogram (the `histograms` workload) stands for its sum.
        let histograms = series["histograms"].as_array().into_iter().flatten();
        if series.get("values").is_none() && series.get("histograms").is_none() {
            return Err(format!("no values in {series}"));
        }
        for v in values.chain(histograms) {
            let t = v[0].as_f64().ok_or_else(|| format!("bad time in {v}"))?;
            let raw = v[1]
                .as_str()
                .or_else(|| v[1]["sum"].as_str())
                .ok_or_else(|| format!("bad value in {v}"))?;
            let value: f64 = raw.parse().map_err(|_| format!("bad value in {v}"))?;
            // A value that is not a whole non-negative number can never match: keep it visible
            // as a phantom with an impossible counter.
            let value = if value >= 0.0 && value.fract() == 0.0 {
                value as u64
            } else {
                u64::MAX
            };
            out.insert(SampleId {
                client,
                key,
                t_ms: (t * 1000.0).round() as i64,
                value,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_matrix() {
        let json = serde_json::json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"jepsen_sample","client":"2","key":"1"},
             "values":[[1700000000.123,"2000000001"],[1700000000.5,"1.5"]]}]}});
        let got: Vec<SampleId> = parse_matrix(&json).unwrap().into_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            SampleId {
                client: 2,
                key: 1,
                t_ms: 1_700_000_000_123,
                value: 2_000_000_001
            }
        );
        assert_eq!(got[1].value, u64::MAX);
    }
}
