use super::*;

fn span(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

fn valid() -> IntHistogram {
    Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 2,
        count: 12,
        sum: 18.5,
        positive_spans: vec![span(-2, 2), span(1, 1)],
        positive: vec![1, 2, 3],
        negative_spans: vec![span(0, 1)],
        negative: vec![4],
        ..Histogram::default()
    }
}

fn custom() -> FloatHistogram {
    Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3.0,
        sum: 2.0,
        positive_spans: vec![span(0, 2), span(1, 1)],
        positive: vec![1.0, 1.0, 1.0],
        custom_values: vec![0.1, 1.0, 10.0],
        ..Histogram::default()
    }
}

#[test]
fn a_valid_histogram_passes_in_both_kinds() {
    assert_eq!(valid().validate(), Ok(()));
    assert_eq!(valid().to_float().validate(), Ok(()));
    assert_eq!(custom().validate(), Ok(()));
    assert_eq!(
        IntHistogram::stale_marker().validate(),
        Ok(()),
        "a stale marker is valid"
    );
}

#[test]
fn each_rule_refuses_what_it_names() {
    let int = |f: &dyn Fn(&mut IntHistogram)| {
        let mut h = valid();
        f(&mut h);
        h.validate().unwrap_err()
    };
    let cust = |f: &dyn Fn(&mut FloatHistogram)| {
        let mut h = custom();
        f(&mut h);
        h.validate().unwrap_err()
    };
    assert_eq!(int(&|h| h.schema = 9), InvalidHistogram::Schema(9));
    assert_eq!(int(&|h| h.schema = -5), InvalidHistogram::Schema(-5));
    assert_eq!(
        int(&|h| h.positive_spans[1].offset = -1),
        InvalidHistogram::NegativeOffset {
            side: "positive",
            number: 2,
            offset: -1
        }
    );
    assert_eq!(
        int(&|h| h.negative.push(1)),
        InvalidHistogram::SpansBucketsMismatch {
            side: "negative",
            spans: 1,
            buckets: 2
        }
    );
    assert_eq!(
        int(&|h| h.count = 11),
        InvalidHistogram::CountMismatch {
            buckets: 12,
            count: 11
        }
    );
    assert_eq!(
        int(&|h| h.count = 13),
        InvalidHistogram::CountMismatch {
            buckets: 12,
            count: 13
        }
    );
    assert_eq!(
        int(&|h| {
            h.sum = f64::NAN;
            h.count = 11;
        }),
        InvalidHistogram::CountNotBigEnough {
            buckets: 12,
            count: 11
        }
    );
    assert!(matches!(
        int(&|h| h.zero_threshold = -1.0),
        InvalidHistogram::ZeroThreshold(_)
    ));
    assert!(matches!(
        int(&|h| h.zero_threshold = f64::NAN),
        InvalidHistogram::ZeroThreshold(_)
    ));
    assert_eq!(
        int(&|h| h.custom_values = vec![1.0]),
        InvalidHistogram::ExponentialWithCustomBounds
    );
    // Counts that overflow u64 when summed are compared exactly.
    assert_eq!(
        int(&|h| {
            h.positive = vec![u64::MAX, u64::MAX, 0];
            h.zero_count = 0;
            h.negative = vec![0];
            h.count = u64::MAX;
        }),
        InvalidHistogram::CountMismatch {
            buckets: 2 * u128::from(u64::MAX),
            count: u64::MAX
        }
    );

    assert!(matches!(
        cust(&|h| h.custom_values = vec![1.0, 0.5, 10.0]),
        InvalidHistogram::CustomBoundsOrder { .. }
    ));
    assert!(matches!(
        cust(&|h| h.custom_values = vec![1.0, f64::NAN, 10.0]),
        InvalidHistogram::CustomBoundsOrder { .. }
    ));
    assert_eq!(
        cust(&|h| h.custom_values = vec![0.1, 1.0, f64::INFINITY]),
        InvalidHistogram::CustomBoundsInfinite
    );
    assert_eq!(
        cust(&|h| h.custom_values = vec![0.1]),
        InvalidHistogram::CustomBoundsTooFew {
            spans: 4,
            bounds: 1
        }
    );
    assert_eq!(
        cust(&|h| h.positive_spans[0].offset = -1),
        InvalidHistogram::NegativeOffset {
            side: "positive",
            number: 1,
            offset: -1
        }
    );
    assert_eq!(
        cust(&|h| h.zero_count = 1.0),
        InvalidHistogram::CustomZeroCount
    );
    assert_eq!(
        cust(&|h| h.zero_threshold = 0.5),
        InvalidHistogram::CustomZeroThreshold
    );
    assert_eq!(
        cust(&|h| {
            h.negative_spans = vec![span(0, 1)];
            h.negative = vec![1.0];
        }),
        InvalidHistogram::CustomNegative
    );
    assert!(matches!(
        cust(&|h| h.positive[2] = -1.0),
        InvalidHistogram::NegativeBucket { number: 3, .. }
    ));
}

#[test]
fn float_counts_are_not_held_to_their_buckets_sum() {
    let mut h = valid().to_float();
    h.count = 12.000000001;
    assert_eq!(h.validate(), Ok(()));
}

#[test]
fn identical_compares_bits_and_kind() {
    let a = HistogramValue::Int(IntHistogram::stale_marker());
    assert!(a.identical(&a.clone()));
    assert!(a.is_stale());
    let mut nan = valid();
    nan.sum = f64::NAN;
    assert!(nan.identical(&nan.clone()), "NaN sums compare by bits");
    let mut hinted = valid();
    hinted.hint = ResetHint::NotReset;
    assert!(!hinted.identical(&valid()));
    assert!(!HistogramValue::Int(valid()).identical(&HistogramValue::Float(valid().to_float())));
    let mut other_count = valid().to_float();
    other_count.positive[0] = -0.0;
    assert!(!other_count.identical(&{
        let mut z = valid().to_float();
        z.positive[0] = 0.0;
        z
    }));
}

#[test]
fn layouts_are_bounded() {
    let mut h = valid();
    h.positive_spans = vec![span(0, 0); SPANS_MAX + 1];
    h.positive = vec![];
    h.count = 6;
    assert_eq!(
        h.validate(),
        Err(InvalidHistogram::TooManySpans {
            side: "positive",
            spans: SPANS_MAX + 1
        })
    );
    let mut c = custom();
    c.custom_values = (0..=CUSTOM_VALUES_MAX).map(|i| i as f64).collect();
    assert_eq!(
        c.validate(),
        Err(InvalidHistogram::TooManyCustomValues(CUSTOM_VALUES_MAX + 1))
    );
}
