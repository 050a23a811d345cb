//! Retention (`Command::ExpirePartition`): what it drops is gone from every read, stays gone
//! when samples for it arrive late, and every engine agrees whatever its flush timing.

use super::*;
use tidemark_storage::{ExpireScope, Tier};

fn expire(e: &dyn Engine, index: u64, p: i64, scope: ExpireScope) {
    e.apply(
        S,
        index,
        &Command::ExpirePartition {
            tier: Tier::Raw,
            partition_start_ms: p,
            scope,
        },
    )
    .expect("expire");
}

/// Three series with a sample every half hour over three partitions ([0, 2h) to [4h, 6h)).
fn three_partitions(e: &dyn Engine) -> Vec<(i64, f64)> {
    let points: Vec<(i64, f64)> = (0..12).map(|i| (i * H / 2, i as f64)).collect();
    write(e, 1, &up("a"), samples(&points));
    write(e, 2, &up("b"), samples(&points));
    write(e, 3, &labels(&[("__name__", "debug_x")]), samples(&points));
    for (i, p) in [0, 2 * H].into_iter().enumerate() {
        e.apply(
            S,
            4 + i as u64,
            &Command::Seal {
                partition_start_ms: p,
            },
        )
        .unwrap();
    }
    points
}

pub(crate) fn expire_series_then_partitions(f: &mut dyn Factory) {
    for flush_between in [false, true] {
        let e = f.make(opts());
        let points = three_partitions(&*e);
        if flush_between {
            e.flush(S, b"m").unwrap();
        }
        let debug = e
            .partition_series(S, Tier::Raw, 0, &[eq("__name__", "debug_x")])
            .unwrap();
        assert_eq!(debug.len(), 1);
        // A per-metric retention drops debug_x from the oldest partition only.
        expire(&*e, 10, 0, ExpireScope::Series(debug.clone()));
        if flush_between {
            e.flush(S, b"m").unwrap();
        }
        let got = select(&*e, &[eq("__name__", "debug_x")], 0, 10 * H);
        assert_eq!(got[0].samples, samples(&points[4..]));
        assert_eq!(
            e.partition_series(S, Tier::Raw, 0, &[]).unwrap().len(),
            2,
            "debug_x no longer counts in the partition"
        );
        assert_eq!(
            e.label_values(S, "__name__", &[], 0, 2 * H - 1).unwrap(),
            set(&["up"])
        );
        let info = e.partitions(S).unwrap();
        assert_eq!(
            info.iter()
                .map(|p| (p.start_ms, p.series, p.expired_series, p.sealed))
                .collect::<Vec<_>>(),
            vec![(0, 2, 1, true), (2 * H, 3, 0, true), (4 * H, 3, 0, false)]
        );
        // A late sample for what was dropped is refused by the leader's check and, should one
        // be proposed anyway, ignored by apply.
        let id = debug[0];
        let check = e.check_append(S, Some(id), &samples(&[(1000, 7.0)]), i64::MAX, i64::MAX);
        assert_eq!((check.accepted.len(), check.too_old), (0, 1));
        write(
            &*e,
            11,
            &labels(&[("__name__", "debug_x")]),
            samples(&[(1000, 7.0)]),
        );
        let got = select(&*e, &[eq("__name__", "debug_x")], 0, 10 * H);
        assert_eq!(got[0].samples, samples(&points[4..]));
        // The middle partition goes whole first: the oldest still holds `up`.
        expire(&*e, 12, 2 * H, ExpireScope::All);
        let got = select(&*e, &[eq("job", "a")], 0, 10 * H);
        let want: Vec<(i64, f64)> = points[..4].iter().chain(&points[8..]).copied().collect();
        assert_eq!(got[0].samples, samples(&want));
        // Then the oldest: afterwards only the newest partition is left.
        expire(&*e, 13, 0, ExpireScope::All);
        if flush_between {
            e.flush(S, b"m").unwrap();
        }
        let got = select(&*e, &[eq("__name__", "up")], i64::MIN, i64::MAX);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|s| s.samples == samples(&points[8..])));
        assert_eq!(
            e.partitions(S)
                .unwrap()
                .iter()
                .map(|p| p.start_ms)
                .collect::<Vec<_>>(),
            vec![4 * H]
        );
        let check = e.check_append(S, Some(id), &samples(&[(3 * H, 1.0)]), i64::MAX, i64::MAX);
        assert_eq!(check.too_old, 1);
    }
}

/// The same log gives the same digest with and without flushes in between, and expiry shows in
/// the digest.
pub(crate) fn expiry_digest_ignores_flush_timing(f: &mut dyn Factory) {
    let a = f.make(opts());
    let b = f.make(opts());
    three_partitions(&*a);
    three_partitions(&*b);
    b.flush(S, b"m").unwrap();
    let before = a.digest(S).unwrap();
    for e in [&a, &b] {
        expire(&**e, 10, 0, ExpireScope::Series(vec![2]));
    }
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    assert_ne!(a.digest(S).unwrap(), before);
    b.flush(S, b"m").unwrap();
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    for e in [&a, &b] {
        expire(&**e, 11, 2 * H, ExpireScope::All);
    }
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    b.flush(S, b"m").unwrap();
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
}

/// `CleanTombstones` re-encodes sealed partitions without their deleted samples: reads and the
/// digest stay as they were, on every engine and whatever the flush timing.
pub(crate) fn clean_tombstones_changes_no_read(f: &mut dyn Factory) {
    let a = f.make(opts());
    let b = f.make(opts());
    for e in [&a, &b] {
        three_partitions(&**e);
        e.flush(S, b"m").unwrap();
        let ids = e
            .matching_series(S, &[eq("job", "a")], i64::MIN, i64::MAX)
            .unwrap();
        e.apply(
            S,
            10,
            &Command::Delete {
                series: ids,
                mint_ms: H,
                maxt_ms: 3 * H,
            },
        )
        .unwrap();
    }
    let before = select(&*a, &[eq("__name__", "up")], i64::MIN, i64::MAX);
    b.apply(S, 11, &Command::CleanTombstones).unwrap();
    a.apply(
        S,
        11,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    b.flush(S, b"m").unwrap();
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    let after = select(&*b, &[eq("__name__", "up")], i64::MIN, i64::MAX);
    assert_eq!(after, before);
    // Samples written later into a deleted range stay hidden (the tombstone stays).
    write(&*b, 12, &up("a"), samples(&[(5 * H, 9.0)]));
    write(&*a, 12, &up("a"), samples(&[(5 * H, 9.0)]));
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
}
