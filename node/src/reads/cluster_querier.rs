//! The querier of one query over every shard: this node's replicas from its engine, the others
//! from a replica on another node.

use std::collections::BTreeSet;

use futures::future::join_all;
use tidemark_query::{
    EngineQuerier, Partial, PartialRequest, Querier, QueryError, QueryErrorKind, QuerySeriesIter,
};
use tidemark_storage::history::HistoryMark;
use tidemark_storage::{Labels, Matcher, RolledSeries, SeriesSamples, ShardId, TierChoice};
use tokio::task::JoinHandle;

use super::protocol::{ReadOp, ReadReply, ReadRequest, decode_batch, read, read_stream};
use crate::error::{ErrorKind, NodeError};
use crate::peer::{Peer, Peers};
use crate::request::to_wire;

/// Where a query reads one shard it holds no replica of.
#[derive(Clone, Debug)]
pub struct RemoteShard {
    pub shard: ShardId,
    /// The node to read from.
    pub peer: Peer,
    /// The log index that node must have applied (its read index for a linearizable read).
    pub min_index: u64,
    /// Whether that node reads rollup tiers (command level 2 or above): an older one holds
    /// none and is not asked for them.
    pub tiers: bool,
    /// Whether that node reads series up to a limit (`ReadOp::SeriesLimited`, level 5 or
    /// above); an older one is asked for all and cut here.
    pub series_limit: bool,
    /// Whether that node computes a range function's series for its shard (level 6 or
    /// above); while an older one holds a shard, such a query reads the raw series.
    pub series_parts: bool,
    /// Whether that node tells its shard's history mark (`ReadOp::HistoryMarks`, level 7 or
    /// above); while an older one holds a shard, range results are not cached.
    pub history_marks: bool,
}

/// A querier over every shard: this node's replicas from its engine, the others remotely.
pub struct ClusterQuerier {
    local: EngineQuerier,
    remote: Vec<RemoteShard>,
    peers: Peers,
    runtime: tokio::runtime::Handle,
    timeout_ms: u64,
    samples_max: u64,
}

impl ClusterQuerier {
    /// Must be called on the runtime (it keeps a handle to it for the remote reads).
    pub fn new(
        local: EngineQuerier,
        remote: Vec<RemoteShard>,
        peers: Peers,
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
        self.finish(self.start(op, |_| true))
    }

    /// Starts `op` on every remote shard `which` selects, on the runtime, while this thread
    /// goes on.
    fn start(
        &self,
        op: ReadOp,
        which: impl Fn(&RemoteShard) -> bool,
    ) -> Option<JoinHandle<Vec<Result<ReadReply, NodeError>>>> {
        if self.remote.is_empty() {
            return None;
        }
        let calls: Vec<_> = self
            .remote
            .iter()
            .filter(|r| which(r))
            .map(|r| {
                let req = self.request(r, &op);
                let (peers, r) = (self.peers.clone(), r.clone());
                async move { read(&peers, r.shard, &r.peer, &req).await }
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
    batch: std::vec::IntoIter<SeriesSamples>,
}

impl Iterator for RemoteSeries {
    type Item = Result<SeriesSamples, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(s) = self.batch.next() {
                return Some(Ok(s));
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
                Ok(Ok(Some(reply))) => match decode_batch(&reply).map(ReadReply::into_selected) {
                    Ok(Some(batch)) => self.batch = batch.into_iter(),
                    Ok(None) => {
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
    match (e.kind(), e) {
        (_, NodeError::BadRequest(m)) => QueryError::execution(m),
        (_, NodeError::NotImplemented(m)) => QueryError::not_implemented(m),
        (_, NodeError::Internal(m)) => QueryError::new(QueryErrorKind::Internal, m),
        (_, NodeError::Timeout(m)) => QueryError::new(QueryErrorKind::Timeout, m),
        (ErrorKind::BadRequest, e) => QueryError::execution(e.to_string()),
        (ErrorKind::NotImplemented, e) => QueryError::not_implemented(e),
        (ErrorKind::Internal, e) => QueryError::new(QueryErrorKind::Internal, e.to_string()),
        (ErrorKind::Timeout, e) => QueryError::new(QueryErrorKind::Timeout, e.to_string()),
        (ErrorKind::NoLeader | ErrorKind::Overloaded | ErrorKind::Unavailable, e) => {
            QueryError::new(QueryErrorKind::Unavailable, e.to_string())
        }
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
                match read_stream(peers, r.shard, &r.peer, &req).await? {
                    Some(stream) => Ok(Ok(stream)),
                    // A node of an older version: its whole answer in one reply.
                    None => read(peers, r.shard, &r.peer, &req).await.map(Err),
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
                Err(reply) => match reply.into_selected() {
                    Some(series) => whole.extend(series),
                    None => return Err(unexpected("select")),
                },
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

    fn select_rolled(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        let op = ReadOp::Rolled {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
            tiers,
        };
        let remote = self.start(op, |r| r.tiers);
        let mut out = self
            .local
            .select_rolled(matchers, mint_ms, maxt_ms, tiers)?;
        for r in self.finish(remote)? {
            let ReadReply::Rolled(rolled) = r else {
                return Err(unexpected("rollup windows"));
            };
            out.extend(rolled);
        }
        Ok(out)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        self.series_limited(matchers, mint_ms, maxt_ms, usize::MAX)
    }

    /// Every shard sends its first `limit` (nodes older than `SeriesLimited` send all): among
    /// them are the first `limit` of all, each shard's series being distinct.
    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        let limited = ReadOp::SeriesLimited {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
        };
        let all = ReadOp::Series {
            matchers: to_wire(matchers),
            mint_ms,
            maxt_ms,
        };
        let (newer, older) = (
            self.start(limited, |r| r.series_limit),
            self.start(all, |r| !r.series_limit),
        );
        let mut out: BTreeSet<Labels> = self
            .local
            .series_limited(matchers, mint_ms, maxt_ms, limit)?
            .into_iter()
            .collect();
        for started in [newer, older] {
            for r in self.finish(started)? {
                let ReadReply::LabelSets(sets) = r else {
                    return Err(unexpected("series"));
                };
                out.extend(sets);
                tidemark_storage::keep_first(&mut out, limit);
            }
        }
        Ok(out.into_iter().collect())
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
    /// shard and sends back only the accumulators (or a range function's series, from nodes
    /// that compute them).
    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        if self.remote.iter().any(|r| !r.series_parts) && !req.is_aggregation() {
            return Ok(None);
        }
        let remote = self.start(ReadOp::Aggregate(req.clone()), |_| true);
        let mut parts = self.local.aggregate(req)?.unwrap_or_default();
        for r in self.finish(remote)? {
            let ReadReply::Partials(p) = r else {
                return Err(unexpected("partial aggregation"));
            };
            parts.extend(p);
        }
        Ok(Some(parts))
    }

    /// This node's marks from its engine, every remote shard's from the replica it is read
    /// from, once that replica has applied the read's index.
    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        if self.remote.iter().any(|r| !r.history_marks) {
            return Ok(None);
        }
        let remote = self.start(ReadOp::HistoryMarks, |_| true);
        let local = self.local.history_marks()?;
        let replies = self.finish(remote)?;
        let Some(mut marks) = local else {
            return Ok(None);
        };
        for r in replies {
            let ReadReply::Marks(m) = r else {
                return Err(unexpected("history marks"));
            };
            let Some(m) = m else { return Ok(None) };
            marks.extend(m);
        }
        marks.sort_by_key(|(shard, _)| *shard);
        Ok(Some(marks))
    }
}
