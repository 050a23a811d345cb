//! What expiry of whole partitions and `Command::Delete` hide stays hidden from every read.

use super::*;

pub(crate) fn expire_partitions(f: &mut dyn Factory) {
    let e = f.make(opts());
    let l = up("a");
    write(
        &*e,
        1,
        &l,
        samples(&[(1000, 1.0), (2 * H + 1000, 2.0), (4 * H + 1000, 3.0)]),
    );
    write(&*e, 2, &up("old"), samples(&[(1000, 1.0)]));
    e.flush(S, b"m").unwrap();
    // Partitions [0, 2h) and [2h, 4h) end at or before 4h + 5 s.
    e.apply(
        S,
        3,
        &Command::Expire {
            before_ms: 4 * H + 5000,
        },
    )
    .unwrap();
    let got = select(&*e, &[eq("__name__", "up")], 0, 10 * H);
    assert_eq!(names(&got), vec![r#"up{job="a"}"#]);
    assert_eq!(got[0].samples, samples(&[(4 * H + 1000, 3.0)]));
    assert_eq!(
        e.label_values(S, "job", &[], 0, 10 * H).unwrap(),
        set(&["a"])
    );
    e.flush(S, b"m").unwrap();
    write(&*e, 4, &l, samples(&[(2000, 5.0)]));
    let got = select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, samples(&[(4 * H + 1000, 3.0)]));
}

pub(crate) fn delete_hides_samples(f: &mut dyn Factory) {
    let e = f.make(opts());
    let (a, b) = (up("a"), up("b"));
    let points: Vec<(i64, f64)> = (0..10).map(|i| (i * H / 2, i as f64)).collect();
    write(&*e, 1, &a, samples(&points));
    write(&*e, 2, &b, samples(&points));
    e.flush(S, b"m").unwrap();
    let ids = e
        .matching_series(S, &[eq("job", "a")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(ids, vec![e.series_id(S, &a).unwrap()]);
    let before = e.digest(S).unwrap();
    // Delete [1h, 3h] of job a: the samples at 1h, 1.5h, ..., 3h go.
    e.apply(
        S,
        3,
        &Command::Delete {
            series: ids.clone(),
            mint_ms: H,
            maxt_ms: 3 * H,
        },
    )
    .unwrap();
    assert_ne!(e.digest(S).unwrap(), before);
    let kept: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|&(t, _)| !(H..=3 * H).contains(&t))
        .collect();
    let got = select(&*e, &[eq("__name__", "up")], i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, samples(&kept));
    assert_eq!(got[1].samples, samples(&points), "job b untouched");
    // Samples written into the deleted range later stay hidden, as with Prometheus' tombstones.
    write(&*e, 4, &a, samples(&[(2 * H + 1, 42.0), (5 * H, 5.5)]));
    let got = select(&*e, &[eq("job", "a")], 0, 5 * H);
    assert!(got[0].samples.iter().all(|s| !(H..=3 * H).contains(&s.t)));
    assert!(got[0].samples.contains(&Sample::new(5 * H, 5.5)));
    // Inside the deleted range the series is gone from every lookup; outside it is not.
    assert!(select(&*e, &[eq("job", "a")], H, 3 * H).is_empty());
    assert_eq!(e.series(S, &[], H + 1, 3 * H).unwrap(), vec![b.clone()]);
    assert_eq!(e.series(S, &[], 0, 3 * H).unwrap().len(), 2);
    assert_eq!(
        e.label_values(S, "job", &[], H, 2 * H).unwrap(),
        set(&["b"])
    );
    assert_eq!(
        e.label_values(S, "job", &[eq("__name__", "up")], H, 2 * H)
            .unwrap(),
        set(&["b"])
    );
    // Sealing and flushing keep the deletion.
    e.apply(
        S,
        5,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    e.flush(S, b"m").unwrap();
    let got = select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX);
    assert!(got[0].samples.iter().all(|s| !(H..=3 * H).contains(&s.t)));
    assert_eq!(got[0].samples.len(), kept.len() + 1);
    // Deleting everything removes the series from every answer.
    e.apply(
        S,
        6,
        &Command::Delete {
            series: ids,
            mint_ms: i64::MIN,
            maxt_ms: i64::MAX,
        },
    )
    .unwrap();
    assert!(select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX).is_empty());
    assert_eq!(
        e.series(S, &[], i64::MIN, i64::MAX).unwrap(),
        vec![b.clone()]
    );
    assert_eq!(
        e.label_values(S, "job", &[], i64::MIN, i64::MAX).unwrap(),
        set(&["b"])
    );
}
