//! Figures per allocation site (per call stack): the rows of a report.

use rustc_hash::FxHashMap as HashMap;

use crate::heap::{Block, Heap};
use crate::summary::{Effect, Tally};
use crate::{Capture, EventKind, NodeId, Summary};

/// What one call stack allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// The stack's innermost trie node (see [`crate::Stacks::frames`]).
    #[serde(skip)]
    pub stack: NodeId,
    pub allocations: u64,
    pub bytes: u64,
    pub min_size: u64,
    pub max_size: u64,
    pub temporary: u64,
    /// Bytes of this stack live at the moment of the peak.
    pub peak_bytes: u64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
}

/// The metric to rank sites by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Allocations,
    Bytes,
    Peak,
    Leaked,
    Temporary,
}

impl Site {
    pub fn value(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Allocations => self.allocations,
            Metric::Bytes => self.bytes,
            Metric::Peak => self.peak_bytes,
            Metric::Leaked => self.leaked_bytes,
            Metric::Temporary => self.temporary,
        }
    }
}

/// Keeps the sites with a non-zero `metric`, largest first (ties in stack order, so that
/// output is stable).
pub fn rank(sites: &mut Vec<Site>, metric: Metric) {
    sites.retain(|s| s.value(metric) > 0);
    sites.sort_by(|a, b| {
        b.value(metric)
            .cmp(&a.value(metric))
            .then(a.stack.cmp(&b.stack))
    });
}

/// A span of a capture in record time units (see [`Capture::ns`]): `(from, to]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: u64,
    pub to: u64,
}

impl Range {
    /// The whole capture.
    pub const ALL: Range = Range {
        from: 0,
        to: u64::MAX,
    };

    fn contains(&self, time: u64) -> bool {
        time > self.from && time <= self.to
    }
}

/// The summary of the whole capture, and every allocation site within `range` (in no
/// particular order): for each call stack, the allocations made in the range, the temporary
/// ones freed in it, what of them is still live at its end ("leaked" when the range ends with
/// the capture), and its share of the heap at the range's peak. Two replays of the events: the
/// second stops at the peak to see which stacks held it.
pub fn analyze(capture: &Capture, range: Range) -> (Summary, Vec<Site>) {
    let mut by_stack: HashMap<NodeId, Site> = HashMap::default();
    let mut tally = Tally::new(capture);
    let (mut peak, mut peak_at, mut n) = (0u64, 0usize, 0usize);
    let mut at_end: Option<Vec<Block>> = None;
    let mut events = capture.events();
    for e in events.by_ref() {
        if e.time > range.to && at_end.is_none() {
            at_end = Some(tally.heap.live_blocks().copied().collect());
        }
        n += 1;
        let effect = tally.event(&e);
        if !range.contains(e.time) {
            continue;
        }
        if let EventKind::Alloc { size, stack, .. } = e.kind {
            let site = by_stack.entry(NodeId(stack.node)).or_insert(Site {
                stack: NodeId(stack.node),
                min_size: u64::MAX,
                ..Site::default()
            });
            site.allocations += 1;
            site.bytes += size;
            site.min_size = site.min_size.min(size);
            site.max_size = site.max_size.max(size);
        }
        match effect {
            Effect::Allocated if tally.heap.live_bytes() > peak => {
                (peak, peak_at) = (tally.heap.live_bytes(), n);
            }
            Effect::Released(f) if f.temporary => {
                if let Some(site) = by_stack.get_mut(&NodeId(f.block.stack)) {
                    site.temporary += 1;
                }
            }
            _ => {}
        }
    }
    let live_at_end = at_end.unwrap_or_else(|| tally.heap.live_blocks().copied().collect());
    for b in live_at_end.iter().filter(|b| range.contains(b.time)) {
        if let Some(site) = by_stack.get_mut(&NodeId(b.stack)) {
            site.leaked_bytes += b.size;
            site.leaked_blocks += 1;
        }
    }
    drop(live_at_end);
    let summary = tally.finish(capture, &events);
    let mut heap = Heap::new(crate::summary::skew(capture));
    for e in capture.events().take(peak_at) {
        match e.kind {
            EventKind::Alloc {
                size, addr, stack, ..
            } => {
                heap.alloc(
                    e.time,
                    e.thread,
                    addr,
                    Block {
                        size,
                        stack: stack.node,
                        time: e.time,
                    },
                );
            }
            EventKind::Free { addr } => {
                heap.free(e.time, e.thread, addr);
            }
            _ => {}
        }
    }
    for b in heap.live_blocks() {
        // Stacks outside the range held part of its peak too.
        let site = by_stack.entry(NodeId(b.stack)).or_insert(Site {
            stack: NodeId(b.stack),
            min_size: 0,
            ..Site::default()
        });
        site.peak_bytes += b.size;
    }
    (summary, by_stack.into_values().collect())
}
