//! `POST /api/v1/write`: remote-write 1.0 and 2.0.
//!
//! 204 once every float and native histogram sample is committed (histograms after the floats,
//! in entries of their own; 503 while a node of an earlier build is in the cluster). When some
//! series or histograms were invalid (see `remote_write::Refused`) or the shards rejected some
//! samples (older than the out-of-order window, or another value at a stored timestamp),
//! everything else is still committed and the answer is a 400 that says what was written and
//! what was not: no retry can change it, and the sender counts and logs it.
//! What each check answers, and what Prometheus and VictoriaMetrics answer, is tabled in
//! `docs/ARCHITECTURE.md` ("What the write path refuses").

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, BodyFailure};
use crate::remote_write::headers::{
    EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, SAMPLES_WRITTEN_HEADER, VERSION_HEADER,
};
use crate::remote_write::{self, Protocol, RemoteWriteError};
use crate::request::WriteOutcome;

/// The remote-write handler.
#[tracing::instrument(skip_all, fields(protocol, series, samples))]
pub async fn remote_write(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let protocol = match remote_write::negotiate(
        header_str(&headers, header::CONTENT_TYPE.as_str()),
        header_str(&headers, header::CONTENT_ENCODING.as_str()),
        header_str(&headers, VERSION_HEADER),
    ) {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let span = tracing::Span::current();
    span.record(
        "protocol",
        if protocol == Protocol::V2 {
            "2.0"
        } else {
            "1.0"
        },
    );
    let (result, outcome, histograms) = handle(&state, protocol, &headers, body).await;
    let mut response = match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    };
    if outcome.samples_written + histograms.samples_written == 0 && !response.status().is_success()
    {
        state.metrics.write_failed(response.status().as_u16());
    }
    if protocol == Protocol::V2 {
        let h = response.headers_mut();
        h.insert(
            HeaderName::from_static(SAMPLES_WRITTEN_HEADER),
            HeaderValue::from(outcome.samples_written),
        );
        h.insert(
            HeaderName::from_static(HISTOGRAMS_WRITTEN_HEADER),
            HeaderValue::from(histograms.samples_written),
        );
        h.insert(
            HeaderName::from_static(EXEMPLARS_WRITTEN_HEADER),
            HeaderValue::from(0u32),
        );
    }
    response
}

