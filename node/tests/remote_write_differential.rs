//! What the write path refuses, side by side with Prometheus 3.5 and VictoriaMetrics: each case
//! sends the same remote-write 1.0 requests to all three, then reads back what each stored.
//! The table it prints is the one in docs/ARCHITECTURE.md ("What the write path refuses").
//!
//! Tidemark's answers are pinned case by case, and where a case is about validity rather than
//! a configurable limit, Tidemark must store every series Prometheus stores: a sender should
//! never lose with Tidemark what Prometheus would have kept.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use support::{
    Node, TestSeries, get_text, peers_bin, snappy, spawn_peer, spawn_prometheus, write_request_v1,
};
use tidemark_testkit::free_port;

/// Time Prometheus and VictoriaMetrics may take to answer their readiness probe after start.
const PEER_READY_TIMEOUT_MS: u64 = 60_000;
/// A label value that is replaced by invalid UTF-8 in the encoded request.
const NOT_UTF8: &str = "@@NOT-UTF8@@";

/// One case: requests sent in order, and Tidemark's expected answers and stored series.
struct Case {
    name: &'static str,
    /// Series with their labels in the order sent.
    requests: Vec<Vec<TestSeries>>,
    /// Whether the case is about validity (Tidemark must store all Prometheus stores) rather
    /// than one of Tidemark's configurable limits.
    validity: bool,
    tidemark_status: Vec<u16>,
    tidemark_series: usize,
    tidemark_samples: usize,
}

fn series(case: usize, extra: &[(&str, &str)], samples: &[(i64, f64)]) -> TestSeries {
    let mut labels = vec![
        ("__name__".to_string(), "rw_case".to_string()),
        ("case".to_string(), case.to_string()),
    ];
    labels.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    (labels, samples.to_vec())
}

/// Labels as given.
fn unnamed(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TestSeries {
    (
        labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        samples.to_vec(),
    )
}

/// The request as sent (labels unsorted), with [`NOT_UTF8`] made invalid UTF-8.
fn encode(req: &[TestSeries]) -> Vec<u8> {
    let mut bytes = write_request_v1(req, false).encode_to_vec();
    let needle = NOT_UTF8.as_bytes();
    if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
        bytes[at] = 0xff;
    }
    snappy(&bytes)
}

