//! Router tests of the status, PromQL-text and exemplar endpoints and of `limit`/`stats`
//! parameters, over the in-memory backend of the parent module. Expected answers are the
//! ones Prometheus 3.5.3 gives (checked against the real binary by `tests/api_differential.rs`).

use serde_json::json;

use super::*;

fn assert_bad_data(r: &Reply, needle: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let j = r.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["errorType"], "bad_data");
    let msg = j["error"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

#[tokio::test]
async fn format_query_pretty_prints_like_prometheus() {
    let (_, app) = setup(Config::default());
    let r = send(
        &app,
        get("/api/v1/format_query?query=sum(x)%20by%20(a,b)%3E100"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"status":"success","data":"sum by (a, b) (x) > 100"})
    );
    let q = r#"sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) by (job) / on(job) group_left sum by (job) (rate(x[5m]))"#;
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", q)
        .finish();
    let r = send(&app, post_form("/api/v1/format_query", &body)).await;
    assert_eq!(
        r.json()["data"],
        "  sum by (job) (rate(http_requests_total{code=~\"5..\",job=\"api\"}[5m]))\n/ on (job) group_left ()\n  sum by (job) (rate(x[5m]))"
    );
    assert_bad_data(
        &send(&app, get("/api/v1/format_query?query=sum(")).await,
        "invalid parameter \"query\"",
    );
    assert_bad_data(
        &send(&app, get("/api/v1/format_query")).await,
        "invalid parameter \"query\"",
    );
}

