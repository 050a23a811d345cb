//! `POST /api/v1/read`, Prometheus remote-read (the protocol is in `remote_read.rs`): a concurrency gate, the body read within its limit, a read barrier, the
//! queries run on a blocking thread under the query timeout, and the answer sent as one
//! snappy block (`SAMPLES`) or as a stream of frames (`STREAMED_XOR_CHUNKS`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_query::{Querier, QueryError, QueryErrorKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::BodyFailure;
use super::{ApiError, AppState};
use crate::config::WriteLimits;
use crate::remote_read::xor::CHUNK_SAMPLES_MAX;
use crate::remote_read::{
    Budget, ChunkedSeries, DecodedRead, ReadQuery, RemoteReadError, ResponseType,
    SAMPLES_CONTENT_TYPE, STREAMED_CONTENT_TYPE, SelectedSeries, VERSION_HEADER, chunked_series,
    decode_request, frames, samples_result,
};

/// Bytes of frames gathered into one write of the response body (frames are small; writing
/// each on its own would cost a syscall and a chunk header apiece).
const BODY_WRITE_BYTES: usize = 64 * 1024;

/// What the handler shares: the API state and the gate on concurrent requests.
struct ReadState {
    app: Arc<AppState>,
    gate: Arc<Semaphore>,
}

/// The `POST /api/v1/read` route, with its own gate of
/// `limits.remote_read_concurrent_requests_max` requests.
pub fn route<S>(app: &Arc<AppState>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let gate = Arc::new(Semaphore::new(
        app.config.limits.remote_read_concurrent_requests_max,
    ));
    post(read).with_state(Arc::new(ReadState {
        app: app.clone(),
        gate,
    }))
}

#[tracing::instrument(skip_all, fields(version, response_type, queries, series, samples))]
async fn read(State(state): State<Arc<ReadState>>, headers: HeaderMap, body: Body) -> Response {
    match serve(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(e),
    }
}

/// Sets its flag when dropped: the blocking work stops when the request is abandoned.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The answer to every query of a request.
enum Answer {
    Samples(pb::ReadResponse),
    Chunked(Vec<Vec<ChunkedSeries>>),
}

async fn serve(
    state: &ReadState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RemoteReadError> {
    // Prometheus' gate waits for a slot too; a client that gives up drops this future.
    let permit = state
        .gate
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| RemoteReadError::Internal("remote-read gate closed".into()))?;
    let span = tracing::Span::current();
    check_version(headers, &span)?;
    let limits = state.app.config.limits.clone();
    let body = read_body(headers, body, limits.remote_read_body_bytes_max).await?;
    let request = decode_request(&body, limits.remote_read_body_bytes_max)?;
    drop(body);
    span.record("response_type", request.response_type.name());
    span.record("queries", request.queries.len());

    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let canceled = cancel.0.clone();
    let timeout_ms = state.app.config.query.timeout_ms;
    let app = state.app.clone();
    let frame_bytes_max = limits.remote_read_frame_bytes_max;
    let work = async move {
        let querier = app
            .backend
            .reader(true, limits.remote_read_samples_max as u64)
            .await?;
        tokio::task::spawn_blocking(move || execute(querier.as_ref(), request, &limits, &canceled))
            .await
            .map_err(|e| RemoteReadError::Internal(format!("remote-read task failed: {e}")))?
    };
    let (answer, budget) = match tokio::time::timeout(Duration::from_millis(timeout_ms), work).await
    {
        Ok(r) => r?,
        Err(_) => {
            return Err(QueryError::new(
                QueryErrorKind::Timeout,
                format!("remote read timed out after {timeout_ms} ms (query.timeout_ms)"),
            )
            .into());
        }
    };
    drop(cancel);
    span.record("series", budget.series());
    span.record("samples", budget.samples());
    match answer {
        Answer::Samples(response) => samples_response(&response),
        Answer::Chunked(per_query) => Ok(streamed_response(per_query, frame_bytes_max, permit)),
    }
}

