//! Rules over native histograms (Prometheus 3.5 `RecordingRule.Eval` appends histograms,
//! `AlertingRule.Eval` alerts on them with `smpl.F`, 0, and hands templates the histogram).

use tidemark_storage::histogram::{FloatHistogram, HistogramValue, Span};

use super::*;
use crate::{Element, RuleHistogram};

fn histogram(count: f64) -> Element {
    Element::Histogram(Box::new(RuleHistogram {
        h: FloatHistogram {
            count,
            sum: count * 2.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive: vec![count],
            ..FloatHistogram::default()
        },
        text: format!("{{count:{count}, sum:{}, [0.5,1]:{count}}}", count * 2.0),
    }))
}

#[test]
fn recording_rules_record_histograms_and_mark_them_stale() {
    let mut h = Harness::new(vec![record_rule(
        "job:latency:sum",
        "sum by (job) (latency)",
    )]);
    h.set(
        "sum by (job) (latency)",
        vec![(ls(&[("job", "floats")]), 4.0)],
    );
    h.query.histograms.borrow_mut().insert(
        "sum by (job) (latency)".into(),
        vec![(ls(&[("job", "api")]), histogram(3.0))],
    );
    let it = h.run(10 * MIN);
    assert_eq!(it.histograms.len(), 1);
    let (labels, sample) = &it.histograms[0];
    assert_eq!(
        *labels,
        ls(&[("__name__", "job:latency:sum"), ("job", "api")])
    );
    assert_eq!(sample.t, 10 * MIN);
    let HistogramValue::Float(fh) = &sample.h else {
        panic!("recorded as a float histogram");
    };
    assert_eq!((fh.count, fh.sum), (3.0, 6.0));
    assert_eq!(
        samples_of(&it, "job:latency:sum").len(),
        1,
        "the float beside it"
    );
    assert!(stale_series(&it).is_empty());

    // The histogram series is gone next time: a (float) staleness marker for it.
    h.query.histograms.borrow_mut().clear();
    let it = h.run(11 * MIN);
    assert!(it.histograms.is_empty());
    assert_eq!(stale_series(&it), std::slice::from_ref(labels));
}

#[test]
fn a_histogram_element_alerts_with_value_zero_and_templates_see_the_histogram() {
    let mut rule = alert_rule("Down", "latency", 0);
    rule.annotations
        .insert("summary".into(), "value {{ $value }}".into());
    let mut h = Harness::new(vec![rule]);
    h.query.histograms.borrow_mut().insert(
        "latency".into(),
        vec![(
            ls(&[("__name__", "latency"), ("instance", "a")]),
            histogram(2.0),
        )],
    );
    let it = h.run(10 * MIN);
    let alerts = h.alerts(0);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[0].value, 0.0);
    assert_eq!(
        alerts[0].annotations["summary"],
        "value {count:2, sum:4, [0.5,1]:2}"
    );
    assert_eq!(samples_of(&it, "ALERTS").len(), 1);
    assert_eq!(it.to_send.len(), 1);
}