#[tokio::test]
async fn parse_query_answers_the_tree() {
    let (_, app) = setup(Config::default());
    let r = send(&app, post_form("/api/v1/parse_query", "query=-up")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"status":"success","data":{"expr":{"matchers":[{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":0,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"op":"-","type":"unaryExpr"}})
    );
    let r = send(&app, get("/api/v1/parse_query?query=time()")).await;
    assert_eq!(r.json()["data"]["type"], "call");
    assert_bad_data(
        &send(&app, get("/api/v1/parse_query?query=1%2B")).await,
        "invalid parameter \"query\"",
    );
    assert_bad_data(
        &send(&app, get("/api/v1/parse_query")).await,
        "invalid parameter \"query\"",
    );
}

#[tokio::test]
async fn query_exemplars_validates_and_answers_empty() {
    let (_, app) = setup(Config::default());
    seed(&app).await;
    for req in [
        get("/api/v1/query_exemplars?query=up"),
        get("/api/v1/query_exemplars?query=rate(up%5B5m%5D)&start=0&end=10"),
        post_form("/api/v1/query_exemplars", "query=sum(up)"),
    ] {
        let r = send(&app, req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    }
    // No selector: nothing to look up, Prometheus answers 204.
    let r = send(&app, get("/api/v1/query_exemplars?query=1%2B1")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_bad_data(
        &send(&app, get("/api/v1/query_exemplars?query=up&start=10&end=5")).await,
        "end timestamp must not be before start timestamp",
    );
    assert_bad_data(
        &send(&app, get("/api/v1/query_exemplars?query=up&start=x")).await,
        "invalid time value for 'start'",
    );
    assert_bad_data(
        &send(&app, get("/api/v1/query_exemplars?query=up&end=x")).await,
        "invalid parameter \"end\"",
    );
    // Parse errors are bad_data without the parameter prefix, as in Prometheus.
    let r = send(&app, get("/api/v1/query_exemplars?query=sum(")).await;
    assert_bad_data(&r, "");
    assert!(
        !r.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid parameter")
    );
    assert_bad_data(&send(&app, get("/api/v1/query_exemplars")).await, "");
}

#[tokio::test]
async fn limits_truncate_with_prometheus_warning() {
    let (_, app) = setup(Config::default());
    seed(&app).await;
    let warned = json!(["results truncated due to limit"]);
    for (uri, len, warning) in [
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&limit=2",
            2,
            true,
        ),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&limit=3",
            3,
            false,
        ),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&limit=0",
            3,
            false,
        ),
        ("/api/v1/labels?limit=1", 1, true),
        ("/api/v1/labels?limit=2", 2, false),
        ("/api/v1/label/__name__/values?limit=1", 1, true),
        ("/api/v1/label/job/values?limit=5", 2, false),
        ("/api/v1/label/job/values?limit=0", 2, false),
    ] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        let j = r.json();
        assert_eq!(j["data"].as_array().unwrap().len(), len, "{uri}");
        if warning {
            assert_eq!(j["warnings"], warned, "{uri}");
        } else {
            assert!(j.get("warnings").is_none(), "{uri}: {}", r.body);
        }
    }
    // `limit=1` keeps the first in order.
    let r = send(&app, get("/api/v1/label/__name__/values?limit=1")).await;
    assert_eq!(r.json()["data"], json!(["errors_total"]));
    for uri in [
        "/api/v1/series?match[]=up&limit=-1",
        "/api/v1/labels?limit=-1",
        "/api/v1/label/job/values?limit=-1",
        "/api/v1/query?query=1&limit=-1",
    ] {
        assert_bad_data(
            &send(&app, get(uri)).await,
            "invalid parameter \"limit\": limit must be non-negative",
        );
    }
    assert_bad_data(
        &send(&app, get("/api/v1/labels?limit=abc")).await,
        r#"invalid parameter "limit": strconv.Atoi: parsing "abc": invalid syntax"#,
    );
}

#[tokio::test]
async fn metadata_limits_as_prometheus() {
    let (_, app) = setup(Config::default());
    let req = tidemark_proto::prometheus::WriteRequest {
        timeseries: vec![],
        metadata: [
            ("a", "a help"),
            ("b", "b help"),
            ("c", "c help"),
            ("b", "b other help"),
        ]
        .iter()
        .map(|(n, help)| tidemark_proto::prometheus::MetricMetadata {
            r#type: 1,
            metric_family_name: n.to_string(),
            help: help.to_string(),
            unit: String::new(),
        })
        .collect(),
    };
    let r = send(&app, write_v1(snappy(&req.encode_to_vec()))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let count = |j: serde_json::Value| j["data"].as_object().unwrap().len();
    assert_eq!(count(send(&app, get("/api/v1/metadata")).await.json()), 3);
    assert_eq!(
        count(send(&app, get("/api/v1/metadata?limit=2")).await.json()),
        2
    );
    // 0 answers nothing, a negative limit is no limit (Prometheus 3.5).
    assert_eq!(
        send(&app, get("/api/v1/metadata?limit=0")).await.body,
        r#"{"status":"success","data":{}}"#
    );
    assert_eq!(
        count(send(&app, get("/api/v1/metadata?limit=-1")).await.json()),
        3
    );
    // Both entries of b (two exporters disagreeing), oldest first; a limit per metric above 0
    // keeps that many.
    assert_eq!(
        send(&app, get("/api/v1/metadata?limit_per_metric=0&metric=b"))
            .await
            .json()["data"]["b"],
        json!([
            {"type":"counter","help":"b help","unit":""},
            {"type":"counter","help":"b other help","unit":""}
        ])
    );
    assert_eq!(
        send(&app, get("/api/v1/metadata?metric=b&limit_per_metric=1"))
            .await
            .json()["data"]["b"],
        json!([{"type":"counter","help":"b help","unit":""}])
    );
    let r = send(&app, get("/api/v1/metadata?limit=x")).await;
    assert_bad_data(&r, "limit must be a number");
    assert_eq!(r.json()["error"], "limit must be a number");
    let r = send(&app, get("/api/v1/metadata?limit_per_metric=1.5")).await;
    assert_eq!(r.json()["error"], "limit_per_metric must be a number");
}

#[tokio::test]
async fn stats_parameter_adds_timings_and_sample_counts() {
    let (_, app) = setup(Config::default());
    seed(&app).await;
    for uri in [
        "/api/v1/query?query=1%2B1&time=10&stats=all",
        "/api/v1/query?query=up&time=2&stats=1",
        "/api/v1/query_range?query=up&start=0&end=10&step=5&stats=all",
    ] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        let j = r.json();
        let timings = &j["data"]["stats"]["timings"];
        for key in ["evalTotalTime", "execQueueTime", "execTotalTime"] {
            let v = timings[key].as_f64();
            assert!(v.is_some_and(|v| v >= 0.0), "{uri}: {key} in {}", r.body);
        }
        // Not measured: left out, not made up.
        assert!(timings.get("innerEvalTime").is_none());
        let samples = &j["data"]["stats"]["samples"];
        assert!(
            samples["totalQueryableSamples"].is_u64(),
            "{uri}: {}",
            r.body
        );
        assert!(samples["peakSamples"].is_u64(), "{uri}: {}", r.body);
        // Per step only with `stats=all`.
        assert_eq!(
            samples.get("totalQueryableSamplesPerStep").is_some(),
            uri.ends_with("stats=all"),
            "{uri}: {}",
            r.body
        );
        assert!(j["data"]["resultType"].is_string(), "{uri}: {}", r.body);
    }
    // The range query's steps at 0, 5 and 10 s, in seconds as Prometheus writes them.
    let r = send(
        &app,
        get("/api/v1/query_range?query=up&start=0&end=10&step=5&stats=all"),
    )
    .await;
    let per_step = &r.json()["data"]["stats"]["samples"]["totalQueryableSamplesPerStep"];
    let times: Vec<String> = per_step
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].to_string())
        .collect();
    assert_eq!(times, ["0", "5", "10"], "{}", r.body);
    let r = send(&app, get("/api/v1/query?query=1%2B1&time=10")).await;
    assert!(r.json()["data"].get("stats").is_none(), "{}", r.body);
    let r = send(&app, get("/api/v1/query?query=1%2B1&time=10&stats=")).await;
    assert!(r.json()["data"].get("stats").is_none(), "{}", r.body);
}