/// Decodes, validates and writes; returns what was written (floats, then native histograms)
/// even when failing after the write.
async fn handle(
    state: &AppState,
    protocol: Protocol,
    headers: &HeaderMap,
    body: Body,
) -> (Result<(), ApiError>, WriteOutcome, WriteOutcome) {
    let none = WriteOutcome::default();
    let limits = &state.config.limits;
    let body_max = limits.write_body_bytes_max;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > body_max as u64) {
        return (
            Err(too_large(body_max).into()),
            none,
            WriteOutcome::default(),
        );
    }
    // Held until the request is answered: the body, then what it decompresses to.
    let mut reserved = super::write_budget::Reservation::default();
    let body_bytes = declared.unwrap_or(body_max as u64);
    if let Err(e) = state.write_budget.reserve(&mut reserved, body_bytes).await {
        return (Err(e), none, WriteOutcome::default());
    }
    // Whole within the body timeout, not only without a pause that long: a client that trickles
    // its body would otherwise hold its reservation for as long as it likes.
    let whole = Duration::from_millis(state.config.http_server.body_read_timeout_ms);
    let read = match tokio::time::timeout(whole, axum::body::to_bytes(body, body_max)).await {
        Ok(read) => read,
        Err(_) => {
            let why = format!(
                "the request body did not arrive whole within \
                 http_server.body_read_timeout_ms ({} ms)",
                whole.as_millis()
            );
            return (
                Err(ApiError::BodyStalled(why)),
                none,
                WriteOutcome::default(),
            );
        }
    };
    let body = match read {
        Ok(b) => b,
        Err(e) => {
            let error = match BodyFailure::of(e) {
                BodyFailure::TooLarge => too_large(body_max).into(),
                BodyFailure::Stalled => ApiError::BodyStalled(BodyFailure::stalled_message()),
                BodyFailure::Broken(why) => {
                    RemoteWriteError::Invalid(format!("reading the request body: {why}")).into()
                }
            };
            return (Err(error), none, WriteOutcome::default());
        }
    };
    let decompressed = snap::raw::decompress_len(&body)
        .unwrap_or(0)
        .min(limits.write_decoded_bytes_max);
    if let Err(e) = state
        .write_budget
        .reserve_now(&mut reserved, decompressed as u64)
    {
        return (Err(e), none, WriteOutcome::default());
    }
    let decoded = match remote_write::decode(
        protocol,
        &body,
        &limits.decode(),
        state.config.name_validation,
    ) {
        Ok(d) => d,
        Err(e) => return (Err(e.into()), none, WriteOutcome::default()),
    };
    tracing::Span::current()
        .record("series", decoded.series.len())
        .record("samples", decoded.samples);
    // Metadata the cluster cannot keep (full, mid-upgrade, the meta group unavailable) is
    // counted, not refused: it never costs the samples beside it.
    if !decoded.metadata.is_empty() {
        let names_max = limits.metadata_metrics_max;
        match state
            .backend
            .record_metadata(&decoded.metadata, names_max)
            .await
        {
            Ok(o) => state.metrics.metadata(&o),
            Err(e) => return (Err(e.into()), none, WriteOutcome::default()),
        }
    }
    let outcome = if decoded.series.is_empty() {
        WriteOutcome::default()
    } else {
        match state.backend.write(decoded.series).await {
            Ok(o) => o,
            Err(e) => return (Err(e.into()), none, WriteOutcome::default()),
        }
    };
    // Written after the floats: a request whose histograms fail (503 while a node of an
    // earlier build is in the cluster) is retried whole, and its floats are duplicates then.
    let histograms = if decoded.histogram_series.is_empty() {
        WriteOutcome::default()
    } else {
        match state
            .backend
            .write_histograms(decoded.histogram_series)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                // The floats are written: counted now (a retry finds them as duplicates).
                let none = WriteOutcome::default();
                let refused = &decoded.refused;
                state
                    .metrics
                    .write(&outcome, &none, refused.samples, refused.histograms);
                return (Err(e.into()), outcome, none);
            }
        }
    };
    let refused = &decoded.refused;
    state
        .metrics
        .write(&outcome, &histograms, refused.samples, refused.histograms);
    let mut problems = Vec::new();
    if refused.series > 0 {
        problems.push(format!(
            "{} invalid series with {} samples were not written, e.g. {}",
            refused.series,
            refused.samples,
            refused.reasons.join("; ")
        ));
    }
    if refused.histograms > 0 {
        problems.push(format!(
            "{} invalid native histogram samples were not written, e.g. {}",
            refused.histograms,
            refused.histogram_reasons.join("; ")
        ));
    }
    for (o, what) in [
        (&outcome, "samples"),
        (&histograms, "native histogram samples"),
    ] {
        problems.extend(outcome_problems(o, what));
    }
    if problems.is_empty() {
        return (Ok(()), outcome, histograms);
    }
    let mut message = format!(
        "{}; {} float samples were written",
        problems.join("; "),
        outcome.samples_written
    );
    if decoded.histograms > 0 {
        message.push_str(&format!(
            ", {} native histogram samples",
            histograms.samples_written
        ));
    }
    (Err(ApiError::PartialWrite(message)), outcome, histograms)
}

/// What `o` did not write, worded for samples of kind `what`.
fn outcome_problems(o: &WriteOutcome, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if o.too_old > 0 {
        problems.push(format!(
            "out of order {what}: {} {what} older than the out-of-order window were rejected",
            o.too_old
        ));
    }
    if o.too_new > 0 {
        problems.push(format!(
            "too far in the future: {} {what} more than future_window_ms ahead of the server's clock were rejected",
            o.too_new
        ));
    }
    if o.conflicting > 0 {
        problems.push(format!(
            "duplicate sample for timestamp: {} {what} with a different value at an already stored timestamp were rejected",
            o.conflicting
        ));
    }
    if o.series_limited > 0 {
        problems.push(format!(
            "per-series limit: {} new series with {} {what} were not created: the cluster \
             holds as many series as limits.series_max or, for their metric names, \
             limits.series_per_metric_max allow",
            o.series_limited, o.samples_limited
        ));
    }
    problems
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn too_large(body_max: usize) -> RemoteWriteError {
    RemoteWriteError::TooLarge(format!(
        "request body exceeds the limit of {body_max} bytes (write_body_bytes_max)"
    ))
}
