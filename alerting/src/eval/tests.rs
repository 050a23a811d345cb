//! One iteration at a time over fixed query results, checked against what Prometheus 3.5 does
//! (`rules/alerting_test.go`, `rules/group_test.go`, `rules/manager_test.go` scenarios).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use tidemark_storage::model::is_stale_nan;

use super::*;
use crate::Vector;
use crate::rules::PromDuration;
use crate::state::{AlertState, Health};

const MIN: i64 = 60_000;

/// A `QueryFn` over a map expr -> result (absent: empty vector); records its calls.
#[derive(Default)]
struct FakeQuery {
    results: RefCell<HashMap<String, Result<Vector, String>>>,
    /// Native histogram elements a rule's query answers after the floats.
    histograms: RefCell<HashMap<String, crate::Elements>>,
    calls: RefCell<Vec<(String, i64)>>,
}

impl QueryFn for FakeQuery {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vector, String> {
        self.calls.borrow_mut().push((expr.to_owned(), t_ms));
        self.results
            .borrow()
            .get(expr)
            .cloned()
            .unwrap_or(Ok(Vec::new()))
    }

    fn elements(&self, expr: &str, t_ms: i64) -> Result<crate::Elements, String> {
        let mut out: crate::Elements = self
            .instant(expr, t_ms)?
            .into_iter()
            .map(|(l, v)| (l, crate::Element::Float(v)))
            .collect();
        out.extend(
            self.histograms
                .borrow()
                .get(expr)
                .cloned()
                .unwrap_or_default(),
        );
        Ok(out)
    }
}

/// A group, its committed state and memo, evaluated iteration after iteration.
struct Harness {
    group: RuleGroup,
    state: GroupState,
    memo: SeriesMemo,
    query: FakeQuery,
    external_labels: BTreeMap<String, String>,
    external_url: String,
    interval_ms: i64,
    query_offset_ms: i64,
    resend_delay_ms: i64,
    /// The fake clock: each read advances it by 0.25 s.
    clock: Cell<f64>,
}

impl Harness {
    fn new(rules: Vec<Rule>) -> Self {
        Harness {
            group: RuleGroup {
                name: "g".into(),
                rules,
                ..RuleGroup::default()
            },
            state: GroupState::default(),
            memo: SeriesMemo::new(),
            query: FakeQuery::default(),
            external_labels: BTreeMap::new(),
            external_url: "http://ruler:9090".into(),
            interval_ms: MIN,
            query_offset_ms: 0,
            resend_delay_ms: MIN,
            clock: Cell::new(0.0),
        }
    }

    fn set(&self, expr: &str, result: Vector) {
        self.query
            .results
            .borrow_mut()
            .insert(expr.into(), Ok(result));
    }

    fn fail(&self, expr: &str, error: &str) {
        self.query
            .results
            .borrow_mut()
            .insert(expr.into(), Err(error.into()));
    }

    fn run(&mut self, ts_ms: i64) -> Iteration {
        let seconds = || {
            let now = self.clock.get() + 0.25;
            self.clock.set(now);
            now
        };
        let ctx = EvalContext {
            ts_ms,
            interval_ms: self.interval_ms,
            query_offset_ms: self.query_offset_ms,
            resend_delay_ms: self.resend_delay_ms,
            external_labels: &self.external_labels,
            external_url: &self.external_url,
            seconds: &seconds,
        };
        let it = evaluate(&self.group, &self.state, &ctx, &self.query, &mut self.memo);
        self.state = it.state.clone();
        it
    }

    fn alerts(&self, rule: usize) -> &[crate::state::Alert] {
        &self.state.rules[rule].alerts
    }
}

fn alert_rule(name: &str, expr: &str, for_ms: i64) -> Rule {
    Rule {
        alert: Some(name.into()),
        expr: expr.into(),
        for_: (for_ms > 0).then_some(PromDuration(for_ms)),
        ..Rule::default()
    }
}

fn record_rule(name: &str, expr: &str) -> Rule {
    Rule {
        record: Some(name.into()),
        expr: expr.into(),
        ..Rule::default()
    }
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn up(instance: &str) -> (Labels, f64) {
    (ls(&[("__name__", "up"), ("instance", instance)]), 0.0)
}

/// The `(labels, t, value)` of the samples whose `__name__` is `name`.
fn samples_of(it: &Iteration, name: &str) -> Vec<(Labels, i64, f64)> {
    it.samples
        .iter()
        .filter(|(l, _)| l.metric_name() == Some(name))
        .map(|(l, s)| (l.clone(), s.t, s.v))
        .collect()
}

fn stale_series(it: &Iteration) -> Vec<Labels> {
    it.samples
        .iter()
        .filter(|(_, s)| is_stale_nan(s.v))
        .map(|(l, _)| l.clone())
        .collect()
}

fn alerts_series(state: &str, instance: &str) -> Labels {
    ls(&[
        ("__name__", "ALERTS"),
        ("alertname", "Down"),
        ("alertstate", state),
        ("instance", instance),
    ])
}

fn for_state_series(instance: &str) -> Labels {
    ls(&[
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "Down"),
        ("instance", instance),
    ])
}

mod alert_states;
mod groups;
mod histograms;
mod recording;
mod sending;
mod templates;
