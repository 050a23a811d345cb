//! Decoding a remote-read request: snappy, protobuf, response-type negotiation, and each query
//! turned into storage matchers and an inclusive time range.

use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_storage::{MatchOp, Matcher};

use super::RemoteReadError;

/// How the answer is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// One snappy-compressed `ReadResponse` with raw samples.
    Samples,
    /// A stream of framed `ChunkedReadResponse`s with XOR chunks.
    StreamedXorChunks,
}

impl ResponseType {
    /// The name Prometheus gives it.
    pub fn name(self) -> &'static str {
        match self {
            ResponseType::Samples => "SAMPLES",
            ResponseType::StreamedXorChunks => "STREAMED_XOR_CHUNKS",
        }
    }
}

/// One query of a request, in storage terms.
#[derive(Clone, Debug)]
pub struct ReadQuery {
    /// A series must match all of them. No matcher selects nothing, as in Prometheus' TSDB.
    pub matchers: Vec<Matcher>,
    /// Inclusive start (ms).
    pub mint_ms: i64,
    /// Inclusive end (ms).
    pub maxt_ms: i64,
}

impl ReadQuery {
    /// Whether the query can select nothing at all.
    pub fn selects_nothing(&self) -> bool {
        self.matchers.is_empty() || self.mint_ms > self.maxt_ms
    }
}

/// A decoded request.
#[derive(Clone, Debug)]
pub struct DecodedRead {
    /// In request order: results carry the same order (or `query_index`).
    pub queries: Vec<ReadQuery>,
    /// The negotiated answer encoding.
    pub response_type: ResponseType,
}

/// The first response type in `accepted` that Tidemark supports; `SAMPLES` when the list is
/// empty (clients from before streaming send none). Unknown values are skipped.
pub fn negotiate(accepted: &[i32]) -> Result<ResponseType, RemoteReadError> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    for &t in accepted {
        match pb::read_request::ResponseType::try_from(t) {
            Ok(pb::read_request::ResponseType::Samples) => return Ok(ResponseType::Samples),
            Ok(pb::read_request::ResponseType::StreamedXorChunks) => {
                return Ok(ResponseType::StreamedXorChunks);
            }
            Err(_) => {}
        }
    }
    Err(RemoteReadError::BadRequest(format!(
        "server does not support any of the requested response types: {accepted:?}; \
         supported: [SAMPLES STREAMED_XOR_CHUNKS]"
    )))
}

/// Decodes a request body (snappy block format). `decoded_bytes_max` bounds the decompressed
/// size, which the snappy header declares before anything is allocated.
pub fn decode_request(
    body: &[u8],
    decoded_bytes_max: usize,
) -> Result<DecodedRead, RemoteReadError> {
    let declared = snap::raw::decompress_len(body)
        .map_err(|e| RemoteReadError::BadRequest(format!("snappy: {e}")))?;
    if declared > decoded_bytes_max {
        return Err(RemoteReadError::TooLarge(format!(
            "decompressed request of {declared} bytes exceeds the limit of \
             {decoded_bytes_max} bytes (remote_read_body_bytes_max)"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteReadError::BadRequest(format!("snappy: {e}")))?;
    let req = pb::ReadRequest::decode(raw.as_slice()).map_err(|e| {
        RemoteReadError::BadRequest(format!("decoding remote-read ReadRequest: {e}"))
    })?;
    let response_type = negotiate(&req.accepted_response_types)?;
    let queries = req
        .queries
        .iter()
        .map(query_from_wire)
        .collect::<Result<_, _>>()?;
    Ok(DecodedRead {
        queries,
        response_type,
    })
}

/// A wire query in storage terms. The time range is the query's, narrowed to its hints' when
/// the hints carry one: Prometheus' TSDB selects by the hints' range, and its client never
/// sends hints wider than the query. An all-zero hint range counts as unset (proto3 cannot
/// tell them apart).
fn query_from_wire(q: &pb::Query) -> Result<ReadQuery, RemoteReadError> {
    let matchers = q
        .matchers
        .iter()
        .map(matcher_from_wire)
        .collect::<Result<_, _>>()?;
    let (mut mint_ms, mut maxt_ms) = (q.start_timestamp_ms, q.end_timestamp_ms);
    if let Some(h) = &q.hints
        && (h.start_ms != 0 || h.end_ms != 0)
    {
        mint_ms = mint_ms.max(h.start_ms);
        maxt_ms = maxt_ms.min(h.end_ms);
    }
    Ok(ReadQuery {
        matchers,
        mint_ms,
        maxt_ms,
    })
}

/// A wire matcher as a storage matcher. Failures are 500s, as in Prometheus.
fn matcher_from_wire(m: &pb::LabelMatcher) -> Result<Matcher, RemoteReadError> {
    use pb::label_matcher::Type;
    let op = match Type::try_from(m.r#type) {
        Ok(Type::Eq) => MatchOp::Equal,
        Ok(Type::Neq) => MatchOp::NotEqual,
        Ok(Type::Re) => MatchOp::Regex,
        Ok(Type::Nre) => MatchOp::NotRegex,
        Err(_) => {
            return Err(RemoteReadError::Internal(format!(
                "invalid matcher type {} for label {:?}",
                m.r#type, m.name
            )));
        }
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| {
        RemoteReadError::Internal(format!(
            "invalid regular expression {:?} for label {:?}: {e}",
            m.value, m.name
        ))
    })
}
