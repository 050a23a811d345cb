//! Deeply nested PromQL of every shape, sent repeatedly to every endpoint that parses PromQL of
//! a real node: nothing may take the process down. Within `query.max_depth` a query is
//! answered (the 2,000-term `x + x + ... + x` chain that script-generated dashboards produce
//! too, as Prometheus answers it); beyond it the answer is a 400 that names the limit.

mod support;

use std::time::Duration;

use support::{Node, TestSeries, encode_write_v1, post_write_v1};

/// The default `query.max_depth`.
const MAX_DEPTH: usize = 5_000;
/// How often each request is sent.
const REPEAT: usize = 3;

fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Queries of every shape whose nesting is exactly at the limit, with their value.
fn at_the_limit() -> Vec<(&'static str, String, f64)> {
    let d = MAX_DEPTH;
    vec![
        ("parentheses", nest("(", "1", ")", d - 2), 1.0),
        // An even number of minuses.
        ("unary minus", nest("-", "x", "", d - 2), 2.0),
        ("calls", nest("abs(", "x", ")", d - 2), 2.0),
        (
            "binary chain",
            vec!["x"; d - 1].join(" + "),
            2.0 * (d - 1) as f64,
        ),
        ("right-associative chain", vec!["1"; d - 1].join(" ^ "), 1.0),
        ("aggregations", nest("sum(", "x", ")", d - 2), 2.0),
        (
            "aggregations with a parameter",
            nest("topk(1, ", "x", ")", d - 2),
            2.0,
        ),
        (
            "subqueries",
            nest("max_over_time(", "x", "[1m:1m])", (d - 3) / 2),
            2.0,
        ),
    ]
}

/// POSTs `form` (a GET with it as the query string for label values, which Prometheus serves
/// only to GET).
async fn post(client: &reqwest::Client, url: &str, form: &[(&str, String)]) -> (u16, String) {
    let request = if url.ends_with("/values") {
        client.get(url).query(form)
    } else {
        client.post(url).form(form)
    };
    let r = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: the node did not answer: {}", e.without_url()));
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

fn value_of(body: &str) -> f64 {
    let j: serde_json::Value = serde_json::from_str(body).unwrap();
    let r = &j["data"]["result"];
    let v = if j["data"]["resultType"] == "scalar" {
        &r[1]
    } else {
        &r[0]["value"][1]
    };
    support::parse_value(v.as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_queries_never_take_the_node_down() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"), &[]);
    let base = node.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let x: TestSeries = (
        vec![("__name__".into(), "x".into())],
        // Before the whole minute the subqueries evaluate at.
        vec![(now_ms - 90_000, 2.0)],
    );
    let (status, text) = post_write_v1(&client, &base, encode_write_v1(&[x]))
        .await
        .unwrap();
    assert_eq!(status, 204, "{text}");
    let time = format!("{:.3}", now_ms as f64 / 1000.0);

    // The examples: what Prometheus answers is answered.
    let chain = vec!["x"; 2000].join(" + ");
    let (status, body) = post(
        &client,
        &format!("{base}/api/v1/query"),
        &[("query", chain), ("time", time.clone())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(value_of(&body), 4000.0);

    for (shape, query, want) in at_the_limit() {
        for _ in 0..REPEAT {
            let (status, body) = post(
                &client,
                &format!("{base}/api/v1/query"),
                &[("query", query.clone()), ("time", time.clone())],
            )
            .await;
            assert_eq!(status, 200, "{shape}: {}", &body[..body.len().min(300)]);
            assert_eq!(value_of(&body), want, "{shape}");
        }
        let (status, body) = post(
            &client,
            &format!("{base}/api/v1/query_range"),
            &[
                ("query", query.clone()),
                ("start", format!("{:.3}", (now_ms - 60_000) as f64 / 1000.0)),
                ("end", time.clone()),
                ("step", "15".into()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{shape}: {}", &body[..body.len().min(300)]);
        for endpoint in ["format_query", "parse_query", "query_exemplars"] {
            let (status, body) = post(
                &client,
                &format!("{base}/api/v1/{endpoint}"),
                &[("query", query.clone())],
            )
            .await;
            assert!(
                status == 200 || status == 204,
                "{shape} {endpoint}: {status} {}",
                &body[..body.len().min(300)]
            );
        }
        // Well-formed, deep, and not a selector: a 400 that says so.
        for endpoint in ["series", "labels"] {
            let (status, body) = post(
                &client,
                &format!("{base}/api/v1/{endpoint}"),
                &[("match[]", query.clone())],
            )
            .await;
            assert_eq!(status, 400, "{shape} {endpoint}: {body}");
            assert!(
                body.contains("not a series selector"),
                "{shape} {endpoint}: {body}"
            );
        }

        // One level more, and far more: refused before parsing, naming the limit.
        for deeper in [nest("(", &query, ")", 3), nest("(", &query, ")", 20_000)] {
            for _ in 0..REPEAT {
                for (endpoint, param) in [
                    ("query", "query"),
                    ("format_query", "query"),
                    ("parse_query", "query"),
                    ("query_exemplars", "query"),
                    ("series", "match[]"),
                    ("labels", "match[]"),
                    ("admin/tsdb/delete_series", "match[]"),
                ] {
                    let (status, body) = post(
                        &client,
                        &format!("{base}/api/v1/{endpoint}"),
                        &[(param, deeper.clone())],
                    )
                    .await;
                    assert_eq!(status, 400, "{shape} {endpoint}: {body}");
                    assert!(
                        body.contains("query.max_depth"),
                        "{shape} {endpoint}: {body}"
                    );
                }
            }
        }
    }
    // A regular expression nested deeper than the regex crate allows (250): a clear error.
    let regex = format!("x{{a=~\"{}\"}}", nest("(", "a", ")", 10_000));
    for (endpoint, param) in [("query", "query"), ("series", "match[]")] {
        for _ in 0..REPEAT {
            let (status, body) = post(
                &client,
                &format!("{base}/api/v1/{endpoint}"),
                &[(param, regex.clone())],
            )
            .await;
            assert_eq!(status, 400, "{endpoint}: {}", &body[..body.len().min(300)]);
        }
    }

    // Label values are served to GET only: a URL holds a shallower query.
    let url = format!("{base}/api/v1/label/job/values");
    let deep = nest("(", "x", ")", MAX_DEPTH - 2);
    for (query, refusal) in [
        (deep.clone(), "not a series selector"),
        (nest("(", &deep, ")", 2), "query.max_depth"),
    ] {
        for _ in 0..REPEAT {
            let (status, body) = post(&client, &url, &[("match[]", query.clone())]).await;
            assert_eq!(status, 400, "{body}");
            assert!(body.contains(refusal), "{body}");
        }
    }
    assert_eq!(
        tidemark_testkit::http::get_status(&format!("{base}/-/healthy")).unwrap(),
        200,
        "{}",
        node.log()
    );
}
