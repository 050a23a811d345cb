//! A line diff in unified format (`@@ -1,4 +1,5 @@`, then ` `, `-` and `+` lines), for what
//! `rules diff` prints of an updated group: the server's YAML against the file's.
//!
//! Lines are matched by a longest common subsequence of the lines between the common start
//! and the common end; when that middle is too large to match (more than
//! [`MATCH_CELLS_MAX`] line pairs), all of it is shown as removed and added.

/// The most line pairs the matching compares (its table holds one `u32` per pair).
const MATCH_CELLS_MAX: usize = 4_000_000;

/// One line of the diff: kept, removed (from `old`) or added (in `new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

impl Line<'_> {
    fn in_old(self) -> bool {
        !matches!(self, Line::Added(_))
    }

    fn in_new(self) -> bool {
        !matches!(self, Line::Removed(_))
    }

    fn is_change(self) -> bool {
        !matches!(self, Line::Same(_))
    }

    fn render(self) -> String {
        match self {
            Line::Same(l) => format!(" {l}"),
            Line::Removed(l) => format!("-{l}"),
            Line::Added(l) => format!("+{l}"),
        }
    }
}

/// The unified diff of `old` to `new`, with `context_lines` unchanged lines around each
/// change: hunk headers and lines, without the `---`/`+++` header; empty when they are equal.
pub fn unified(old: &str, new: &str, context_lines: usize) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let lines = diff_lines(&old, &new);
    let changed: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].is_change()).collect();
    let mut out = Vec::new();
    let mut next = 0;
    while next < changed.len() {
        // A hunk: changes no more than 2 * context_lines apart, with their context.
        let first = changed[next];
        let mut last = first;
        next += 1;
        while next < changed.len() && changed[next] - last - 1 <= 2 * context_lines {
            last = changed[next];
            next += 1;
        }
        let start = first.saturating_sub(context_lines);
        let end = (last + context_lines + 1).min(lines.len());
        let before = &lines[..start];
        let hunk = &lines[start..end];
        out.push(format!(
            "@@ -{} +{} @@",
            range(before, hunk, Line::in_old),
            range(before, hunk, Line::in_new)
        ));
        out.extend(hunk.iter().map(|l| l.render()));
    }
    out
}

/// A hunk header's range on one side (`in_side` tells the lines of that side): `start,count`,
/// where start counts from 1, or is the line before when the hunk holds none of that side.
fn range<'a>(before: &[Line<'a>], hunk: &[Line<'a>], in_side: fn(Line<'a>) -> bool) -> String {
    let skipped = before.iter().filter(|l| in_side(**l)).count();
    let count = hunk.iter().filter(|l| in_side(**l)).count();
    let start = if count == 0 { skipped } else { skipped + 1 };
    format!("{start},{count}")
}

/// Every line of `old` and `new` in order, each kept, removed or added.
fn diff_lines<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Line<'a>> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let suffix = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old_rest[..old_rest.len() - suffix];
    let new_mid = &new_rest[..new_rest.len() - suffix];
    let mut lines: Vec<Line<'a>> = old[..prefix].iter().map(|l| Line::Same(l)).collect();
    if old_mid.len().saturating_mul(new_mid.len()) <= MATCH_CELLS_MAX {
        lines.extend(matched(old_mid, new_mid));
    } else {
        lines.extend(old_mid.iter().map(|l| Line::Removed(l)));
        lines.extend(new_mid.iter().map(|l| Line::Added(l)));
    }
    lines.extend(
        old_rest[old_rest.len() - suffix..]
            .iter()
            .map(|l| Line::Same(l)),
    );
    lines
}

/// `old` to `new` through their longest common subsequence of lines, removals before
/// additions where both are possible.
fn matched<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Line<'a>> {
    let (n, m) = (old.len(), new.len());
    // common[i * (m + 1) + j]: the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[at(i, j)] = if old[i] == new[j] {
                common[at(i + 1, j + 1)] + 1
            } else {
                common[at(i + 1, j)].max(common[at(i, j + 1)])
            };
        }
    }
    let mut lines = Vec::with_capacity(n + m);
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            lines.push(Line::Same(old[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || common[at(i + 1, j)] >= common[at(i, j + 1)]) {
            lines.push(Line::Removed(old[i]));
            i += 1;
        } else {
            lines.push(Line::Added(new[j]));
            j += 1;
        }
    }
    lines
}
