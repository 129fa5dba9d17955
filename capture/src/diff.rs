//! The heap difference, call stack by call stack: between two captures of one program, or
//! between two moments of one capture (see the specification's "Diff T1→T2").
//!
//! Stacks are matched by their functions ([`Line::function_key`]), so that two runs, whose
//! addresses differ, line up.

use rustc_hash::FxHashMap as HashMap;

use crate::index::HeapIndex;
use crate::{analyze, Capture, Line, NodeId, Range, Resolved, Site, Summary};

/// Figures of one call stack on both sides (0: before, or run A; 1: after, or run B).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiffRow {
    pub allocations: [u64; 2],
    pub bytes: [u64; 2],
    pub live_bytes: [u64; 2],
    pub live_blocks: [u64; 2],
    /// Allocations made between the two moments and still live at the second (one-capture
    /// form only).
    pub new_live_bytes: u64,
    pub new_live_blocks: u64,
    /// The stack, innermost first.
    pub frames: Vec<Line>,
}

impl DiffRow {
    /// How much the stack's live heap grew (negative: shrank).
    pub fn delta(&self) -> i128 {
        i128::from(self.live_bytes[1]) - i128::from(self.live_bytes[0])
    }

    /// Adds the figures of `other` (not its frames).
    fn add(&mut self, other: &DiffRow) {
        for side in 0..2 {
            self.allocations[side] += other.allocations[side];
            self.bytes[side] += other.bytes[side];
            self.live_bytes[side] += other.live_bytes[side];
            self.live_blocks[side] += other.live_blocks[side];
        }
        self.new_live_bytes += other.new_live_bytes;
        self.new_live_blocks += other.new_live_blocks;
    }
}

/// The difference of two heaps.
#[derive(Debug, Clone)]
pub struct HeapDiff {
    /// The summaries of both sides (the same one twice for two moments of one capture).
    pub summaries: [Summary; 2],
    /// The stacks whose live heap changed, or that made allocations still live at the end,
    /// largest change first.
    pub rows: Vec<DiffRow>,
}

impl HeapDiff {
    /// The live heap of run `b` minus that of run `a` (both whole captures).
    pub fn of_captures(a: &Capture, b: &Capture) -> HeapDiff {
        let (analysis_a, analysis_b) = (analyze(a, Range::ALL), analyze(b, Range::ALL));
        let mut rows = Rows::default();
        rows.add(a, &analysis_a.sites, 0);
        rows.add(b, &analysis_b.sites, 1);
        HeapDiff {
            summaries: [analysis_a.summary, analysis_b.summary],
            rows: rows.finish(),
        }
    }

    /// The live heap of `capture` at record time `t2` minus that at `t1`.
    pub fn of_times(capture: &Capture, t1: u64, t2: u64) -> HeapDiff {
        let summary = Summary::of(capture);
        HeapDiff {
            summaries: [summary.clone(), summary],
            rows: HeapDiff::rows_between(capture, t1, t2),
        }
    }

    /// The rows of [`HeapDiff::of_times`], without the summaries: one read of the
    /// allocations made up to `t2`, on every core.
    pub fn rows_between(capture: &Capture, t1: u64, t2: u64) -> Vec<DiffRow> {
        let read = |index: &HeapIndex| {
            let parts = crate::parts::for_each_alloc(
                capture,
                index,
                t2,
                HashMap::<NodeId, DiffRow>::default,
                |by_stack, time, size, stack, end| {
                    let row = by_stack.entry(NodeId(stack.node)).or_default();
                    let live_at = |t: u64| time <= t && end.is_none_or(|e| e > t);
                    // Made in (0, t]: what an analysis of that range counts.
                    for (side, t) in [(0, t1), (1, t2)] {
                        if time > 0 && time <= t {
                            row.allocations[side] += 1;
                            row.bytes[side] += size;
                            if live_at(t) {
                                row.live_bytes[side] += size;
                                row.live_blocks[side] += 1;
                            }
                        }
                    }
                    if time > t1 && live_at(t2) {
                        row.new_live_bytes += size;
                        row.new_live_blocks += 1;
                    }
                },
            )?;
            let mut by_stack: HashMap<NodeId, DiffRow> = HashMap::default();
            for part in parts {
                for (stack, r) in part {
                    by_stack.entry(stack).or_default().add(&r);
                }
            }
            Some(by_stack)
        };
        let by_stack = read(&HeapIndex::of(capture))
            .or_else(|| read(&HeapIndex::build(capture)))
            .expect("a built index fits its records");
        let resolved = Resolved::of(capture);
        let resolver = resolved.resolver();
        let mut stacks: Vec<(NodeId, DiffRow)> = by_stack.into_iter().collect();
        // Stack order, so that rows with the same functions take the frames of the same one.
        stacks.sort_unstable_by_key(|s| s.0);
        let mut rows = Rows::default();
        for (stack, r) in stacks {
            let lines = resolver.lines(stack, usize::MAX);
            let key = lines.iter().map(Line::function_key).collect();
            let row = rows.0.entry(key).or_default();
            row.add(&r);
            if row.frames.is_empty() {
                row.frames = lines;
            }
        }
        rows.finish()
    }
}

/// Rows keyed by symbolic stack, while they are gathered.
#[derive(Default)]
struct Rows(HashMap<Vec<String>, DiffRow>);

impl Rows {
    /// Adds `sites` of one side.
    fn add(&mut self, capture: &Capture, sites: &[Site], side: usize) {
        let resolved = Resolved::of(capture);
        let resolver = resolved.resolver();
        for s in sites {
            let lines = resolver.lines(s.stack, usize::MAX);
            let key = lines.iter().map(Line::function_key).collect();
            let row = self.0.entry(key).or_default();
            row.allocations[side] += s.figures.allocations;
            row.bytes[side] += s.figures.bytes;
            row.live_bytes[side] += s.figures.leaked_bytes;
            row.live_blocks[side] += s.figures.leaked_blocks;
            if row.frames.is_empty() {
                row.frames = lines;
            }
        }
    }

    /// The rows that changed, largest change first.
    fn finish(self) -> Vec<DiffRow> {
        let mut rows: Vec<DiffRow> = self
            .0
            .into_values()
            .filter(|r| r.delta() != 0 || r.new_live_bytes != 0)
            .collect();
        // Ties by stack, so that the order does not depend on hashing.
        rows.sort_by(|x, y| {
            y.delta()
                .abs()
                .cmp(&x.delta().abs())
                .then(y.new_live_bytes.cmp(&x.new_live_bytes))
                .then_with(|| stack_key(x).cmp(&stack_key(y)))
        });
        rows
    }
}

fn stack_key(row: &DiffRow) -> Vec<String> {
    row.frames.iter().map(Line::function_key).collect()
}
