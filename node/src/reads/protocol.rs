//! The read protocol between nodes (`ShardService/Read` and `ShardService/ReadStream`, wire
//! version 2): what a node asks of a replica of a shard it holds none of, how the replica
//! answers from its engine, and the client side of both calls.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tidemark_proto::node::ShardReply;
use tidemark_query::{Partial, PartialRequest, Querier, QueryError, QueryErrorKind};
use tidemark_storage::history::HistoryMark;
use tidemark_storage::{Labels, RolledSeries, Sample, SeriesSamples, ShardId, TierChoice};

use crate::error::NodeError;
use crate::peer::{self, Peer, Peers, WIRE_VERSION};
use crate::raft::codec;
use crate::request::{WireMatchers, from_wire};

/// A read of one shard sent to a node holding a replica of it (bincode, `ShardService/Read`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The replica answers once it has applied this log index (0: at once).
    pub min_index: u64,
    /// A select answering more samples than this fails (the query's `samples_max`).
    pub samples_max: u64,
    /// How long the replica may wait for `min_index`, in milliseconds.
    pub timeout_ms: u64,
    /// What to read.
    pub op: ReadOp,
}

/// What a [`ReadRequest`] reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReadOp {
    /// Series and their samples in `[mint_ms, maxt_ms]` ([`Querier::select`]).
    Select {
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
    },
    /// Label sets of matching series ([`Querier::series`]).
    Series {
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
    },
    /// Label names ([`Querier::label_names`]).
    LabelNames {
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
    },
    /// Values of one label ([`Querier::label_values`]).
    LabelValues {
        name: String,
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
    },
    /// An aggregation the shard computes itself ([`Querier::aggregate`]): only its
    /// accumulators cross the network. Nodes at command level 6 or above also take a range
    /// function that no aggregation wraps, and answer with its series for the shard.
    Aggregate(PartialRequest),
    /// Rollup windows ([`Querier::select_rolled`]); sent only to nodes at command level 2 or
    /// above (older ones hold no rollups and cannot decode it).
    Rolled {
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
        tiers: TierChoice,
    },
    /// The first `limit` label sets of matching series ([`Querier::series_limited`]); sent
    /// only to nodes at command level 5 or above (older ones cannot decode it).
    SeriesLimited {
        matchers: WireMatchers,
        mint_ms: i64,
        maxt_ms: i64,
        limit: u64,
    },
    /// The shard's history mark ([`Querier::history_marks`]); sent only to nodes at command
    /// level 7 or above (older ones cannot decode it).
    HistoryMarks,
}

/// The answer to a [`ReadRequest`], one variant per [`ReadOp`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReadReply {
    /// Answer to `Select`.
    Series(Vec<(Labels, Vec<Sample>)>),
    /// Answer to `Series`.
    LabelSets(Vec<Labels>),
    /// Answer to `LabelNames` and `LabelValues`.
    Names(BTreeSet<String>),
    /// Answer to `Aggregate`.
    Partials(Vec<Partial>),
    /// Answer to `Rolled`.
    Rolled(Vec<RolledSeries>),
    /// Answer to `HistoryMarks` (`None`: the engine does not tell).
    Marks(Option<Vec<(ShardId, HistoryMark)>>),
    /// Answer to `Select` when some series of the batch have native histograms (a batch
    /// without any is `Series`, which builds before command level 9 decode; histograms exist
    /// only once every node could be asked to store them).
    SeriesWithHistograms(Vec<SeriesSamples>),
}

impl ReadReply {
    /// The selected series of a `Series` or `SeriesWithHistograms` answer.
    pub fn into_selected(self) -> Option<Vec<SeriesSamples>> {
        match self {
            ReadReply::Series(series) => Some(
                series
                    .into_iter()
                    .map(|(labels, samples)| SeriesSamples {
                        labels,
                        samples,
                        histograms: Vec::new(),
                    })
                    .collect(),
            ),
            ReadReply::SeriesWithHistograms(series) => Some(series),
            _ => None,
        }
    }

    /// A select's answer for `batch`: `Series` unless some series has histograms.
    fn selected(batch: Vec<SeriesSamples>) -> ReadReply {
        if batch.iter().all(|s| s.histograms.is_empty()) {
            ReadReply::Series(batch.into_iter().map(|s| (s.labels, s.samples)).collect())
        } else {
            ReadReply::SeriesWithHistograms(batch)
        }
    }
}