#[tokio::test]
async fn status_config_flags_runtimeinfo() {
    let mut config = Config {
        node_id: 7,
        ..Config::default()
    };
    config.query.timeout_ms = 1234;
    let (_, app) = setup(config.clone());
    let j = send(&app, get("/api/v1/status/config")).await.json();
    assert_eq!(j["status"], "success");
    let yaml = j["data"]["yaml"].as_str().unwrap();
    // Everything but secrets, which read "<secret>".
    let shown = Config {
        initial_cluster_token: "<secret>".into(),
        ..config.clone()
    };
    assert_eq!(Config::from_yaml(yaml).unwrap(), shown, "{yaml}");

    let j = send(&app, get("/api/v1/status/flags")).await.json();
    let flags = j["data"].as_object().unwrap();
    assert_eq!(flags["node-id"], "7");
    assert_eq!(flags["http-listen"], "127.0.0.1:9201");
    assert_eq!(flags["data-dir"], "./tidemark-data");
    assert!(flags.values().all(|v| v.is_string()));

    let j = send(&app, get("/api/v1/status/runtimeinfo")).await.json();
    let d = &j["data"];
    for key in [
        "startTime",
        "CWD",
        "hostname",
        "serverTime",
        "lastConfigTime",
        "GOGC",
        "GODEBUG",
        "storageRetention",
    ] {
        assert!(d[key].is_string(), "{key}: {d}");
    }
    for key in [
        "corruptionCount",
        "goroutineCount",
        "GOMAXPROCS",
        "GOMEMLIMIT",
    ] {
        assert!(d[key].is_i64(), "{key}: {d}");
    }
    assert_eq!(d["reloadConfigSuccess"], true);
    assert!(d["GOMAXPROCS"].as_i64().unwrap() >= 1);
    let time = |key: &str| {
        let s = d[key].as_str().unwrap();
        assert!(s.ends_with('Z'), "{key}: {s}");
        chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{key}: {s}: {e}"))
    };
    assert!(time("serverTime") >= time("startTime"));
    assert!(time("lastConfigTime") <= time("startTime"));
}

#[tokio::test]
async fn status_tsdb_counts_series_and_label_pairs() {
    let (_, app) = setup(Config::default());
    let mut j = send(&app, get("/api/v1/status/tsdb")).await.json();
    // Tidemark's addition, checked against a real node in tests/self_monitoring.rs.
    let memory = j["data"].as_object_mut().unwrap().remove("memory").unwrap();
    assert_eq!(memory["budgetBytes"], 256 << 20, "{memory}");
    assert!(memory["dataStore"].is_null(), "no store here: {memory}");
    assert_eq!(memory["series"]["registryBytes"], 0, "{memory}");
    assert_eq!(
        j,
        json!({"status":"success","data":{"headStats":{"numSeries":0,"numLabelPairs":0,"chunkCount":0,"minTime":i64::MAX,"maxTime":i64::MIN},"seriesCountByMetricName":[],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}})
    );
    seed(&app).await;
    let j = send(&app, get("/api/v1/status/tsdb")).await.json();
    let d = &j["data"];
    assert_eq!(
        d["headStats"],
        json!({"numSeries":3,"numLabelPairs":4,"chunkCount":3,"minTime":1000,"maxTime":2000})
    );
    assert_eq!(
        d["seriesCountByMetricName"],
        json!([{"name":"up","value":2},{"name":"errors_total","value":1}])
    );
    assert_eq!(
        d["labelValueCountByLabelName"],
        json!([{"name":"__name__","value":2},{"name":"job","value":2}])
    );
    // __name__: (9 + 3) * 2 + (9 + 13) * 1; job: (4 + 4) * 2 + (4 + 3) * 1.
    assert_eq!(
        d["memoryInBytesByLabelName"],
        json!([{"name":"__name__","value":46},{"name":"job","value":23}])
    );
    assert_eq!(
        d["seriesCountByLabelValuePair"],
        json!([
            {"name":"__name__=up","value":2},
            {"name":"job=api","value":2},
            {"name":"__name__=errors_total","value":1},
            {"name":"job=db","value":1}
        ])
    );
    let j = send(&app, get("/api/v1/status/tsdb?limit=1")).await.json();
    assert_eq!(
        j["data"]["seriesCountByLabelValuePair"],
        json!([{"name":"__name__=up","value":2}])
    );
    assert_eq!(j["data"]["headStats"]["numLabelPairs"], 4);
    for bad in ["0", "-1", "x", "1.5"] {
        let r = send(&app, get(&format!("/api/v1/status/tsdb?limit={bad}"))).await;
        assert_bad_data(&r, "limit must be a positive number");
    }
}

