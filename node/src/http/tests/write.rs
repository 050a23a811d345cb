//! `POST /api/v1/write` through the router, over the in-memory backend.

use super::*;

#[tokio::test]
async fn v1_write_is_204_and_reaches_the_backend() {
    let (backend, app) = setup(Config::default());
    let body = v1_body(vec![v1_series(
        &[("__name__", "up"), ("job", "a")],
        &[(2, 1.0), (1, 0.0)],
    )]);
    let r = send(&app, write_v1(body)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(
        r.headers
            .get("X-Prometheus-Remote-Write-Samples-Written")
            .is_none()
    );
    let stored = backend.series.lock().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[tokio::test]
async fn v2_write_reports_written_counts() {
    let (_, app) = setup(Config::default());
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0), (2, 1.0)]);
    let r = send(&app, write_v2(b.body())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.headers["X-Prometheus-Remote-Write-Samples-Written"], "2");
    assert_eq!(
        r.headers["X-Prometheus-Remote-Write-Histograms-Written"],
        "0"
    );
    assert_eq!(
        r.headers["X-Prometheus-Remote-Write-Exemplars-Written"],
        "0"
    );
}

#[tokio::test]
async fn histograms_are_written_beside_floats() {
    let (backend, app) = setup(Config::default());
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)]);
    b.series(&[("__name__", "h")], &[]).histograms = (1..=3)
        .map(|t| tidemark_proto::write_v2::Histogram {
            timestamp: t,
            ..Default::default()
        })
        .collect();
    let r = send(&app, write_v2(b.body())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.headers["X-Prometheus-Remote-Write-Samples-Written"], "1");
    assert_eq!(
        r.headers["X-Prometheus-Remote-Write-Histograms-Written"],
        "3"
    );
    assert_eq!(backend.series.lock().unwrap().len(), 1);
    assert_eq!(backend.histograms.lock().unwrap()[0].samples.len(), 3);
    // v1 too; one too old (the test backend refuses negative timestamps).
    let mut ts = v1_series(&[("__name__", "h")], &[]);
    ts.histograms = vec![
        tidemark_proto::prometheus::Histogram {
            timestamp: -1,
            ..Default::default()
        },
        tidemark_proto::prometheus::Histogram {
            timestamp: 5,
            ..Default::default()
        },
    ];
    let r = send(&app, write_v1(v1_body(vec![ts]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("out of order native histogram samples: 1 native histogram samples older")
            && r.body
                .contains("0 float samples were written, 1 native histogram samples"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_invalid_histogram_is_named_in_the_answer() {
    let (_, app) = setup(Config::default());
    let mut ts = v1_series(&[("__name__", "h")], &[(1, 1.0)]);
    ts.histograms.push(tidemark_proto::prometheus::Histogram {
        schema: 12,
        ..Default::default()
    });
    let r = send(&app, write_v1(v1_body(vec![ts]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("1 invalid native histogram samples were not written")
            && r.body.contains("histogram schema 12 is not a valid schema")
            && r.body.contains("1 float samples were written"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn rejected_samples_are_a_400_after_the_rest_is_written() {
    let (backend, app) = setup(Config::default());
    let body = v1_body(vec![v1_series(
        &[("__name__", "up")],
        &[(-5, 1.0), (-4, 1.0), (3, 1.0)],
    )]);
    let r = send(&app, write_v1(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let j = r.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["errorType"], "bad_data");
    let msg = j["error"].as_str().unwrap();
    assert!(
        msg.contains("out of order samples: 2 samples")
            && msg.contains("1 float samples were written"),
        "{msg}"
    );
    assert_eq!(backend.series.lock().unwrap()[0].samples.len(), 1);
}

#[tokio::test]
async fn invalid_series_are_a_400_after_the_valid_ones_are_written() {
    let (backend, app) = setup(Config::default());
    let mut b = V2Builder::new();
    // vmagent's order: target labels appended after the scraped ones.
    b.series(
        &[("__name__", "up"), ("type", "a"), ("job", "vm")],
        &[(1, 1.0)],
    );
    b.series(
        &[("__name__", "up"), ("job", "x"), ("job", "y")],
        &[(1, 1.0), (2, 2.0)],
    );
    let r = send(&app, write_v2(b.body())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.headers["X-Prometheus-Remote-Write-Samples-Written"], "1");
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("1 invalid series with 2 samples were not written")
            && msg.contains("duplicate label name \"job\"")
            && msg.contains("1 float samples were written"),
        "{msg}"
    );
    let written = backend.series.lock().unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(
        written[0].key,
        SeriesKey::from(&Labels::from_pairs(&[
            ("__name__", "up"),
            ("job", "vm"),
            ("type", "a")
        ]))
    );
}

#[tokio::test]
async fn write_errors_map_to_status() {
    let (backend, app) = setup(Config::default());
    let body = || v1_body(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
    *backend.fail_writes.lock().unwrap() = Some(NodeError::NoLeader {
        shard: 2,
        message: "election".into(),
    });
    let r = send(&app, write_v1(body())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("shard 2 has no leader"));
    *backend.fail_writes.lock().unwrap() = Some(NodeError::Overloaded {
        shard: 1,
        message: "busy".into(),
    });
    assert_eq!(
        send(&app, write_v1(body())).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut req = write_v1(body());
    req.headers_mut()
        .insert("Content-Type", "text/plain".parse().unwrap());
    assert_eq!(
        send(&app, req).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let r = send(&app, write_v1(b"not snappy at all".to_vec())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(&app, write_v1(snappy(&[0x0a, 0x05, 0xff]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "bad protobuf");
    // No metric name: a 400 that says so; nothing else was in the request.
    let bad = v1_body(vec![v1_series(&[("b", "1"), ("a", "2")], &[(1, 1.0)])]);
    let r = send(&app, write_v1(bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("1 invalid series with 1 samples were not written")
            && r.body.contains("metric name"),
        "{}",
        r.body
    );
    assert!(backend.series.lock().unwrap().is_empty());
}

#[tokio::test]
async fn too_big_body_is_413() {
    let mut config = Config::default();
    config.limits.write_body_bytes_max = 100;
    let (_, app) = setup(config);
    let body = v1_body(
        (0..50)
            .map(|i| v1_series(&[("__name__", "up"), ("i", &i.to_string())], &[(1, 1.0)]))
            .collect(),
    );
    assert!(body.len() > 100);
    let r = send(&app, write_v1(body.clone())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body.contains("write_body_bytes_max"));
    // Streamed, without Content-Length.
    let stream = futures::stream::iter(
        body.chunks(10)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let mut req = write_v1(vec![]);
    *req.body_mut() = Body::from_stream(stream);
    assert_eq!(send(&app, req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn metadata_is_kept_per_metric() {
    let (_, app) = setup(Config::default());
    let req = tidemark_proto::prometheus::WriteRequest {
        timeseries: vec![],
        metadata: vec![tidemark_proto::prometheus::MetricMetadata {
            r#type: 2,
            metric_family_name: "temp".into(),
            help: "Temperature.".into(),
            unit: "celsius".into(),
        }],
    };
    assert_eq!(
        send(&app, write_v1(snappy(&req.encode_to_vec())))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let j = send(&app, get("/api/v1/metadata")).await.json();
    assert_eq!(
        j,
        serde_json::json!({"status":"success","data":{"temp":[{"type":"gauge","help":"Temperature.","unit":"celsius"}]}})
    );
    let j = send(&app, get("/api/v1/metadata?metric=nope")).await.json();
    assert_eq!(j["data"], serde_json::json!({}));
}

#[tokio::test]
async fn metadata_beyond_the_limit_is_counted_and_costs_no_sample() {
    let mut config = Config::default();
    config.limits.metadata_metrics_max = 1;
    let (_, app) = setup(config);
    let md = |name: &str| tidemark_proto::prometheus::MetricMetadata {
        r#type: 2,
        metric_family_name: name.into(),
        help: "h".into(),
        unit: String::new(),
    };
    let req = tidemark_proto::prometheus::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "b")], &[(5, 1.0)])],
        metadata: vec![md("a"), md("b")],
    };
    let r = send(&app, write_v1(snappy(&req.encode_to_vec()))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let j = send(&app, get("/api/v1/metadata")).await.json();
    assert_eq!(j["data"].as_object().unwrap().len(), 1);
    assert!(j["data"]["a"].is_array());
    let metrics = send(&app, get("/metrics")).await.body;
    assert!(
        metrics.contains("tidemark_metadata_ignored_total{reason=\"full\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tidemark_metadata_stored_total 1"),
        "{metrics}"
    );
}
