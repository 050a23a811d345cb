//! Reads of shards this node holds no replica of: a query's querier reads its own replicas from
//! the local engine and every other shard from a replica on another node
//! (`tidemark.node.v1.ShardService/Read`), at an applied index that makes the read
//! linearizable when asked to be.
//!
//! The engine's querier interface is synchronous (evaluation runs on the blocking pool), so a
//! remote read blocks its evaluation thread on the runtime. A select opens one stream per
//! remote shard at once (`ShardService/ReadStream`) and pulls their batches as the engine
//! consumes series, so the engine's sample limit stops the reading; the other reads fetch every
//! shard's answer concurrently (`ShardService/Read`). An aggregation the shards can compute
//! (`tidemark_query::partial`) is pushed down: each remote replica folds its shard's series
//! and answers with the groups' accumulators alone.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tidemark_query::{
    EngineQuerier, Partial, PartialRequest, Querier, QueryError, QueryErrorKind, QuerySeriesIter,
};
use tidemark_storage::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardId};
use tokio::task::JoinHandle;

use super::remote;
use crate::error::NodeError;
use crate::raft::NodeId;
use crate::raft::network::PeerChannels;

/// Matchers as they cross the wire: `(op, name, value)` with `op` one of `=`, `!=`, `=~`, `!~`.
pub type WireMatchers = Vec<(String, String, String)>;

/// `matchers` in their wire form.
pub fn to_wire(matchers: &[Matcher]) -> WireMatchers {
    matchers
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Regex => "=~",
                MatchOp::NotRegex => "!~",
            };
            (op.to_string(), m.name.clone(), m.value.clone())
        })
        .collect()
}

/// Matchers back from their wire form; an unknown operator or a bad regex is a bad request.
pub fn from_wire(wire: &WireMatchers) -> Result<Vec<Matcher>, NodeError> {
    wire.iter()
        .map(|(op, name, value)| {
            let op = match op.as_str() {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::Regex,
                "!~" => MatchOp::NotRegex,
                other => {
                    return Err(NodeError::BadRequest(format!(
                        "unknown matcher operator {other:?}"
                    )));
                }
            };
            Matcher::new(op, name.clone(), value.clone())
                .map_err(|e| NodeError::BadRequest(e.to_string()))
        })
        .collect()
}

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
    /// accumulators cross the network.
    Aggregate(PartialRequest),
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
                Ok(ReadReply::Series(series)) => {
                    out.extend(series);
                    true
                }
                Ok(_) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            ReadReply::Series(out)
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
        ReadOp::Aggregate(req) => {
            let parts = match querier.aggregate(req).map_err(q)? {
                Some(parts) => parts,
                None => vec![tidemark_query::partial::evaluate(querier, req).map_err(q)?],
            };
            ReadReply::Partials(parts)
        }
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
            total += s.samples.len() as u64;
            if total > samples_max {
                return Err(NodeError::BadRequest(format!(
                    "query processing would load too many samples into memory \
                     (more than {samples_max} from one shard)"
                )));
            }
            in_batch += s.samples.len().max(1);
            batch.push((s.labels, s.samples));
            if in_batch >= STREAM_BATCH_SAMPLES {
                if !emit(Ok(ReadReply::Series(std::mem::take(&mut batch)))) {
                    return Ok(());
                }
                in_batch = 0;
            }
        }
        if !batch.is_empty() {
            emit(Ok(ReadReply::Series(batch)));
        }
        Ok(())
    };
    if let Err(e) = run() {
        emit(Err(e));
    }
}

/// Where a query reads one shard it holds no replica of.
#[derive(Clone, Debug)]
pub struct RemoteShard {
    pub shard: ShardId,
    /// The node to read from and its gRPC address.
    pub node: NodeId,
    pub addr: String,
    /// The log index that node must have applied (its read index for a linearizable read).
    pub min_index: u64,
}

/// A querier over every shard: this node's replicas from its engine, the others remotely.
pub struct ClusterQuerier {
    local: EngineQuerier,
    remote: Vec<RemoteShard>,
    peers: PeerChannels,
    runtime: tokio::runtime::Handle,
    timeout_ms: u64,
    samples_max: u64,
}

