//! Kill -9 in the middle of an ingest, restart: every acknowledged sample is there with its exact
//! value, nothing that was never sent appears, nothing is duplicated. Runs the real binary.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Node, TestSeries, encode_write_v1, parse_value, post_write_v1, query};

const WRITERS: usize = 4;
const SERIES_PER_WRITER: usize = 25;
/// Batch k of every writer carries the sample at `base_ms() + k * STEP_MS` for each of its series.
fn base_ms() -> i64 {
    // Two hours before the test started, to the second: recent, so that retention (at least
    // the default year) never expires it while the test runs, and within the future window for
    // every batch the test writes.
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        (now - 2 * 3_600_000) / 1000 * 1000
    })
}
const STEP_MS: i64 = 1_000;

/// What one writer knows about its batches after the crash.
#[derive(Default)]
struct History {
    /// Batches acknowledged with a 2xx.
    acked: Vec<i64>,
    /// The batch in flight when the node died: its outcome is unknown.
    indeterminate: Vec<i64>,
    /// Batches sent.
    sent: i64,
}

fn value(writer: usize, series: usize, batch: i64) -> f64 {
    // Distinct, exactly representable, and not monotone across series.
    (writer * 1_000_000 + series * 10_000) as f64 + batch as f64 * 0.25
}

fn batch(writer: usize, k: i64) -> Vec<TestSeries> {
    (0..SERIES_PER_WRITER)
        .map(|s| {
            let labels = vec![
                ("__name__".to_string(), "crash_test".to_string()),
                ("writer".to_string(), writer.to_string()),
                ("series".to_string(), s.to_string()),
            ];
            (labels, vec![(base_ms() + k * STEP_MS, value(writer, s, k))])
        })
        .collect()
}

/// Writes batches 0, 1, 2, ... from `first` on until the node stops answering; records outcomes.
async fn writer(
    client: reqwest::Client,
    base: String,
    w: usize,
    first: i64,
    history: Arc<Mutex<History>>,
) {
    let mut k = first;
    loop {
        history.lock().unwrap().sent = k + 1;
        match post_write_v1(&client, &base, encode_write_v1(&batch(w, k))).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                history.lock().unwrap().acked.push(k)
            }
            Ok((status, body)) if status == 429 || status == 503 => {
                // Retryable and not written: try the same batch again.
                eprintln!("writer {w}: batch {k} got {status} {body}; retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Ok((status, body)) => panic!("writer {w}: batch {k} rejected: {status} {body}"),
            Err(_) => {
                history.lock().unwrap().indeterminate.push(k);
                return;
            }
        }
        k += 1;
    }
}

/// Reads back every series of every writer and checks it against the histories.
async fn verify(client: &reqwest::Client, base: &str, histories: &[Arc<Mutex<History>>]) -> usize {
    let last_batch = histories
        .iter()
        .map(|h| h.lock().unwrap().sent)
        .max()
        .unwrap_or(0);
    let at_s = (base_ms() + last_batch * STEP_MS) as f64 / 1000.0 + 1.0;
    let window_s = last_batch * STEP_MS / 1000 + 10;
    let json = query(client, base, &format!("crash_test[{window_s}s]"), at_s).await;
    let mut got: BTreeMap<(usize, usize), Vec<(i64, f64)>> = BTreeMap::new();
    for s in json["data"]["result"].as_array().expect("matrix") {
        let w: usize = s["metric"]["writer"].as_str().unwrap().parse().unwrap();
        let series: usize = s["metric"]["series"].as_str().unwrap().parse().unwrap();
        let points = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                    parse_value(p[1].as_str().unwrap()),
                )
            })
            .collect();
        assert!(
            got.insert((w, series), points).is_none(),
            "series {w}/{series} returned twice"
        );
    }
    let mut checked = 0;
    for (w, h) in histories.iter().enumerate() {
        let h = h.lock().unwrap();
        for s in 0..SERIES_PER_WRITER {
            let points = got.get(&(w, s)).cloned().unwrap_or_default();
            let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
            let mut sorted = ts.clone();
            sorted.dedup();
            assert_eq!(
                ts, sorted,
                "series {w}/{s}: timestamps duplicated or unsorted"
            );
            for &(t, v) in &points {
                let k = (t - base_ms()) / STEP_MS;
                assert!(
                    h.acked.contains(&k) || h.indeterminate.contains(&k),
                    "series {w}/{s}: phantom sample at batch {k} (never acknowledged nor in flight)"
                );
                assert_eq!(v, value(w, s, k), "series {w}/{s} batch {k}: wrong value");
            }
            for &k in &h.acked {
                assert!(
                    ts.contains(&(base_ms() + k * STEP_MS)),
                    "series {w}/{s}: acknowledged batch {k} lost ({} acked)",
                    h.acked.len()
                );
                checked += 1;
            }
        }
    }
    checked
}

async fn ingest_then_kill(
    node: &mut Node,
    client: &reqwest::Client,
    histories: &[Arc<Mutex<History>>],
    run: Duration,
) {
    let mut tasks = Vec::new();
    for (w, h) in histories.iter().enumerate() {
        let first = h.lock().unwrap().sent;
        tasks.push(tokio::spawn(writer(
            client.clone(),
            node.url(),
            w,
            first,
            h.clone(),
        )));
    }
    tokio::time::sleep(run).await;
    node.kill9();
    for t in tasks {
        t.await.expect("writer task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_ingest_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(&dir.path().join("node"), &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let histories: Vec<_> = (0..WRITERS)
        .map(|_| Arc::new(Mutex::new(History::default())))
        .collect();

    // Crash 1: nothing flushed yet, recovery replays the whole log.
    ingest_then_kill(&mut node, &client, &histories, Duration::from_secs(3)).await;
    node.restart();
    let checked = verify(&client, &node.url(), &histories).await;
    assert!(
        checked > 0,
        "no batch was acknowledged before the crash:\n{}",
        node.log()
    );

    // Crash 2: flush part way, so recovery starts from the flushed index and replays the rest.
    let flushed = client
        .post(format!("{}/api/v1/admin/flush", node.url()))
        .send()
        .await
        .unwrap();
    assert!(
        flushed.status().is_success(),
        "flush failed: {}",
        flushed.status()
    );
    ingest_then_kill(&mut node, &client, &histories, Duration::from_secs(3)).await;
    node.restart();
    let checked_after = verify(&client, &node.url(), &histories).await;
    assert!(
        checked_after > checked,
        "no batch acknowledged after the first restart"
    );

    // A clean stop flushes; the data is still there after it.
    node.stop();
    node.restart();
    assert_eq!(
        verify(&client, &node.url(), &histories).await,
        checked_after
    );
    eprintln!("verified {checked_after} acknowledged series-samples across two kill -9 restarts");
}
