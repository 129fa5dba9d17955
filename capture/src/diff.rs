//! The heap difference, call stack by call stack: between two captures of one program, or
//! between two moments of one capture (see the specification's "Diff T1→T2").
//!
//! Stacks are matched by their functions ([`Line::function_key`]), so that two runs, whose
//! addresses differ, line up.

use rustc_hash::FxHashMap as HashMap;

use crate::{analyze, Capture, Line, Range, Resolved, Site, Summary};

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
        rows.add(a, &analysis_a.sites, 0, false);
        rows.add(b, &analysis_b.sites, 1, false);
        rows.finish([analysis_a.summary, analysis_b.summary])
    }

    /// The live heap of `capture` at record time `t2` minus that at `t1`.
    pub fn of_times(capture: &Capture, t1: u64, t2: u64) -> HeapDiff {
        let first = analyze(capture, Range { from: 0, to: t1 });
        let at2 = analyze(capture, Range { from: 0, to: t2 }).sites;
        let new = analyze(capture, Range { from: t1, to: t2 }).sites;
        let mut rows = Rows::default();
        rows.add(capture, &first.sites, 0, false);
        rows.add(capture, &at2, 1, false);
        rows.add(capture, &new, 1, true);
        rows.finish([first.summary.clone(), first.summary])
    }
}

/// Rows keyed by symbolic stack, while they are gathered.
#[derive(Default)]
struct Rows(HashMap<Vec<String>, DiffRow>);

impl Rows {
    /// Adds `sites` of one side; `new` marks the allocations made between the two moments.
    fn add(&mut self, capture: &Capture, sites: &[Site], side: usize, new: bool) {
        let resolved = Resolved::of(capture);
        let resolver = resolved.resolver();
        for s in sites {
            let lines = resolver.lines(s.stack, usize::MAX);
            let key = lines.iter().map(Line::function_key).collect();
            let row = self.0.entry(key).or_default();
            if new {
                row.new_live_bytes += s.figures.leaked_bytes;
                row.new_live_blocks += s.figures.leaked_blocks;
            } else {
                row.allocations[side] += s.figures.allocations;
                row.bytes[side] += s.figures.bytes;
                row.live_bytes[side] += s.figures.leaked_bytes;
                row.live_blocks[side] += s.figures.leaked_blocks;
            }
            if row.frames.is_empty() {
                row.frames = lines;
            }
        }
    }

    fn finish(self, summaries: [Summary; 2]) -> HeapDiff {
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
        HeapDiff { summaries, rows }
    }
}

fn stack_key(row: &DiffRow) -> Vec<String> {
    row.frames.iter().map(Line::function_key).collect()
}