impl ClusterQuerier {
    /// Must be called on the runtime (it keeps a handle to it for the remote reads).
    pub fn new(
        local: EngineQuerier,
        remote: Vec<RemoteShard>,
        peers: PeerChannels,
        timeout_ms: u64,
        samples_max: u64,
    ) -> Self {
        ClusterQuerier {
            local,
            remote,
            peers,
            runtime: tokio::runtime::Handle::current(),
            timeout_ms,
            samples_max,
        }
    }

    /// The request reading `op` from remote shard `r` under this query's bounds.
    fn request(&self, r: &RemoteShard, op: &ReadOp) -> ReadRequest {
        ReadRequest {
            min_index: r.min_index,
            samples_max: self.samples_max,
            timeout_ms: self.timeout_ms,
            op: op.clone(),
        }
    }

    /// Runs `op` on every remote shard concurrently (blocking this thread, which must not be a
    /// runtime worker).
    fn fetch(&self, op: ReadOp) -> Result<Vec<ReadReply>, QueryError> {
        self.finish(self.start(op))
    }

    /// Starts `op` on every remote shard, on the runtime, while this thread goes on.
    fn start(&self, op: ReadOp) -> Option<JoinHandle<Vec<Result<ReadReply, NodeError>>>> {
        if self.remote.is_empty() {
            return None;
        }
        let calls: Vec<_> = self
            .remote
            .iter()
            .map(|r| {
                let req = self.request(r, &op);
                let (peers, r) = (self.peers.clone(), r.clone());
                async move { remote::read(&peers, r.shard, r.node, r.addr, req).await }
            })
            .collect();
        Some(self.runtime.spawn(join_all(calls)))
    }

    /// Waits for the remote reads [`Self::start`] began (blocking this thread).
    fn finish(
        &self,
        started: Option<JoinHandle<Vec<Result<ReadReply, NodeError>>>>,
    ) -> Result<Vec<ReadReply>, QueryError> {
        let Some(handle) = started else {
            return Ok(Vec::new());
        };
        let results = self.runtime.block_on(handle).map_err(|e| {
            QueryError::new(
                QueryErrorKind::Internal,
                format!("remote reads failed: {e}"),
            )
        })?;
        results
            .into_iter()
            .map(|r| r.map_err(query_error))
            .collect()
    }
}

/// The series of remote shards' streamed selects, shard after shard, batch by batch.
struct RemoteSeries {
    runtime: tokio::runtime::Handle,
    /// Bound on the wait for one batch.
    timeout: std::time::Duration,
    streams: std::vec::IntoIter<tonic::Streaming<tidemark_proto::node::ShardReply>>,
    current: Option<tonic::Streaming<tidemark_proto::node::ShardReply>>,
    batch: std::vec::IntoIter<(Labels, Vec<Sample>)>,
}

impl Iterator for RemoteSeries {
    type Item = Result<SeriesSamples, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((labels, samples)) = self.batch.next() {
                return Some(Ok(SeriesSamples { labels, samples }));
            }
            if self.current.is_none() {
                self.current = Some(self.streams.next()?);
            }
            let stream = self.current.as_mut()?;
            let msg = self
                .runtime
                .block_on(async { tokio::time::timeout(self.timeout, stream.message()).await });
            let unavailable = |what: String| QueryError::new(QueryErrorKind::Unavailable, what);
            match msg {
                Err(_) => {
                    self.streams = Vec::new().into_iter();
                    return Some(Err(unavailable(
                        "remote shard read timed out between batches".into(),
                    )));
                }
                Ok(Err(status)) => {
                    self.streams = Vec::new().into_iter();
                    return Some(Err(unavailable(format!(
                        "remote shard read failed: {status}"
                    ))));
                }
                Ok(Ok(None)) => self.current = None,
                Ok(Ok(Some(reply))) => match remote::decode_batch(&reply) {
                    Ok(ReadReply::Series(batch)) => self.batch = batch.into_iter(),
                    Ok(_) => {
                        self.streams = Vec::new().into_iter();
                        return Some(Err(unexpected("select")));
                    }
                    Err(e) => {
                        self.streams = Vec::new().into_iter();
                        return Some(Err(query_error(e)));
                    }
                },
            }
        }
    }
}

