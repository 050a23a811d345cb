//! One iteration of a rule group (Prometheus 3.5 `rules/group.go` `Eval`, `rules/alerting.go`,
//! `rules/recording.go`, `rules/manager.go` `SendAlerts`): queries, the alert state machine,
//! the samples to write and the alerts to send, as a pure function of the group, its committed
//! state, the data and the [`SeriesMemo`].
//!
//! - [`alerting`]: one alerting rule (labels, templates, `ALERTS` samples, what is sent).
//! - [`recording`]: one recording rule.
//! - [`staleness`]: which series a rule wrote last time, for staleness markers.

mod alerting;
mod recording;
mod staleness;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::model::STALE_NAN_BITS;
use tidemark_storage::{Label, Labels, Sample};

use crate::QueryFn;
use crate::rules::{Rule, RuleGroup};
use crate::state::{GroupState, Health, RuleState};

pub use alerting::{ALERT_NAME, ALERT_STATE, ALERTS_FOR_STATE_METRIC, ALERTS_METRIC};
pub use staleness::SeriesMemo;

/// What an iteration needs besides the group and its prior state.
pub struct EvalContext<'a> {
    /// The iteration's evaluation time (ms), from [`crate::schedule`].
    pub ts_ms: i64,
    /// The group's interval (ms).
    pub interval_ms: i64,
    /// The group's `query_offset`, or the global `rule_query_offset` (ms).
    pub query_offset_ms: i64,
    /// How long a firing alert waits before it is sent again (Prometheus' 1 m).
    pub resend_delay_ms: i64,
    /// The ruler's external labels: added to sent alerts, visible to templates.
    pub external_labels: &'a BTreeMap<String, String>,
    /// The ruler's external URL: prefix of `generatorURL`, visible to templates.
    pub external_url: &'a str,
    /// A monotonic clock in seconds, to time evaluations (the one thing read beside the data).
    pub seconds: &'a dyn Fn() -> f64,
}

