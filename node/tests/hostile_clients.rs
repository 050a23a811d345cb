//! Hostile clients against a real node: slow headers, idle connections, stalled bodies, more
//! connections than allowed, malformed and oversized bodies, decompression bombs, deep and
//! huge expressions. The node answers each with a clear 4xx/5xx or closes the connection, keeps
//! serving throughout, and a batch written before is intact after.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{
    Node, TestSeries, encode_write_v1, get_text, post_write_v1, snappy, value_now, wall_clock_ms,
};

const HEADER_TIMEOUT_MS: u64 = 1_000;
const BODY_TIMEOUT_MS: u64 = 1_000;
const CONNECTIONS_MAX: usize = 8;

/// Reads from `tcp` until the server closes it (or `within` passes: a panic); what it sent.
fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> String {
    tcp.set_read_timeout(Some(within)).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&got).into_owned();
            }
            Err(e) => panic!(
                "the server kept the connection open for {:?} ({e}); read so far: {}",
                started.elapsed(),
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// The value of the unlabelled metric `name` in a `/metrics` text.
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

/// The number of series of `good` a query counts now.
async fn good_series(client: &reqwest::Client, base: &str) -> u64 {
    value_now(client, base, "count(good)").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_survives_hostile_clients_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!(
            "http_server:\n  header_read_timeout_ms: {HEADER_TIMEOUT_MS}\n  \
             body_read_timeout_ms: {BODY_TIMEOUT_MS}\n  connections_max: {CONNECTIONS_MAX}\n\
             limits:\n  write_body_bytes_max: 1048576\n  write_decoded_bytes_max: 4194304\n"
        ),
    )
    .unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let base = node.url();
    let addr = node.http_addr.clone();
    // Idle connections go back before the server cuts them off (as Go's clients do).
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_millis(HEADER_TIMEOUT_MS / 2))
        .build()
        .unwrap();
    let now = wall_clock_ms();
    let good: Vec<TestSeries> = (0..20)
        .map(|i| {
            (
                vec![
                    ("__name__".to_string(), "good".to_string()),
                    ("i".to_string(), i.to_string()),
                ],
                vec![(now - 1_000, 1.0)],
            )
        })
        .collect();
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&good))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    assert_eq!(good_series(&client, &base).await, 20);

    // Headers sent slowly, then nothing: cut off after the header timeout.
    let addr2 = addr.clone();
    let slow_headers = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(&addr2).unwrap();
        tcp.write_all(b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        read_until_closed(&mut tcp, Duration::from_secs(10));
        started.elapsed()
    });
    // A keep-alive connection left idle after one request: closed too.
    let addr3 = addr.clone();
    let idle = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(&addr3).unwrap();
        tcp.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let answer = read_until_closed(&mut tcp, Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
    // A body that stops arriving: the request ends with a 4xx, nothing written.
    let addr4 = addr.clone();
    let stalled = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(&addr4).unwrap();
        tcp.write_all(
            b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
              Content-Encoding: snappy\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
        read_until_closed(&mut tcp, Duration::from_secs(10))
    });
    let took = slow_headers.await.unwrap();
    assert!(
        took >= Duration::from_millis(HEADER_TIMEOUT_MS / 2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    idle.await.unwrap();
    let answer = stalled.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout_ms"), "{answer}");

    // More connections than allowed: the one beyond is told 503 and closed; once the idle
    // ones are cut off, requests go through again.
    // The node accepts the held connections in its own time: on a loaded machine the extra
    // one may still find a slot (or arrive after the held ones were cut off), and is then
    // closed by the header timeout without an answer. Such a round proves nothing; try again.
    let mut refusal = None;
    let mut held = Vec::new();
    for round in 1..=5u64 {
        held = (0..CONNECTIONS_MAX)
            .map(|_| TcpStream::connect(&addr).unwrap())
            .collect();
        tokio::time::sleep(Duration::from_millis(100 * round)).await;
        let mut extra = TcpStream::connect(&addr).unwrap();
        let answer = read_until_closed(&mut extra, Duration::from_secs(5));
        if !answer.is_empty() {
            refusal = Some(answer);
            break;
        }
        held.clear();
    }
    let answer = refusal.expect("the connection beyond connections_max was never refused");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    assert!(answer.contains("connections_max"), "{answer}");
    tokio::time::sleep(Duration::from_millis(2 * HEADER_TIMEOUT_MS + 500)).await;
    drop(held);
    assert_eq!(good_series(&client, &base).await, 20);
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    let refused = metric_value(&metrics, "tidemark_http_connections_refused_total");
    assert!(refused >= 1.0, "{refused}");
    // This scrape's own connection, and perhaps the client's pooled one, are open.
    let open = metric_value(&metrics, "tidemark_http_connections_open");
    assert!((1.0..=2.0).contains(&open), "{open}");

    // Bodies: garbage, a snappy block claiming a huge decoded size, an oversized one.
    let bomb = {
        // A snappy block whose header claims 1 GiB (varint) followed by little.
        let mut b = vec![0x80, 0x80, 0x80, 0x80, 0x04];
        b.extend_from_slice(&[0; 16]);
        b
    };
    for (what, body, want) in [
        ("garbage", b"not snappy at all".to_vec(), 400),
        ("decompression bomb", bomb, 413),
        ("oversized", vec![0u8; 2 * 1024 * 1024], 413),
        ("garbage protobuf", snappy(&[0xff; 64]), 400),
    ] {
        // A connection per body: the node closes one it answered before reading the body
        // (413 from Content-Length), and a pooled client may not have noticed yet.
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        match post_write_v1(&fresh, &base, body).await {
            Ok((status, body)) => assert_eq!(status, want, "{what}: {body}"),
            // The node answered 413 from Content-Length and closed before reading the body:
            // the client may see the closed connection before the answer.
            Err(e) if what == "oversized" && e.is_request() => {}
            Err(e) => panic!("{what}: {e}"),
        }
    }

    // Expressions: too deep, too long, malformed.
    let deep = format!("{}up{}", "(".repeat(10_000), ")".repeat(10_000));
    let long = format!("up{{a=\"{}\"}}", "x".repeat(1_000_000));
    for (what, expr) in [("deep", deep), ("long", long), ("malformed", "sum(".into())] {
        let r = client
            .post(format!("{base}/api/v1/query"))
            .form(&[("query", expr.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{what}");
    }

    // Everything written before is there, and the node still takes writes.
    assert_eq!(good_series(&client, &base).await, 20);
    let more: Vec<TestSeries> = vec![(
        vec![
            ("__name__".to_string(), "good".to_string()),
            ("i".to_string(), "20".to_string()),
        ],
        vec![(now, 1.0)],
    )];
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&more))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    assert_eq!(good_series(&client, &base).await, 21);

    // /metrics saw it all: refusals by status, and the node's own state.
    let text = get_text(&client, &format!("{base}/metrics")).await;
    for needle in [
        "tidemark_http_requests_total{handler=\"/api/v1/write\",code=\"408\"} 1",
        "tidemark_write_requests_failed_total{code=\"413\"}",
        "tidemark_http_requests_total{handler=\"/api/v1/query\",code=\"400\"} 3",
        "tidemark_samples_ingested_total 21",
        "tidemark_raft_leader{group=\"1\",shard=\"0\"} 1",
        "tidemark_raft_has_leader{group=\"0\",shard=\"\"} 1",
        "tidemark_series{shard=\"",
        "tidemark_disk_free_bytes ",
        "tidemark_ruler_leader ",
        "tidemark_ruler_iterations_total ",
        "tidemark_alertmanager_alerts_sent_total ",
        "tidemark_notifier_attempts_total ",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}