/// A remote read's failure as the query API reports it: limits are the query's fault (422),
/// unreachable or leaderless shards are retryable (503).
fn query_error(e: NodeError) -> QueryError {
    match e {
        NodeError::BadRequest(m) => QueryError::execution(m),
        NodeError::NotImplemented(m) => QueryError::not_implemented(m),
        NodeError::Internal(m) => QueryError::new(QueryErrorKind::Internal, m),
        NodeError::Timeout(m) => QueryError::new(QueryErrorKind::Timeout, m),
        e @ (NodeError::NoLeader { .. }
        | NodeError::Overloaded { .. }
        | NodeError::Unavailable(_)) => QueryError::new(QueryErrorKind::Unavailable, e.to_string()),
    }
}

fn unexpected(what: &str) -> QueryError {
    QueryError::new(
        QueryErrorKind::Internal,
        format!("remote shard answered a {what} read with another kind of reply"),
    )
}

impl Querier for ClusterQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        let local = self.local.select(matchers, mint_ms, maxt_ms)?;
        if self.remote.is_empty() {
            return Ok(local);
        }
        let op = ReadOp::Select {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
        };
        // Every shard's stream opens at once (its replica starts selecting); batches are
        // pulled as the engine consumes them.
        let open = |r: &RemoteShard| {
            let req = self.request(r, &op);
            let (peers, r) = (&self.peers, r.clone());
            async move {
                match remote::read_stream(peers, r.shard, r.node, &r.addr, &req).await? {
                    Some(stream) => Ok(Ok(stream)),
                    // A node of an older version: its whole answer in one reply.
                    None => remote::read(peers, r.shard, r.node, r.addr, req)
                        .await
                        .map(Err),
                }
            }
        };
        let opened = self
            .runtime
            .block_on(join_all(self.remote.iter().map(open)));
        let mut streams = Vec::with_capacity(opened.len());
        let mut whole = Vec::new();
        for s in opened {
            match s.map_err(query_error)? {
                Ok(stream) => streams.push(stream),
                Err(ReadReply::Series(series)) => whole.extend(series),
                Err(_) => return Err(unexpected("select")),
            }
        }
        Ok(Box::new(local.chain(RemoteSeries {
            runtime: self.runtime.clone(),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            streams: streams.into_iter(),
            current: None,
            batch: whole.into_iter(),
        })))
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        let mut out = self.local.series(matchers, mint_ms, maxt_ms)?;
        for r in self.fetch(ReadOp::Series {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
        })? {
            let ReadReply::LabelSets(sets) = r else {
                return Err(unexpected("series"));
            };
            out.extend(sets);
        }
        out.sort();
        Ok(out)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        let mut out = self.local.label_names(matchers, mint_ms, maxt_ms)?;
        for r in self.fetch(ReadOp::LabelNames {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
        })? {
            let ReadReply::Names(names) = r else {
                return Err(unexpected("label names"));
            };
            out.extend(names);
        }
        Ok(out)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        let mut out = self.local.label_values(name, matchers, mint_ms, maxt_ms)?;
        for r in self.fetch(ReadOp::LabelValues {
            name: name.to_string(),
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
        })? {
            let ReadReply::Names(values) = r else {
                return Err(unexpected("label values"));
            };
            out.extend(values);
        }
        Ok(out)
    }

    /// This node's shards fold their own series; every remote shard's replica folds its
    /// shard and sends back only the accumulators.
    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        let remote = self.start(ReadOp::Aggregate(req.clone()));
        let mut parts = self.local.aggregate(req)?.unwrap_or_default();
        for r in self.finish(remote)? {
            let ReadReply::Partials(p) = r else {
                return Err(unexpected("partial aggregation"));
            };
            parts.extend(p);
        }
        Ok(Some(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_survive_the_wire() {
        let m = vec![
            Matcher::equal("__name__", "up"),
            Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap(),
        ];
        let back = from_wire(&to_wire(&m)).unwrap();
        assert_eq!(to_wire(&back), to_wire(&m));
        let bad = vec![("~~".to_string(), "a".to_string(), "b".to_string())];
        assert!(matches!(from_wire(&bad), Err(NodeError::BadRequest(_))));
    }

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