/// Accepts a missing version header and any 0.x version (Prometheus sends 0.1.0).
fn check_version(headers: &HeaderMap, span: &tracing::Span) -> Result<(), RemoteReadError> {
    let Some(v) = headers.get(VERSION_HEADER) else {
        return Ok(());
    };
    let v = v.to_str().unwrap_or("");
    span.record("version", v);
    if v.split('.').next() == Some("0") {
        return Ok(());
    }
    Err(RemoteReadError::BadRequest(format!(
        "unsupported remote-read version {v:?}: this server speaks 0.1.0"
    )))
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    body_bytes_max: usize,
) -> Result<Bytes, RemoteReadError> {
    let too_large = || {
        RemoteReadError::TooLarge(format!(
            "request body exceeds the limit of {body_bytes_max} bytes (remote_read_body_bytes_max)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > body_bytes_max as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, body_bytes_max)
        .await
        .map_err(|e| match BodyFailure::of(e) {
            BodyFailure::TooLarge => too_large(),
            BodyFailure::Stalled => RemoteReadError::BadRequest(BodyFailure::stalled_message()),
            BodyFailure::Broken(why) => {
                RemoteReadError::BadRequest(format!("reading the request body: {why}"))
            }
        })
}

/// Runs every query of the request against `querier` (blocking).
fn execute(
    querier: &dyn Querier,
    request: DecodedRead,
    limits: &WriteLimits,
    canceled: &AtomicBool,
) -> Result<(Answer, Budget), RemoteReadError> {
    let mut budget = Budget::new(
        limits.remote_read_samples_max,
        limits.remote_read_series_max,
    );
    let answer = match request.response_type {
        ResponseType::Samples => {
            let mut results = Vec::with_capacity(request.queries.len());
            for q in &request.queries {
                let mut selected = select(querier, q)?;
                results.push(samples_result(&mut selected, &mut budget, canceled)?);
            }
            Answer::Samples(pb::ReadResponse { results })
        }
        ResponseType::StreamedXorChunks => {
            let mut per_query = Vec::with_capacity(request.queries.len());
            for q in &request.queries {
                let mut selected = select(querier, q)?;
                per_query.push(chunked_series(
                    &mut selected,
                    &mut budget,
                    canceled,
                    CHUNK_SAMPLES_MAX,
                )?);
            }
            Answer::Chunked(per_query)
        }
    };
    Ok((answer, budget))
}

fn select<'a>(
    querier: &'a dyn Querier,
    q: &ReadQuery,
) -> Result<Box<SelectedSeries<'a>>, RemoteReadError> {
    if q.selects_nothing() {
        return Ok(Box::new(std::iter::empty()));
    }
    let selected = querier.select(&q.matchers, q.mint_ms, q.maxt_ms)?;
    Ok(selected)
}

fn samples_response(response: &pb::ReadResponse) -> Result<Response, RemoteReadError> {
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&response.encode_to_vec())
        .map_err(|e| RemoteReadError::Internal(format!("snappy: {e}")))?;
    let mut r = (StatusCode::OK, compressed).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SAMPLES_CONTENT_TYPE),
    );
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    Ok(r)
}

/// Streams the frames of every query in order, holding the gate's permit until the last.
fn streamed_response(
    per_query: Vec<Vec<ChunkedSeries>>,
    frame_bytes_max: usize,
    permit: OwnedSemaphorePermit,
) -> Response {
    let frames = per_query
        .into_iter()
        .enumerate()
        .flat_map(move |(i, series)| frames(i as i64, series, frame_bytes_max));
    let writes = BatchedFrames {
        frames: Box::new(frames),
        _permit: permit,
    };
    let body = Body::from_stream(futures::stream::iter(writes.map(Ok::<_, Infallible>)));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STREAMED_CONTENT_TYPE),
    );
    r
}

/// Frames gathered into writes of about [`BODY_WRITE_BYTES`].
struct BatchedFrames {
    frames: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    _permit: OwnedSemaphorePermit,
}

impl Iterator for BatchedFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut buf: Vec<u8> = Vec::new();
        while buf.len() < BODY_WRITE_BYTES {
            match self.frames.next() {
                Some(f) if buf.is_empty() => buf = f,
                Some(f) => buf.extend_from_slice(&f),
                None => break,
            }
        }
        (!buf.is_empty()).then(|| Bytes::from(buf))
    }
}

/// The HTTP status of a remote-read failure: Prometheus' for the protocol's own, the rest of
/// the API's for the querier's and the shards'.
fn status(e: &RemoteReadError) -> StatusCode {
    match e {
        RemoteReadError::BadRequest(_) => StatusCode::BAD_REQUEST,
        RemoteReadError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        RemoteReadError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        RemoteReadError::Query(q) => ApiError::Query(q.clone()).status_and_type().0,
        RemoteReadError::Node(n) => ApiError::Node(n.clone()).status_and_type().0,
    }
}

/// A failure as plain text, as Go's `http.Error` writes it.
fn error_response(e: RemoteReadError) -> Response {
    let status = status(&e);
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), error = %e, "remote read failed");
    } else {
        tracing::debug!(status = status.as_u16(), error = %e, "remote read refused");
    }
    let mut response = (status, format!("{e}\n")).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
