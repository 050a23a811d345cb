//! Running code that recurses over a syntax tree on a stack deep enough for it.
//!
//! The parser, the evaluator, the printers and `Drop` of a tree all recurse once (or a few
//! times) per level of the tree. A thread's stack is fixed (2 MiB for Tokio's threads), and
//! overflowing it aborts the process. Each such walk therefore runs through [`with_stack_for`],
//! which switches to a freshly mapped stack of [`stack_bytes_for`] the tree's depth when the
//! current one has less room than that left (the `stacker` crate, as rustc uses it). Only the
//! pages a walk touches are ever committed.

/// Stack reserved for everything around the recursion (the evaluator's own frames, sorting,
/// formatting, the allocator).
const BASE_STACK_BYTES: usize = 1 << 20;

/// Stack one level of a tree may take on any walk, with room to spare. Measured with the test
/// `engine::tests::deepest_accepted_queries_are_evaluated` at 5,000 levels: every shape passes
/// with 2 KiB a level and nested calls overflow 1 KiB, in a release build; a debug build's
/// frames are several times larger.
const LEVEL_STACK_BYTES: usize = if cfg!(debug_assertions) {
    32 << 10
} else {
    8 << 10
};

/// The stack a walk of a tree `depth` levels deep may need.
pub fn stack_bytes_for(depth: usize) -> usize {
    BASE_STACK_BYTES.saturating_add(depth.saturating_mul(LEVEL_STACK_BYTES))
}

/// Runs `f`, which walks a tree at most `depth` levels deep, on a stack with room for it.
pub fn with_stack_for<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    let bytes = stack_bytes_for(depth);
    stacker::maybe_grow(bytes, bytes, f)
}

/// Runs `f` on a thread with a 256 KiB stack, so that a test of deep trees passes only because
/// [`with_stack_for`] does its work, never by luck of a big stack.
#[cfg(test)]
pub(crate) fn on_small_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn_scoped(s, f)
            .expect("thread")
            .join()
            .expect("no panic")
    })
}
