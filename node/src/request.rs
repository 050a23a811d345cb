//! What travels between the parts of a node and between nodes: a write part and a delete on
//! their way to a shard's batcher (possibly through another node), a change of a group's
//! members, and what each did; the state of a group as a node reports it. Serialised with
//! bincode inside `tidemark.node.v1` payloads (`peer::wire`): a change to one of these types is
//! a wire-format change.

use serde::{Deserialize, Serialize};
pub use tidemark_api::{GroupStatus, MemberOutcome};
use tidemark_storage::{MatchOp, Matcher};

use crate::error::NodeError;
use crate::raft::NodeId;

/// One series' samples in a write request (remote-write decoding makes them).
pub use tidemark_ingest::SeriesWrite;

/// One series' native histogram samples in a write request.
pub use tidemark_ingest::HistogramWrite;

/// What keeping a request's metric metadata did (`Node::record_metadata`). Metadata never
/// holds samples back: what is not kept is counted, and agents send it again (remote-write
/// 2.0 with every request, 1.0 every minute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetadataOutcome {
    /// Entries the meta group did not hold, now committed.
    pub stored: usize,
    /// Entries left out because the map is full: `metadata_metrics_max` names, 8 entries for
    /// the name, or 64 MiB.
    pub full: usize,
    /// Entries not kept now: a node of the cluster does not apply metadata yet (a rolling
    /// upgrade) or could not be asked, or the meta group did not commit them.
    pub unavailable: usize,
}

/// What a write did. A write returns `Ok` only when every accepted sample is committed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// Samples committed (identical duplicates of stored samples count as written: they are).
    pub samples_written: usize,
    /// Samples rejected as older than the out-of-order window.
    pub too_old: usize,
    /// Samples rejected as further ahead of the receiving node's clock than `future_window_ms`.
    pub too_new: usize,
    /// Samples rejected because another value is stored at the same timestamp.
    pub conflicting: usize,
    /// Series written (including new ones).
    pub series_written: usize,
    /// New series not created because a shard held its share of a cardinality limit
    /// (`series_limits.rs`).
    pub series_limited: usize,
    /// Samples of those series, not written.
    pub samples_limited: usize,
}

impl WriteOutcome {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &WriteOutcome) {
        self.samples_written += o.samples_written;
        self.too_old += o.too_old;
        self.too_new += o.too_new;
        self.conflicting += o.conflicting;
        self.series_written += o.series_written;
        self.series_limited += o.series_limited;
        self.samples_limited += o.samples_limited;
    }
}

/// [`WriteOutcome`] as builds before cardinality limits encode it: what a node sends when no
/// series was limited, so that a node of the previous build still reads its answers, and what
/// it reads from such a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcomeV1 {
    pub samples_written: usize,
    pub too_old: usize,
    pub too_new: usize,
    pub conflicting: usize,
    pub series_written: usize,
}

impl From<WriteOutcomeV1> for WriteOutcome {
    fn from(o: WriteOutcomeV1) -> Self {
        WriteOutcome {
            samples_written: o.samples_written,
            too_old: o.too_old,
            too_new: o.too_new,
            conflicting: o.conflicting,
            series_written: o.series_written,
            series_limited: 0,
            samples_limited: 0,
        }
    }
}

impl WriteOutcome {
    /// The short form, when nothing was limited.
    pub fn as_v1(&self) -> Option<WriteOutcomeV1> {
        (self.series_limited == 0 && self.samples_limited == 0).then_some(WriteOutcomeV1 {
            samples_written: self.samples_written,
            too_old: self.too_old,
            too_new: self.too_new,
            conflicting: self.conflicting,
            series_written: self.series_written,
        })
    }
}

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

/// A `delete_series` request: the samples in `[mint_ms, maxt_ms]` of every series one of the
/// selectors matches (a selector is a set of matchers that must all match).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Per selector, its matchers ([`WireMatchers`]).
    pub selectors: Vec<WireMatchers>,
    pub mint_ms: i64,
    pub maxt_ms: i64,
}

impl DeleteRequest {
    /// A request for `selectors` over `[mint_ms, maxt_ms]`.
    pub fn new(selectors: &[Vec<Matcher>], mint_ms: i64, maxt_ms: i64) -> Self {
        DeleteRequest {
            selectors: selectors.iter().map(|sel| to_wire(sel)).collect(),
            mint_ms,
            maxt_ms,
        }
    }

    /// The selectors as storage matchers.
    pub fn selectors(&self) -> Result<Vec<Vec<Matcher>>, NodeError> {
        self.selectors.iter().map(from_wire).collect()
    }
}

/// A change of one group's voters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberOp {
    /// Adds `node` (reached at gRPC address `addr`) as a voter: first as a learner, promoted
    /// once it has caught up.
    Add { node: NodeId, addr: String },
    /// Removes `node` from the group.
    Remove { node: NodeId },
    /// Moves the group's leadership to voter `node` (answered once it leads).
    TransferLeader { node: NodeId },
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
}
