//! Figures per allocation site (per call stack): the rows of a report.

use rustc_hash::FxHashMap as HashMap;

use crate::heap::{Block, FreeOutcome, Heap};
use crate::{Capture, EventKind, NodeId};

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

/// Every allocation site of `capture`, in no particular order. Two replays of the events: the
/// second stops at the peak to see which stacks held it.
pub fn sites(capture: &Capture) -> Vec<Site> {
    let mut by_stack: HashMap<NodeId, Site> = HashMap::default();
    let mut heap = Heap::default();
    let (mut peak, mut peak_at, mut n) = (0u64, 0usize, 0usize);
    for e in capture.events() {
        n += 1;
        match e.kind {
            EventKind::Alloc {
                size, addr, stack, ..
            } => {
                let site = by_stack.entry(NodeId(stack.node)).or_insert(Site {
                    stack: NodeId(stack.node),
                    min_size: u64::MAX,
                    ..Site::default()
                });
                site.allocations += 1;
                site.bytes += size;
                site.min_size = site.min_size.min(size);
                site.max_size = site.max_size.max(size);
                let freed = heap.alloc(
                    e.time,
                    e.thread,
                    addr,
                    Block {
                        size,
                        stack: stack.node,
                    },
                );
                if let Some(f) = freed {
                    count_temporary(&mut by_stack, f.block, f.temporary);
                } else if heap.live_bytes() > peak {
                    (peak, peak_at) = (heap.live_bytes(), n);
                }
            }
            EventKind::Free { addr } => {
                if let FreeOutcome::Released(f) = heap.free(e.time, e.thread, addr) {
                    count_temporary(&mut by_stack, f.block, f.temporary);
                }
            }
            _ => {}
        }
    }
    for b in heap.live_blocks() {
        if let Some(site) = by_stack.get_mut(&NodeId(b.stack)) {
            site.leaked_bytes += b.size;
            site.leaked_blocks += 1;
        }
    }
    let mut heap = Heap::default();
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
        if let Some(site) = by_stack.get_mut(&NodeId(b.stack)) {
            site.peak_bytes += b.size;
        }
    }
    by_stack.into_values().collect()
}

fn count_temporary(by_stack: &mut HashMap<NodeId, Site>, block: Block, temporary: bool) {
    if temporary {
        if let Some(site) = by_stack.get_mut(&NodeId(block.stack)) {
            site.temporary += 1;
        }
    }
}
