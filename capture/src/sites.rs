//! Figures per allocation site (per call stack): the rows of a report.

use rustc_hash::FxHashMap as HashMap;

use memprof_format::{Lifetime, StackRef};

use crate::events::ThreadStream;
use crate::index::HeapIndex;
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
/// the capture), and its share of the heap at the range's peak (stacks outside the range hold
/// part of it too).
///
/// Each thread's records are read once, in order, beside the lifetimes of the heap index
/// (built now if the capture has none stored).
pub fn analyze(capture: &Capture, range: Range) -> (Summary, Vec<Site>) {
    let index = HeapIndex::of(capture);
    match scan(capture, &index, range) {
        Some(found) => found,
        // A stored index that does not fit the records (a capture modified after it was
        // sealed): build one from the records themselves.
        None => scan(capture, &HeapIndex::build(capture), range)
            .expect("a built index fits the records it was built from"),
    }
}

/// The peak of the heap within `range`: its size and time, `None` when nothing was allocated
/// in it.
fn peak_in(capture: &Capture, index: &HeapIndex, range: Range) -> Option<(u64, u64)> {
    if range == Range::ALL {
        return (index.peak_bytes > 0).then_some((index.peak_bytes, index.peak_time));
    }
    // The heap at the range's start, and every change within it, in time order (releases
    // before allocations at one tick).
    let mut base = 0u64;
    let mut changes: Vec<(u64, bool, u64)> = Vec::new();
    for_each_alloc(capture, index, |time, size, _, end| {
        if time <= range.from {
            if end.is_none_or(|e| e > range.from) {
                base += size;
            }
        } else if time <= range.to {
            changes.push((time, true, size));
        }
        if let Some(e) = end.filter(|&e| range.contains(e)) {
            changes.push((e, false, size));
        }
    })?;
    changes.sort_unstable();
    let (mut heap, mut peak) = (base, None);
    for (time, alloc, size) in changes {
        if alloc {
            heap += size;
            if peak.is_none_or(|(p, _)| heap > p) {
                peak = Some((heap, time));
            }
        } else {
            heap = heap.saturating_sub(size);
        }
    }
    peak
}

/// Calls `f(time, size, stack, end)` for every allocation, with the time its block ended, if
/// it did. `None` when the index does not fit the records.
fn for_each_alloc(
    capture: &Capture,
    index: &HeapIndex,
    mut f: impl FnMut(u64, u64, StackRef, Option<u64>),
) -> Option<()> {
    for (i, thread) in capture.threads.iter().enumerate() {
        let mut lifetimes = index.lifetimes(i);
        let mut stream = ThreadStream::new(capture.bytes(), thread);
        while let Some(e) = stream.next_event() {
            if let EventKind::Alloc { size, stack, .. } = e.kind {
                let end = end_of(e.time, lifetimes.next()?);
                f(e.time, size, stack, end);
            }
        }
        if lifetimes.next().is_some() {
            return None;
        }
    }
    Some(())
}

fn end_of(time: u64, lifetime: Lifetime) -> Option<u64> {
    match lifetime {
        Lifetime::Live => None,
        Lifetime::Freed { after, .. } | Lifetime::Lost { after } => Some(time + after),
    }
}

/// One read of every thread's records: the summary and the sites of `range`.
fn scan(capture: &Capture, index: &HeapIndex, range: Range) -> Option<(Summary, Vec<Site>)> {
    let peak = peak_in(capture, index, range);
    let peak_time = peak.map(|p| p.1);
    let mut s = Summary::from_header(capture);
    s.peak_bytes = index.peak_bytes;
    s.untracked_frees = index.untracked_frees;
    s.lost_frees = index.lost_frees;
    let mut sites = SiteTable::default();
    let mut last_time = 0;
    let mut problem = None;
    for (i, thread) in capture.threads.iter().enumerate() {
        let mut lifetimes = index.lifetimes(i);
        let mut stream = ThreadStream::new(capture.bytes(), thread);
        while let Some(e) = stream.next_event() {
            last_time = last_time.max(e.time);
            let (size, stack) = match e.kind {
                EventKind::Alloc { size, stack, .. } => (size, stack),
                EventKind::Failed { .. } => {
                    s.failed_allocations += 1;
                    continue;
                }
                EventKind::Marker { .. } => {
                    s.markers += 1;
                    continue;
                }
                _ => continue,
            };
            let lifetime = lifetimes.next()?;
            s.allocations += 1;
            s.bytes_allocated += size;
            s.truncated_stacks += u64::from(stack.truncated);
            let mut temporary = false;
            match lifetime {
                Lifetime::Live => {
                    s.leaked_bytes += size;
                    s.leaked_blocks += 1;
                }
                Lifetime::Freed { temporary: t, .. } => {
                    s.frees += 1;
                    s.temporary_allocations += u64::from(t);
                    temporary = t;
                }
                Lifetime::Lost { .. } => {}
            }
            let end = end_of(e.time, lifetime);
            let in_range = range.contains(e.time);
            let at_peak = peak_time.is_some_and(|p| e.time <= p && end.is_none_or(|e| e > p));
            if !in_range && !at_peak {
                continue;
            }
            let site = sites.get(NodeId(stack.node));
            if at_peak {
                site.peak_bytes += size;
            }
            if in_range {
                site.allocations += 1;
                site.bytes += size;
                site.min_size = site.min_size.min(size);
                site.max_size = site.max_size.max(size);
                let ended_in_range = end.is_some_and(|e| e <= range.to);
                if temporary && ended_in_range {
                    site.temporary += 1;
                }
                if !ended_in_range {
                    site.leaked_bytes += size;
                    site.leaked_blocks += 1;
                }
            }
        }
        if lifetimes.next().is_some() {
            return None;
        }
        if let Some(p) = stream.problem {
            if problem.is_none_or(|q: crate::DecodeProblem| p.offset < q.offset) {
                problem = Some(p);
            }
        }
    }
    s.corruption = problem.map(|p| format!("{} at offset {}", p.what, p.offset));
    s.peak_time_ns = capture.ns(index.peak_time);
    s.duration_ns = capture
        .clock()
        .end_ns()
        .unwrap_or(0)
        .max(capture.ns(last_time));
    Some((s, sites.into_sites()))
}

/// Sites by stack, with the last one looked up kept at hand (allocations come in runs from
/// one stack).
#[derive(Default)]
struct SiteTable {
    by_stack: HashMap<NodeId, usize>,
    sites: Vec<Site>,
    last: Option<(NodeId, usize)>,
}

impl SiteTable {
    fn get(&mut self, stack: NodeId) -> &mut Site {
        let i = match self.last {
            Some((s, i)) if s == stack => i,
            _ => {
                let next = self.sites.len();
                let i = *self.by_stack.entry(stack).or_insert(next);
                if i == next {
                    self.sites.push(Site {
                        stack,
                        min_size: u64::MAX,
                        ..Site::default()
                    });
                }
                self.last = Some((stack, i));
                i
            }
        };
        &mut self.sites[i]
    }

    fn into_sites(mut self) -> Vec<Site> {
        for s in &mut self.sites {
            if s.allocations == 0 {
                s.min_size = 0;
            }
        }
        self.sites
    }
}