/// An alert as sent to Alertmanager (`POST /api/v2/alerts`).
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingAlert {
    /// The alert's labels with the external labels added (the alert's own win).
    pub labels: Labels,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt`: when it fired (ms).
    pub starts_at_ms: i64,
    /// `endsAt`: when it resolved, or the evaluation time + 4 x max(resend delay, interval).
    pub ends_at_ms: i64,
    /// `generatorURL`: the external URL's graph link for the rule's expression.
    pub generator_url: String,
}

/// What one iteration produced.
#[derive(Clone, Debug, Default)]
pub struct Iteration {
    /// The group's state after it: what the leader commits before anything is sent.
    pub state: GroupState,
    /// Samples to write: `ALERTS`, `ALERTS_FOR_STATE`, recording-rule outputs, staleness
    /// markers of series a rule no longer returns.
    pub samples: Vec<(Labels, Sample)>,
    /// Native histograms recording rules returned (their staleness markers are float stale
    /// markers in `samples`, as Prometheus writes them).
    pub histograms: Vec<(Labels, HistogramSample)>,
    /// Alerts to send once `state` is committed.
    pub to_send: Vec<OutgoingAlert>,
}

/// Runs one iteration of `group` at `ctx.ts_ms` from its committed state `prior` (Prometheus'
/// `Group.Eval` with `Group.CopyState` folded in).
///
/// Rules run in order, each querying at `ts_ms - query_offset_ms`; rule i resumes from the
/// prior state with its [`Rule::identity`] (the first one not yet taken, as Prometheus'
/// `CopyState` matches by name and labels), or from nothing. Samples (recording-rule outputs,
/// `ALERTS`, `ALERTS_FOR_STATE`, staleness markers) are stamped `ts_ms - query_offset_ms`.
/// `memo` is read for the series each rule wrote last time and updated to this iteration's:
/// a series a rule (or a rule since removed from the group) wrote last time and no rule wrote
/// now gets a staleness marker, after the iteration's other samples.
///
/// A rule whose evaluation fails gets `Health::Err`, its error, and counts in
/// `failed_evaluations`; it writes no samples and no staleness markers, and its memo entry is
/// kept for the next successful evaluation.
///
/// **Deliberate difference from Prometheus:** when an alerting rule's evaluation fails (query
/// error, duplicate label sets; not `limit`, which drops the alerts as Prometheus does), its
/// previous alerts are kept unchanged (their state does not advance) and the send step still
/// runs for them, so firing alerts keep being re-sent with a fresh `endsAt` and Alertmanager
/// does not resolve them because queries fail. Prometheus sends only after a successful
/// evaluation.
pub fn evaluate(
    group: &RuleGroup,
    prior: &GroupState,
    ctx: &EvalContext<'_>,
    query: &dyn QueryFn,
    memo: &mut SeriesMemo,
) -> Iteration {
    let started = (ctx.seconds)();
    let mut prior_rules =
        ByIdentity::new(prior.rules.iter().map(|r| (r.identity.clone(), r.clone())));
    let mut prior_series = memo.take();
    let mut out = Iteration {
        state: GroupState {
            last_evaluation_ms: Some(ctx.ts_ms),
            evaluation_seconds: 0.0,
            iterations: prior.iterations + 1,
            missed_iterations: prior.missed_iterations,
            failed_evaluations: prior.failed_evaluations,
            rules: Vec::with_capacity(group.rules.len()),
        },
        samples: Vec::new(),
        histograms: Vec::new(),
        to_send: Vec::new(),
    };
    let sample_ts_ms = ctx.ts_ms - ctx.query_offset_ms;
    // Series written by some rule now, and series some rule wrote last time but not now.
    let mut written_now: HashSet<Labels> = HashSet::new();
    let mut stale: BTreeSet<Labels> = BTreeSet::new();

    for (index, rule) in group.rules.iter().enumerate() {
        let rule_started = (ctx.seconds)();
        let identity = rule.identity();
        let mut state = prior_rules
            .take(&identity)
            .unwrap_or_else(|| RuleState::new(identity.clone()));
        let previous = prior_series.take(&identity).unwrap_or_default();

        let result = if rule.is_alerting() {
            alerting::eval(rule, group, ctx, query, &mut state)
        } else {
            state.alerts.clear();
            recording::eval(rule, group, ctx, query)
        };
        let written = match result {
            Ok(w) => {
                query.rule_written(index, &w);
                state.health = Health::Ok;
                state.last_error.clear();
                let written: BTreeSet<Labels> = (w.samples.iter().map(|(l, _)| l.clone()))
                    .chain(w.histograms.iter().map(|(l, _)| l.clone()))
                    .collect();
                out.samples.extend(w.samples);
                out.histograms.extend(w.histograms);
                stale.extend(previous.difference(&written).cloned());
                written_now.extend(written.iter().cloned());
                written
            }
            Err(error) => {
                state.health = Health::Err;
                state.last_error = error;
                out.state.failed_evaluations += 1;
                previous
            }
        };
        memo.insert(identity, written);
        if rule.is_alerting() {
            out.to_send.extend(alerting::send(rule, ctx, &mut state));
        }

        state.last_evaluation_ms = Some(ctx.ts_ms);
        state.evaluation_seconds = (ctx.seconds)() - rule_started;
        out.state.rules.push(state);
    }

    // Rules no longer in the group: their series go stale too (Prometheus' `staleSeries`).
    stale.extend(prior_series.into_rest().flatten());
    // Not a series another rule wrote now: Prometheus' store refuses the second sample at the
    // same timestamp, whichever comes second; here the real sample always wins.
    let stale_nan = f64::from_bits(STALE_NAN_BITS);
    out.samples.extend(
        stale
            .into_iter()
            .filter(|l| !written_now.contains(l))
            .map(|l| (l, Sample::new(sample_ts_ms, stale_nan))),
    );

    out.state.evaluation_seconds = (ctx.seconds)() - started;
    out
}

/// Values keyed by a rule identity, several per identity in order; each taken once (the
/// matching of Prometheus' `CopyState`: the first unused one with the same name and labels).
pub(crate) struct ByIdentity<T> {
    by_identity: HashMap<String, VecDeque<T>>,
}

impl<T> ByIdentity<T> {
    pub(crate) fn new(items: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut by_identity: HashMap<String, VecDeque<T>> = HashMap::new();
        for (identity, item) in items {
            by_identity.entry(identity).or_default().push_back(item);
        }
        ByIdentity { by_identity }
    }

    pub(crate) fn take(&mut self, identity: &str) -> Option<T> {
        self.by_identity.get_mut(identity)?.pop_front()
    }

    /// What no rule took.
    fn into_rest(self) -> impl Iterator<Item = T> {
        self.by_identity.into_values().flatten()
    }
}

/// Label maps, for building label sets by name: an empty value removes a label.
fn to_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn from_map(map: BTreeMap<String, String>) -> Labels {
    Labels::new(map.into_iter().map(|(n, v)| Label::new(n, v)).collect())
}

/// The group's labels overridden by the rule's (Prometheus 3's `FromMaps(group, rule)`).
fn rule_labels<'a>(group: &'a RuleGroup, rule: &'a Rule) -> BTreeMap<&'a str, &'a str> {
    group
        .labels
        .iter()
        .chain(&rule.labels)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests;
