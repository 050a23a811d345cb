//! History marks (`tidemark_storage::history`): what a results cache reads to know whether the
//! past it cached still holds.

use tidemark_storage::history::{HistoryMark, SETTLE_MS};
use tidemark_storage::{Command, Engine};

use super::{Factory, H, S, eq, opts, samples, up, write};

fn mark(e: &dyn Engine) -> HistoryMark {
    e.history_mark(S).expect("the engine tells its history")
}

pub(super) fn history_marks_move_when_the_past_changes(f: &mut dyn Factory) {
    let e = f.make(opts());
    let empty = mark(&*e);
    assert_eq!(empty.settled_ms, i64::MAX, "an empty shard bounds nothing");
    write(&*e, 1, &up("a"), samples(&[(H, 1.0)]));
    let first = mark(&*e);
    assert!(
        !first.same_history(&empty),
        "a first write changes the past"
    );
    assert_eq!(first.settled_ms, H - SETTLE_MS);

    // Scrapes arriving in order, or a little late, do not.
    write(&*e, 2, &up("a"), samples(&[(H + 10_000, 2.0)]));
    write(
        &*e,
        3,
        &up("b"),
        samples(&[(H + 10_000 - SETTLE_MS + 1, 2.0)]),
    );
    e.apply(
        S,
        4,
        &Command::Seal {
            partition_start_ms: -2 * H,
        },
    )
    .unwrap();
    e.flush(S, b"m").unwrap();
    let settled = mark(&*e);
    assert!(settled.same_history(&first));
    assert_eq!(settled.settled_ms, H + 10_000 - SETTLE_MS);

    // A sample older than the settled bound does.
    write(&*e, 5, &up("b"), samples(&[(H + 10_000 - SETTLE_MS, 3.0)]));
    let late = mark(&*e);
    assert!(!late.same_history(&settled));

    // So does a delete.
    let ids = e.matching_series(S, &[eq("job", "a")], 0, 2 * H).unwrap();
    e.apply(
        S,
        6,
        &Command::Delete {
            series: ids,
            mint_ms: 0,
            maxt_ms: H,
        },
    )
    .unwrap();
    let deleted = mark(&*e);
    assert!(!deleted.same_history(&late));

    // An entry replayed at or below the applied index is not applied, nor counted.
    write(&*e, 6, &up("b"), samples(&[(1, 3.0)]));
    assert!(mark(&*e).same_history(&deleted));

    // A dropped shard, and the shard made again, are other replica states.
    e.flush(S, b"m").unwrap();
    e.drop_shard(S).unwrap();
    let dropped = mark(&*e);
    assert!(!dropped.same_history(&deleted));
    write(&*e, 1, &up("a"), samples(&[(H, 1.0)]));
    let again = mark(&*e);
    assert!(!again.same_history(&deleted) && !again.same_history(&dropped));
}