/// Runs `op` against `querier` (one shard of the local engine), counting selected samples
/// against `samples_max`.
pub fn run_local(
    querier: &dyn Querier,
    op: &ReadOp,
    samples_max: u64,
) -> Result<ReadReply, NodeError> {
    let q = node_error;
    Ok(match op {
        ReadOp::Select { .. } => {
            // The streamed select's batches, gathered into one answer.
            let mut out = Vec::new();
            let mut failed = None;
            stream_select(querier, op, samples_max, |batch| match batch {
                Ok(reply) => {
                    out.extend(reply.into_selected().unwrap_or_default());
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            ReadReply::selected(out)
        }
        ReadOp::Series {
            matchers,
            mint_ms,
            maxt_ms,
        } => ReadReply::LabelSets(
            querier
                .series(&from_wire(matchers)?, *mint_ms, *maxt_ms)
                .map_err(q)?,
        ),
        ReadOp::SeriesLimited {
            matchers,
            mint_ms,
            maxt_ms,
            limit,
        } => ReadReply::LabelSets(
            querier
                .series_limited(
                    &from_wire(matchers)?,
                    *mint_ms,
                    *maxt_ms,
                    usize::try_from(*limit).unwrap_or(usize::MAX),
                )
                .map_err(q)?,
        ),
        ReadOp::LabelNames {
            matchers,
            mint_ms,
            maxt_ms,
        } => ReadReply::Names(
            querier
                .label_names(&from_wire(matchers)?, *mint_ms, *maxt_ms)
                .map_err(q)?,
        ),
        ReadOp::LabelValues {
            name,
            matchers,
            mint_ms,
            maxt_ms,
        } => ReadReply::Names(
            querier
                .label_values(name, &from_wire(matchers)?, *mint_ms, *maxt_ms)
                .map_err(q)?,
        ),
        ReadOp::Rolled {
            matchers,
            mint_ms,
            maxt_ms,
            tiers,
        } => {
            let rolled = querier
                .select_rolled(&from_wire(matchers)?, *mint_ms, *maxt_ms, *tiers)
                .map_err(q)?;
            let windows: usize = rolled.iter().map(|r| r.windows.len()).sum();
            if windows as u64 > samples_max {
                return Err(NodeError::BadRequest(format!(
                    "query processing would load too many samples into memory \
                     (more than {samples_max} rollup windows from one shard)"
                )));
            }
            ReadReply::Rolled(rolled)
        }
        ReadOp::Aggregate(req) => {
            let parts = match querier.aggregate(req).map_err(q)? {
                Some(parts) => parts,
                None => vec![tidemark_query::partial::evaluate(querier, req).map_err(q)?],
            };
            ReadReply::Partials(parts)
        }
        ReadOp::HistoryMarks => ReadReply::Marks(querier.history_marks().map_err(q)?),
    })
}

/// A local query failure as it crosses the wire: what the query did wrong (a limit, a bad
/// matcher) stays the asker's fault, anything else is internal.
fn node_error(e: QueryError) -> NodeError {
    match e.kind {
        QueryErrorKind::Execution | QueryErrorKind::BadData => NodeError::BadRequest(e.message),
        _ => NodeError::Internal(e.message),
    }
}

/// Samples per message of a streamed select (about 1 MiB encoded).
pub const STREAM_BATCH_SAMPLES: usize = 64 * 1024;

/// Runs a `Select` op against `querier` and hands its series to `emit` in batches of about
/// [`STREAM_BATCH_SAMPLES`] samples (an error ends the stream as its last message). Stops
/// when `emit` returns false (the reader went away) or more than `samples_max` samples were
/// selected.
pub fn stream_select(
    querier: &dyn Querier,
    op: &ReadOp,
    samples_max: u64,
    mut emit: impl FnMut(Result<ReadReply, NodeError>) -> bool,
) {
    let ReadOp::Select {
        matchers,
        mint_ms,
        maxt_ms,
    } = op
    else {
        emit(Err(NodeError::BadRequest(
            "a streamed read must be a select".into(),
        )));
        return;
    };
    let mut run = || -> Result<(), NodeError> {
        let matchers = from_wire(matchers)?;
        let q = node_error;
        let mut batch = Vec::new();
        let mut in_batch = 0usize;
        let mut total = 0u64;
        for s in querier.select(&matchers, *mint_ms, *maxt_ms).map_err(q)? {
            let s = s.map_err(q)?;
            let n = s.samples.len() + s.histograms.len();
            total += n as u64;
            if total > samples_max {
                return Err(NodeError::BadRequest(format!(
                    "query processing would load too many samples into memory \
                     (more than {samples_max} from one shard)"
                )));
            }
            // A histogram weighs about as much as a few dozen float samples.
            in_batch += (s.samples.len() + 32 * s.histograms.len()).max(1);
            batch.push(s);
            if in_batch >= STREAM_BATCH_SAMPLES {
                if !emit(Ok(ReadReply::selected(std::mem::take(&mut batch)))) {
                    return Ok(());
                }
                in_batch = 0;
            }
        }
        if !batch.is_empty() {
            emit(Ok(ReadReply::selected(batch)));
        }
        Ok(())
    };
    if let Err(e) = run() {
        emit(Err(e));
    }
}

/// Reads shard `shard` from `peer`'s replica (see [`ReadRequest`]).
pub async fn read(
    peers: &Peers,
    shard: ShardId,
    peer: &Peer,
    req: &ReadRequest,
) -> Result<ReadReply, NodeError> {
    let unreachable = |what: String| unreachable(shard, peer, what);
    let (mut client, request, timeout) = peers.prepare(
        &peer.addr,
        request(shard, req)?,
        req.timeout_ms,
        &unreachable,
    )?;
    let reply = match tokio::time::timeout(timeout, client.read(request)).await {
        Err(_) => return Err(unreachable("timed out".into())),
        Ok(Err(status)) => return Err(unreachable(status.to_string())),
        Ok(Ok(reply)) => reply.into_inner(),
    };
    codec::decode::<Result<ReadReply, NodeError>>(&reply.payload)
        .map_err(|e| unreachable(e.to_string()))?
}

/// Opens a streamed select of shard `shard` on `peer`'s replica ([`ReadRequest`] with a
/// `Select` op); the stream yields encoded batches ([`decode_batch`]). `None`: the node is of
/// a version without the streamed read (during a rolling upgrade); use [`read`].
pub async fn read_stream(
    peers: &Peers,
    shard: ShardId,
    peer: &Peer,
    req: &ReadRequest,
) -> Result<Option<tonic::Streaming<ShardReply>>, NodeError> {
    let unreachable = |what: String| unreachable(shard, peer, what);
    let (mut client, request, timeout) = peers.prepare(
        &peer.addr,
        request(shard, req)?,
        req.timeout_ms,
        &unreachable,
    )?;
    match tokio::time::timeout(timeout, client.read_stream(request)).await {
        Err(_) => Err(unreachable("timed out".into())),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => Ok(None),
        Ok(Err(status)) => Err(unreachable(status.to_string())),
        Ok(Ok(r)) => Ok(Some(r.into_inner())),
    }
}

/// One message of a streamed select: a batch of series, or the error that ended the stream.
pub fn decode_batch(reply: &ShardReply) -> Result<ReadReply, NodeError> {
    peer::decode_result(reply)
}

fn request(
    shard: ShardId,
    req: &ReadRequest,
) -> Result<tonic::Request<tidemark_proto::node::ShardRequest>, NodeError> {
    let payload = codec::encode(req).map_err(|e| NodeError::Internal(e.to_string()))?;
    Ok(tonic::Request::new(tidemark_proto::node::ShardRequest {
        version: WIRE_VERSION,
        shard,
        payload,
    }))
}

fn unreachable(shard: ShardId, peer: &Peer, what: String) -> NodeError {
    NodeError::Unavailable(format!(
        "shard {shard}: replica on node {} ({}) unreachable: {what}",
        peer.node, peer.addr
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_query::QuerySeriesIter;
    use tidemark_storage::{Matcher, SeriesSamples};

    use crate::request::to_wire;

    /// Series `s0`, `s1`, ... with `per_series` samples each.
    struct Fixed {
        series: usize,
        per_series: usize,
    }

    impl Querier for Fixed {
        fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<QuerySeriesIter<'_>, QueryError> {
            let n = self.per_series;
            Ok(Box::new((0..self.series).map(move |i| {
                Ok(SeriesSamples {
                    histograms: Vec::new(),
                    labels: Labels::from_pairs(&[("s", &i.to_string())]),
                    samples: (0..n as i64).map(|t| Sample::new(t, t as f64)).collect(),
                })
            })))
        }
        fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>, QueryError> {
            unreachable!()
        }
        fn label_names(
            &self,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<BTreeSet<String>, QueryError> {
            unreachable!()
        }
        fn label_values(
            &self,
            _: &str,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<BTreeSet<String>, QueryError> {
            unreachable!()
        }
    }

    fn select_all() -> ReadOp {
        ReadOp::Select {
            matchers: to_wire(&[Matcher::equal("__name__", "x")]),
            mint_ms: 0,
            maxt_ms: 1,
        }
    }

    /// Batch sizes (in series) and the error, if any, of a streamed select.
    fn stream(q: &Fixed, samples_max: u64, stop_after: usize) -> (Vec<usize>, Option<String>) {
        let (mut sizes, mut error) = (Vec::new(), None);
        stream_select(q, &select_all(), samples_max, |b| {
            match b {
                Ok(ReadReply::Series(s)) => sizes.push(s.len()),
                Ok(ReadReply::SeriesWithHistograms(s)) => sizes.push(s.len()),
                Ok(_) => panic!("not a series batch"),
                Err(e) => error = Some(e.to_string()),
            }
            sizes.len() < stop_after
        });
        (sizes, error)
    }

    #[test]
    fn a_streamed_select_comes_in_bounded_batches_and_stops_at_its_limit() {
        let q = Fixed {
            series: 5,
            per_series: 40_000,
        };
        // 64k samples per batch: two series (80k) per message, the fifth alone.
        assert_eq!(stream(&q, u64::MAX, usize::MAX), (vec![2, 2, 1], None));
        // Over the limit: what was sent stays sent, the error is the last message.
        let (sizes, error) = stream(&q, 100_000, usize::MAX);
        assert_eq!(sizes, vec![2]);
        assert!(error.unwrap().contains("too many samples"));
        // A reader that goes away stops the select.
        assert_eq!(stream(&q, u64::MAX, 1), (vec![2], None));
    }
}