fn cases(now: i64) -> Vec<Case> {
    let ok = |case| series(case, &[("ok", "1")], &[(now, 1.0)]);
    let long = "v".repeat(5000);
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("l{i:02}"), "x".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    vec![
        Case {
            name: "labels not sorted by name",
            requests: vec![vec![unnamed(
                &[("job", "a"), ("__name__", "rw_case"), ("case", "0")],
                &[(now, 1.0)],
            )]],
            validity: true,
            tidemark_status: vec![204],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "duplicate label name (+1 valid series)",
            requests: vec![vec![
                series(1, &[("d", "x"), ("d", "y")], &[(now, 1.0)]),
                ok(1),
            ]],
            validity: true,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "empty label name (+1 valid series)",
            requests: vec![vec![series(2, &[("", "x")], &[(now, 1.0)]), ok(2)]],
            validity: true,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "no metric name (+1 valid series)",
            requests: vec![vec![
                unnamed(&[("case", "3"), ("job", "a")], &[(now, 1.0)]),
                ok(3),
            ]],
            validity: true,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "empty label value (label dropped)",
            requests: vec![vec![series(4, &[("e", "")], &[(now, 1.0)])]],
            validity: true,
            tidemark_status: vec![204],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "label value not UTF-8 (+1 valid series)",
            requests: vec![vec![series(5, &[("u", NOT_UTF8)], &[(now, 1.0)]), ok(5)]],
            validity: true,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "label value of 5,000 bytes (+1 valid series)",
            requests: vec![vec![series(6, &[("long", &long)], &[(now, 1.0)]), ok(6)]],
            validity: false,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "72 labels (+1 valid series)",
            requests: vec![vec![series(7, &many, &[(now, 1.0)]), ok(7)]],
            validity: false,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "sample 1 min older than the series' last",
            requests: vec![
                vec![series(8, &[], &[(now, 1.0)])],
                vec![series(8, &[], &[(now - 60_000, 2.0)])],
            ],
            validity: false,
            tidemark_status: vec![204, 204],
            tidemark_series: 1,
            tidemark_samples: 2,
        },
        Case {
            // Prometheus refuses it (out of bounds); Tidemark takes it as a backfill, as it
            // takes samples back to its longest retention.
            name: "sample 1 h older than the series' last (+1 valid series)",
            requests: vec![
                vec![series(9, &[], &[(now, 1.0)])],
                vec![series(9, &[], &[(now - 3_600_000, 2.0)]), ok(9)],
            ],
            validity: false,
            tidemark_status: vec![204, 204],
            tidemark_series: 2,
            tidemark_samples: 3,
        },
        Case {
            name: "another value at a stored timestamp (+1 valid series)",
            requests: vec![
                vec![series(10, &[], &[(now, 1.0)])],
                vec![series(10, &[], &[(now, 2.0)]), ok(10)],
            ],
            validity: false,
            tidemark_status: vec![204, 400],
            tidemark_series: 2,
            tidemark_samples: 2,
        },
        Case {
            name: "the same sample twice",
            requests: vec![
                vec![series(11, &[], &[(now, 1.0)])],
                vec![series(11, &[], &[(now, 1.0)])],
            ],
            validity: true,
            tidemark_status: vec![204, 204],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "sample 1 day in the future (+1 valid series)",
            requests: vec![vec![series(12, &[], &[(now + 86_400_000, 1.0)]), ok(12)]],
            validity: false,
            tidemark_status: vec![400],
            tidemark_series: 1,
            tidemark_samples: 1,
        },
        Case {
            name: "NaN and a stale marker",
            requests: vec![vec![series(
                13,
                &[],
                &[
                    (now - 1000, f64::NAN),
                    (now, f64::from_bits(0x7ff0000000000002)),
                ],
            )]],
            validity: true,
            tidemark_status: vec![204],
            tidemark_series: 1,
            // Stored, but a range selector leaves the stale marker out, as Prometheus' does.
            tidemark_samples: 1,
        },
        Case {
            name: "sample older than the longest retention (+1 valid series)",
            requests: vec![
                vec![series(14, &[], &[(now, 1.0)])],
                vec![series(14, &[], &[(now - 400 * 86_400_000, 2.0)]), ok(14)],
            ],
            validity: false,
            tidemark_status: vec![204, 400],
            tidemark_series: 2,
            tidemark_samples: 2,
        },
    ]
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Series and samples stored for `case` in a Prometheus-API system (raw samples of the two
/// days before `at_s`).
async fn stored_prometheus_api(
    client: &reqwest::Client,
    base: &str,
    case: usize,
    at_s: f64,
) -> (usize, usize) {
    let json = support::query(client, base, &format!("{{case=\"{case}\"}}[2d]"), at_s).await;
    let result = json["data"]["result"].as_array().unwrap();
    let samples = result
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    (result.len(), samples)
}

/// The same from VictoriaMetrics' raw export.
async fn stored_victoriametrics(
    client: &reqwest::Client,
    base: &str,
    case: usize,
) -> (usize, usize) {
    let text = get_text(
        client,
        &format!("{base}/api/v1/export?match[]={{case=\"{case}\"}}"),
    )
    .await;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let samples = lines
        .iter()
        .map(|j| j["values"].as_array().unwrap().len())
        .sum();
    (lines.len(), samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_path_answers_beside_prometheus_and_victoriametrics() {
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let prom_port = free_port();
    let mut prom_process = spawn_prometheus(
        &bin,
        &dir.path().join("prometheus"),
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        prom_port,
        &["--web.enable-remote-write-receiver"],
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let vm_port = free_port();
    let mut vm_process = spawn_peer(
        &bin.join("victoria-metrics"),
        &[
            format!("-storageDataPath={}", dir.path().join("vm").display()),
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            "-retentionPeriod=100y".into(),
            "-loggerLevel=ERROR".into(),
        ],
        &dir.path().join("vm.log"),
    );
    let vm = format!("http://127.0.0.1:{vm_port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    prom_process.expect_ready(&format!("{prom}/-/ready"), PEER_READY_TIMEOUT_MS);
    vm_process.expect_ready(&format!("{vm}/health"), PEER_READY_TIMEOUT_MS);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let cases = cases(now);
    let mut statuses = Vec::new();
    for case in &cases {
        let mut per_system = [Vec::new(), Vec::new(), Vec::new()];
        for req in &case.requests {
            let body = encode(req);
            per_system[0].push(
                post(
                    &client,
                    &format!("{}/api/v1/write", node.url()),
                    body.clone(),
                )
                .await,
            );
            per_system[1].push(post(&client, &format!("{prom}/api/v1/write"), body.clone()).await);
            per_system[2].push(post(&client, &format!("{vm}/api/v1/write"), body).await);
        }
        statuses.push(per_system);
    }
    // VictoriaMetrics makes new rows and series searchable in the background.
    for _ in 0..2 {
        let r = client
            .get(format!("{vm}/internal/force_flush"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // A day and a second ahead: the two-day window then holds the future sample too.
    let at_s = (now + 86_400_000 + 1000) as f64 / 1000.0;
    let mut failures = Vec::new();
    eprintln!(
        "{:<56} {:>18} {:>18} {:>18}",
        "case", "tidemark", "prometheus", "victoriametrics"
    );
    for (i, case) in cases.iter().enumerate() {
        let sent: usize = case.requests.iter().flatten().count();
        let t = stored_prometheus_api(&client, &node.url(), i, at_s).await;
        let p = stored_prometheus_api(&client, &prom, i, at_s).await;
        let v = stored_victoriametrics(&client, &vm, i).await;
        let show = |status: &[u16], (series, samples): (usize, usize)| {
            let codes: Vec<String> = status.iter().map(u16::to_string).collect();
            format!("{} {series}/{sent} {samples}", codes.join(","))
        };
        eprintln!(
            "{:<56} {:>18} {:>18} {:>18}",
            case.name,
            show(&statuses[i][0], t),
            show(&statuses[i][1], p),
            show(&statuses[i][2], v)
        );
        if statuses[i][0] != case.tidemark_status
            || t != (case.tidemark_series, case.tidemark_samples)
        {
            failures.push(format!(
                "{}: tidemark answered {:?} and stored {t:?}, expected {:?} and {:?}",
                case.name,
                statuses[i][0],
                case.tidemark_status,
                (case.tidemark_series, case.tidemark_samples)
            ));
        }
        if case.validity && (t.0 < p.0 || t.1 < p.1) {
            failures.push(format!(
                "{}: Prometheus stored {p:?} (series, samples), Tidemark only {t:?}",
                case.name
            ));
        }
    }
    eprintln!("(answers to each request, then series stored of those sent, then samples)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
