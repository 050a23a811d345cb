//! Errors of the HTTP API and the one place they become an HTTP status and a Prometheus
//! `errorType` ([`ApiError::status_and_type`]).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tidemark_query::{QueryError, QueryErrorKind};

use crate::error::{ErrorKind, NodeError};
use crate::remote_write::RemoteWriteError;

/// Anything an API handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// From the shards (write, read barrier, flush).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// From the query engine or a querier.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A refused remote-write request.
    #[error(transparent)]
    RemoteWrite(#[from] RemoteWriteError),
    /// An invalid or missing request parameter.
    #[error("{0}")]
    BadParam(String),
    /// A request body that stopped arriving (`http_server.body_read_timeout_ms`): 408.
    #[error("{0}")]
    BodyStalled(String),
    /// Too much at once (`query.concurrent_max` and `query.queue_max`): 429, retry later.
    #[error("{0}")]
    Overloaded(String),
    /// A caller whose credential does not allow this (checked past the middleware, where the
    /// body says what is asked): 403.
    #[error("{0}")]
    Forbidden(String),
    /// Something named in the request that does not exist (a token id): 404.
    #[error("{0}")]
    NotFound(String),
    /// A write whose accepted samples were committed but some samples were rejected
    /// (out-of-order, conflicting, unsupported): a 400 that agents do not retry.
    #[error("{0}")]
    PartialWrite(String),
}

/// Why a request body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyFailure {
    /// Longer than the limit the reader set.
    TooLarge,
    /// Paused longer than `http_server.body_read_timeout_ms`.
    Stalled,
    /// The connection broke, or the body was malformed (chunked encoding).
    Broken(String),
}

impl BodyFailure {
    /// What a failed `axum::body::to_bytes` was.
    pub fn of(e: axum::Error) -> Self {
        let inner = e.into_inner();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return BodyFailure::TooLarge;
            }
            if c.is::<tower_http::timeout::TimeoutError>() {
                return BodyFailure::Stalled;
            }
            cause = c.source();
        }
        BodyFailure::Broken(inner.to_string())
    }

    /// The message of a stalled body.
    pub fn stalled_message() -> String {
        "the request body stopped arriving for longer than http_server.body_read_timeout_ms".into()
    }
}

impl ApiError {
    /// An invalid parameter: `invalid parameter "name": why`.
    pub fn param(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError::BadParam(format!("invalid parameter {name:?}: {why}"))
    }

    /// The HTTP status and Prometheus `errorType` of this error: the only such mapping.
    pub fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Node(e) => match e.kind() {
                ErrorKind::BadRequest => (StatusCode::BAD_REQUEST, "bad_data"),
                ErrorKind::NoLeader => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                ErrorKind::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "unavailable"),
                ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                ErrorKind::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
                ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                ErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "execution"),
            },
            ApiError::Query(e) => match e.kind {
                QueryErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
                QueryErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
                QueryErrorKind::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
                QueryErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                QueryErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                QueryErrorKind::NotImplemented => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            },
            ApiError::RemoteWrite(e) => match e {
                RemoteWriteError::UnsupportedMediaType(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_data")
                }
                RemoteWriteError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "bad_data"),
                RemoteWriteError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            },
            ApiError::Overloaded(_) => (StatusCode::TOO_MANY_REQUESTS, "unavailable"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "unauthorized"),
            ApiError::BodyStalled(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::BadParam(_) | ApiError::PartialWrite(_) => {
                (StatusCode::BAD_REQUEST, "bad_data")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.status_and_type();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error_type, error = %self, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error_type, error = %self, "request refused");
        }
        let body = super::json::error(error_type, &self.to_string());
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            // Retryable: agents and clients back off by it (Prometheus' remote-write honours
            // it).
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (NodeError::BadRequest("x".into()).into(), 400, "bad_data"),
            (
                NodeError::NoLeader {
                    shard: 1,
                    message: "x".into(),
                }
                .into(),
                503,
                "unavailable",
            ),
            (
                NodeError::Overloaded {
                    shard: 1,
                    message: "x".into(),
                }
                .into(),
                429,
                "unavailable",
            ),
            (NodeError::Timeout("x".into()).into(), 503, "timeout"),
            (
                NodeError::Unavailable("x".into()).into(),
                503,
                "unavailable",
            ),
            (NodeError::Internal("x".into()).into(), 500, "internal"),
            (
                NodeError::NotImplemented("x".into()).into(),
                501,
                "execution",
            ),
            (QueryError::bad_data("x").into(), 400, "bad_data"),
            (QueryError::execution("x").into(), 422, "execution"),
            (
                QueryError::new(QueryErrorKind::Timeout, "x").into(),
                503,
                "timeout",
            ),
            (
                QueryError::new(QueryErrorKind::Internal, "x").into(),
                500,
                "internal",
            ),
            (QueryError::not_implemented("x").into(), 422, "execution"),
            (
                RemoteWriteError::UnsupportedMediaType("x".into()).into(),
                415,
                "bad_data",
            ),
            (
                RemoteWriteError::TooLarge("x".into()).into(),
                413,
                "bad_data",
            ),
            (
                RemoteWriteError::Invalid("x".into()).into(),
                400,
                "bad_data",
            ),
            (ApiError::param("time", "x"), 400, "bad_data"),
            (ApiError::PartialWrite("x".into()), 400, "bad_data"),
        ];
        for (e, status, ty) in cases {
            assert_eq!(
                e.status_and_type(),
                (StatusCode::from_u16(status).unwrap(), ty),
                "{e:?}"
            );
        }
    }
}