#[tokio::test]
async fn status_tsdb_scan_is_bounded() {
    let config = Config {
        query: tidemark_query::QueryLimits {
            tsdb_status_series_max: 2,
            ..Default::default()
        },
        ..Config::default()
    };
    let (_, app) = setup(config);
    seed(&app).await;
    let j = send(&app, get("/api/v1/status/tsdb")).await.json();
    assert_eq!(j["data"]["headStats"]["numSeries"], 3, "exact, not scanned");
    let counted: u64 = j["data"]["seriesCountByMetricName"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 2);
    let warning = j["warnings"][0].as_str().unwrap();
    assert!(warning.contains("first 2 series"), "{warning}");
}

#[tokio::test]
async fn delete_series_validates_and_reaches_the_backend() {
    let (backend, app) = setup(Config::default());
    for req in [
        post_form(
            "/api/v1/admin/tsdb/delete_series",
            "match[]=up{job=~\"a.*\"}&match[]=errors_total&start=10&end=20",
        ),
        Request::put("/api/v1/admin/tsdb/delete_series?match[]=up")
            .body(Body::empty())
            .unwrap(),
    ] {
        let r = send(&app, req).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    let deletes = backend.deletes.lock().unwrap().clone();
    assert_eq!(deletes.len(), 2);
    assert_eq!((deletes[0].mint_ms, deletes[0].maxt_ms), (10_000, 20_000));
    assert_eq!(deletes[0].selectors.len(), 2);
    assert!(
        deletes[0].selectors[0].contains(&("=~".into(), "job".into(), "a.*".into())),
        "{deletes:?}"
    );
    // Without a range: all time.
    assert_eq!(
        (deletes[1].mint_ms, deletes[1].maxt_ms),
        (i64::MIN, i64::MAX)
    );
    for (form, message) in [
        ("", "no match[] parameter provided"),
        ("match[]=up{", "match[]"),
        ("match[]=up&start=yesterday", "start"),
    ] {
        let r = send(&app, post_form("/api/v1/admin/tsdb/delete_series", form)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form}: {}", r.body);
        let j = r.json();
        assert_eq!(j["errorType"], "bad_data");
        assert!(j["error"].as_str().unwrap().contains(message), "{}", r.body);
    }
    assert_eq!(
        backend.deletes.lock().unwrap().len(),
        2,
        "bad requests go nowhere"
    );
}

#[tokio::test]
async fn admin_endpoints_tidemark_lacks_say_not_implemented() {
    let (_, app) = setup(Config::default());
    for (uri, what) in [("/api/v1/admin/tsdb/snapshot", "snapshot")] {
        let r = send(&app, post_form(uri, "")).await;
        assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{uri}: {}", r.body);
        let j = r.json();
        assert_eq!(j["status"], "error");
        let error = j["error"].as_str().unwrap();
        assert!(
            error.contains(what) && error.contains("not implemented"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn buildinfo_has_prometheus_35_fields_and_the_ruler_flag_grafana_reads() {
    let (_, app) = setup(Config::default());
    let j = send(&app, get("/api/v1/status/buildinfo")).await.json();
    let keys: Vec<&str> = j["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "application",
            "branch",
            "buildDate",
            "buildUser",
            "features",
            "goVersion",
            "revision",
            "version"
        ]
    );
    // Grafana offers rule editing for a Mimir/Cortex data source when `application` is set
    // and `features.ruler_config_api` is the string "true".
    assert_eq!(j["data"]["application"], "Tidemark");
    assert_eq!(j["data"]["features"]["ruler_config_api"], "true");
}
