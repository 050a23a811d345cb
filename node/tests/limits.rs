//! Limits that keep a real node alive, each hit on purpose: cardinality (series in total and
//! per metric name) and remote-write bytes in flight. The node answers what it refuses with a
//! clear status, writes everything else, and keeps serving.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use support::{Node, TestSeries, encode_write_v1, post_write_v1, value_now, wall_clock_ms};

/// `n` series of metric `name` (label `i` from `first`), one sample each at `t`.
fn series(name: &str, first: usize, n: usize, t: i64) -> Vec<TestSeries> {
    (first..first + n)
        .map(|i| {
            (
                vec![
                    ("__name__".to_string(), name.to_string()),
                    ("i".to_string(), i.to_string()),
                ],
                vec![(t, i as f64)],
            )
        })
        .collect()
}

fn config(dir: &std::path::Path, yaml: &str) -> String {
    let path = dir.join("tidemark.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_series_beyond_the_cardinality_limits_are_left_out_and_the_rest_written() {
    let dir = tempfile::tempdir().unwrap();
    // One shard: its share is the whole limit.
    let config = config(
        dir.path(),
        "shard_count: 1\nlimits:\n  series_max: 8\n  series_per_metric_max: 3\n",
    );
    let node = Node::start(&dir.path().join("data"), &["--config", &config]);
    let base = node.url();
    let client = reqwest::Client::new();
    let now = wall_clock_ms();

    // Five series of one name: three are created, two left out, and the answer says so.
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&series("a", 0, 5, now)))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("series_per_metric_max"), "{body}");
    assert!(body.contains("2 new series with 2 samples"), "{body}");
    assert!(body.contains("3 float samples were written"), "{body}");
    assert_eq!(value_now(&client, &base, "count(a)").await, 3);

    // Series already held always take samples.
    let again: Vec<TestSeries> = series("a", 0, 3, now + 1_000);
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&again))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");

    // Other names fill the rest of the total (3 + 3 + 2 = 8), then nothing new is created.
    let (status, _) = post_write_v1(&client, &base, encode_write_v1(&series("b", 0, 3, now)))
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&series("c", 0, 3, now)))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("1 new series with 1 samples"), "{body}");
    assert_eq!(
        value_now(&client, &base, "count({__name__=~\"a|b|c\"})").await,
        8
    );

    // Counted in /metrics, by reason.
    let metrics = support::get_text(&client, &format!("{base}/metrics")).await;
    assert!(
        metrics.contains("tidemark_samples_rejected_total{reason=\"series_limit\"} 3"),
        "{metrics}"
    );
}

/// Opens a remote-write request that declares `len` body bytes and sends none: it holds its
/// reservation until the body timeout ends it.
fn stalled_write(addr: &str, len: usize) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_beyond_the_bytes_in_flight_wait_then_get_503_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mib = 1 << 20;
    let config = config(
        dir.path(),
        &format!(
            "http_server:\n  body_read_timeout_ms: 5000\n\
             limits:\n  write_body_bytes_max: {mib}\n  write_decoded_bytes_max: {}\n  \
             write_inflight_bytes_max: {}\n  write_inflight_wait_ms: 300\n",
            2 * mib,
            3 * mib
        ),
    );
    let node = Node::start(&dir.path().join("data"), &["--config", &config]);
    let base = node.url();
    let client = reqwest::Client::new();
    let now = wall_clock_ms();

    // Three clients that announce a whole body each and send nothing hold the budget.
    let stalled: Vec<TcpStream> = (0..3)
        .map(|_| stalled_write(&node.http_addr, mib))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(encode_write_v1(&series("w", 0, 10, now)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body = r.text().await.unwrap();
    assert!(body.contains("write_inflight_bytes_max"), "{body}");
    // Queries go on meanwhile.
    assert_eq!(value_now(&client, &base, "count(w)").await, 0);

    // Once they are gone, writes go through again.
    drop(stalled);
    let mut status = 0;
    for _ in 0..50 {
        let (s, _) = post_write_v1(&client, &base, encode_write_v1(&series("w", 0, 10, now)))
            .await
            .unwrap();
        status = s;
        if s == 204 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 204);
    assert_eq!(value_now(&client, &base, "count(w)").await, 10);
}
