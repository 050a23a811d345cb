use super::*;

use tidemark_storage::histogram::FloatHistogram;

fn stored(schema: i32, zero_threshold: f64, zero_count: f64, positive: &[(i32, &[f64])]) -> Hist {
    let mut spans = Vec::new();
    let mut counts = Vec::new();
    let mut next = 0;
    for (i, (start, c)) in positive.iter().enumerate() {
        let offset = if i == 0 { *start } else { start - next };
        spans.push(Span {
            offset,
            length: c.len() as u32,
        });
        counts.extend_from_slice(c);
        next = start + c.len() as i32;
    }
    let h = FloatHistogram {
        schema,
        zero_threshold,
        zero_count,
        count: zero_count + counts.iter().sum::<f64>(),
        sum: 1.0,
        positive_spans: spans,
        positive: counts,
        ..FloatHistogram::default()
    };
    Hist::from_stored(&HistogramValue::Float(h))
}

#[test]
fn spans_expand_to_indexes() {
    let h = stored(0, 0.0, 0.0, &[(-1, &[1.0, 2.0]), (4, &[3.0])]);
    let idx: Vec<i32> = h.positive.iter().map(|b| b.index).collect();
    assert_eq!(idx, vec![-1, 0, 4]);
}

#[test]
fn buckets_go_back_to_spans() {
    let h = stored(0, 0.0, 0.0, &[(-1, &[1.0, 2.0]), (4, &[3.0, 0.0])]);
    let back = Hist::from_stored(&HistogramValue::Float(h.to_stored()));
    assert_eq!(back, h);
    assert_eq!(
        h.to_stored().positive_spans,
        vec![
            Span {
                offset: -1,
                length: 2
            },
            Span {
                offset: 3,
                length: 2
            }
        ]
    );
}

#[test]
fn exponential_bounds_follow_the_schema() {
    // Schema 0: bucket i is (2^(i-1), 2^i].
    assert_eq!(bound(0, 0, &[]), 1.0);
    assert_eq!(bound(3, 0, &[]), 8.0);
    assert_eq!(bound(-2, 0, &[]), 0.25);
    // Schema 1: sqrt(2) per bucket.
    assert!((bound(1, 1, &[]) - std::f64::consts::SQRT_2).abs() < 1e-15);
    // Schema -1: bucket i is (4^(i-1), 4^i].
    assert_eq!(bound(2, -1, &[]), 16.0);
    // The last finite bucket ends at the largest float, the next at +Inf.
    assert_eq!(bound(1024, 0, &[]), f64::MAX);
    assert_eq!(bound(1025, 0, &[]), f64::INFINITY);
    assert_eq!(bound(256, -2, &[]), f64::MAX);
    // Far below one: subnormal, then zero.
    assert_eq!(bound(-1074, 0, &[]), f64::from_bits(1));
    assert_eq!(bound(-1200, 0, &[]), 0.0);
    // Custom bounds: -Inf below the first, +Inf above the last.
    let custom = [1.0, 5.0];
    assert_eq!(bound(-1, CUSTOM_BUCKETS_SCHEMA, &custom), f64::NEG_INFINITY);
    assert_eq!(bound(1, CUSTOM_BUCKETS_SCHEMA, &custom), 5.0);
    assert_eq!(bound(2, CUSTOM_BUCKETS_SCHEMA, &custom), f64::INFINITY);
}

#[test]
fn buckets_list_from_the_lowest_values_up_and_back() {
    let mut h = stored(0, 0.5, 2.0, &[(0, &[1.0, 3.0])]);
    h.negative = vec![Bucket {
        index: 1,
        count: 4.0,
    }];
    let up: Vec<(f64, f64, u8, f64)> = h
        .buckets_ascending()
        .map(|b| (b.lower, b.upper, b.boundary_rule(), b.count))
        .collect();
    assert_eq!(
        up,
        vec![
            (-2.0, -1.0, 1, 4.0),
            (-0.5, 0.5, 3, 2.0),
            // (0.5, 1]: the bucket (0.5, 1] is cut at the zero threshold.
            (0.5, 1.0, 0, 1.0),
            (1.0, 2.0, 0, 3.0),
        ]
    );
    let mut down: Vec<_> = h.buckets_descending().map(|b| b.count).collect();
    down.reverse();
    assert_eq!(down, up.iter().map(|b| b.3).collect::<Vec<_>>());
    // Custom buckets: the first includes its lower bound (-Inf).
    let mut c = stored(CUSTOM_BUCKETS_SCHEMA, 0.0, 0.0, &[(0, &[1.0, 2.0, 3.0])]);
    c.custom_values = vec![1.0, 2.0].into();
    let rules: Vec<(f64, f64, u8)> = c
        .buckets_ascending()
        .map(|b| (b.lower, b.upper, b.boundary_rule()))
        .collect();
    assert_eq!(
        rules,
        vec![
            (f64::NEG_INFINITY, 1.0, 3),
            (1.0, 2.0, 0),
            (2.0, f64::INFINITY, 0)
        ]
    );
}

#[test]
fn a_gauge_keeps_its_hint_and_counters_are_compared() {
    let mut f = FloatHistogram {
        hint: ResetHint::NotReset,
        ..FloatHistogram::default()
    };
    assert_eq!(
        Hist::from_stored(&HistogramValue::Float(f.clone())).hint,
        ResetHint::Unknown
    );
    f.hint = ResetHint::Gauge;
    assert_eq!(
        Hist::from_stored(&HistogramValue::Float(f)).hint,
        ResetHint::Gauge
    );
}

#[test]
fn histograms_print_as_prometheus_prints_them() {
    assert_eq!(go_g(1e-5), "1e-05");
    assert_eq!(go_g(1.5e21), "1.5e+21");
    assert_eq!(go_g(123456.0), "123456");
    assert_eq!(go_g(1e6), "1e+06");
    assert_eq!(go_g(1234567.0), "1.234567e+06");
    assert_eq!(go_g(0.001), "0.001");
    let mut h = stored(0, 0.001, 2.0, &[(0, &[1.0, 2.0])]);
    h.count = 20.0;
    h.sum = 10.0;
    h.negative = vec![
        Bucket {
            index: 0,
            count: 1.0,
        },
        Bucket {
            index: 1,
            count: 2.0,
        },
    ];
    assert_eq!(
        h.go_string(),
        "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}"
    );
}
