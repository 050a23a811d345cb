//! Query errors, classified the way Prometheus' API reports them.

/// The class of a query error; the HTTP layer maps each to Prometheus' `errorType` and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// Unparsable query or invalid parameter (`bad_data`, 400).
    BadData,
    /// The query is valid but cannot be evaluated (`execution`, 422), including exceeded limits.
    Execution,
    /// The query ran past its deadline (`timeout`, 503).
    Timeout,
    /// A shard the query needs cannot be read right now (no leader, replica unreachable):
    /// retryable (`unavailable`, 503).
    Unavailable,
    /// Storage or another internal failure (`internal`, 500).
    Internal,
    /// Not implemented yet (`execution`, 422), with a message saying what.
    NotImplemented,
}

/// A query error with a message for the user.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: QueryErrorKind,
    pub message: String,
}

impl QueryError {
    pub fn new(kind: QueryErrorKind, message: impl Into<String>) -> Self {
        QueryError {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(QueryErrorKind::BadData, message)
    }
    pub fn execution(message: impl Into<String>) -> Self {
        Self::new(QueryErrorKind::Execution, message)
    }
    pub fn not_implemented(what: impl std::fmt::Display) -> Self {
        Self::new(
            QueryErrorKind::NotImplemented,
            format!("not implemented: {what}"),
        )
    }
}

impl From<tidemark_storage::Error> for QueryError {
    fn from(e: tidemark_storage::Error) -> Self {
        match e {
            tidemark_storage::Error::Limit(m) => QueryError::execution(m),
            other => QueryError::new(QueryErrorKind::Internal, other.to_string()),
        }
    }
}
