//! The results cache of range queries on a real node: a dashboard's refresh is answered from
//! it with the answer whole evaluation gives, and a sample arriving late for a cached hour
//! shows in the next answer.

mod support;

use support::{Node, encode_write_v1, post_write_v1, wall_clock_ms};

const STEP_MS: i64 = 60_000;

/// `query_range` of `expr` over `[start, end]` at one minute (`extra` form fields too).
async fn range(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    start_ms: i64,
    end_ms: i64,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let mut form = vec![
        ("query", expr.to_string()),
        ("start", format!("{}", start_ms / 1000)),
        ("end", format!("{}", end_ms / 1000)),
        ("step", "60".to_string()),
    ];
    form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let r = client
        .post(format!("{base}/api/v1/query_range"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let json: serde_json::Value = r.json().await.unwrap();
    assert!(status.is_success(), "{expr}: {status} {json}");
    json["data"]["result"].clone()
}

/// The value of an unlabelled (or exactly labelled) sample line of `/metrics`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_is_answered_from_the_cache_and_a_late_sample_shows() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"), &[]);
    let base = node.url();
    let client = reqwest::Client::new();

    // Three hours of 20 counters scraped every 30 s, ending now.
    let now = wall_clock_ms();
    let first = now - 3 * 3_600_000;
    let series: Vec<_> = (0..20)
        .map(|i| {
            let labels = vec![
                ("__name__".to_string(), "requests_total".to_string()),
                ("instance".to_string(), format!("host-{i}")),
                ("pool".to_string(), format!("p{}", i % 3)),
            ];
            let samples: Vec<(i64, f64)> = (0..)
                .map(|k| first + k * 30_000)
                .take_while(|t| *t <= now)
                .map(|t| (t, ((t - first) / 30_000 * (i + 1)) as f64))
                .collect();
            (labels, samples)
        })
        .collect();
    let (status, text) = post_write_v1(&client, &base, encode_write_v1(&series))
        .await
        .unwrap();
    assert_eq!(status, 204, "{text}");

    let end = now.div_euclid(STEP_MS) * STEP_MS;
    let start = end - 2 * 3_600_000;
    let expr = "sum by (pool) (rate(requests_total[5m]))";
    let cold = range(&client, &base, expr, start, end, &[]).await;
    let warm = range(&client, &base, expr, start, end, &[]).await;
    let whole = range(&client, &base, expr, start, end, &[("nocache", "1")]).await;
    assert_eq!(cold.as_array().unwrap().len(), 3, "{cold}");
    assert_eq!(warm, whole);
    assert_eq!(cold, whole);
    let text = support::get_text(&client, &format!("{base}/metrics")).await;
    let cached = metric(
        &text,
        "tidemark_query_results_cache_steps_total{source=\"cache\"}",
    );
    // The second query found all but the newest five minutes (and the step being written).
    assert!(cached >= 110.0, "{text}");
    assert_eq!(
        metric(&text, "tidemark_query_results_cache_queries_total"),
        2.0
    );
    assert!(metric(&text, "tidemark_query_results_cache_bytes") > 0.0);

    // A new series with one sample an hour and a half ago: a change of the past.
    let late_t = now - 90 * 60_000;
    let late = vec![(
        vec![
            ("__name__".to_string(), "requests_total".to_string()),
            ("instance".to_string(), "late".to_string()),
            ("pool".to_string(), "p9".to_string()),
        ],
        vec![(late_t - 60_000, 0.0), (late_t, 6000.0)],
    )];
    let (status, text) = post_write_v1(&client, &base, encode_write_v1(&late))
        .await
        .unwrap();
    assert_eq!(status, 204, "{text}");
    let after = range(&client, &base, expr, start, end, &[]).await;
    let whole = range(&client, &base, expr, start, end, &[("nocache", "1")]).await;
    assert_eq!(after, whole);
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["metric"]["pool"] == "p9"),
        "the late series shows: {after}"
    );
    let text = support::get_text(&client, &format!("{base}/metrics")).await;
    assert!(metric(&text, "tidemark_query_results_cache_invalidations_total") >= 1.0);

    // Asking for stats, or for no cache, evaluates whole.
    let before = metric(&text, "tidemark_query_results_cache_queries_total");
    range(&client, &base, expr, start, end, &[("stats", "all")]).await;
    let r = client
        .get(format!(
            "{base}/api/v1/query_range?query={}&start={}&end={}&step=60",
            "sum(requests_total)",
            start / 1000,
            end / 1000
        ))
        .header("Cache-Control", "no-cache")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let text = support::get_text(&client, &format!("{base}/metrics")).await;
    assert_eq!(
        metric(&text, "tidemark_query_results_cache_queries_total"),
        before
    );
}
