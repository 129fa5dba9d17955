//! Figures per allocation site (per call stack): the rows of a report.

use memprof_format::Lifetime;

use crate::index::HeapIndex;
use crate::scan::scan;
use crate::{Capture, HeapSeries, NodeId, Summary, ThreadId};

/// What some allocations came to: those of one call stack, of a node of a call tree, or of a
/// function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    pub allocations: u64,
    pub bytes: u64,
    /// Smallest and largest request (0 when there were no allocations).
    pub min_size: u64,
    pub max_size: u64,
    pub temporary: u64,
    /// Bytes live at the moment of the peak.
    pub peak_bytes: u64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    /// Allocations whose stack was deeper than the recording's `--max-depth`, and cut there.
    pub truncated_stacks: u64,
}

impl Figures {
    pub fn value(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Allocations => self.allocations,
            Metric::Bytes => self.bytes,
            Metric::Peak => self.peak_bytes,
            Metric::Leaked => self.leaked_bytes,
            Metric::Temporary => self.temporary,
        }
    }

    /// Adds the figures of `other`.
    pub fn add(&mut self, other: &Figures) {
        if other.allocations > 0 {
            self.min_size = match self.allocations {
                0 => other.min_size,
                _ => self.min_size.min(other.min_size),
            };
            self.max_size = self.max_size.max(other.max_size);
        }
        self.allocations += other.allocations;
        self.bytes += other.bytes;
        self.temporary += other.temporary;
        self.peak_bytes += other.peak_bytes;
        self.leaked_bytes += other.leaked_bytes;
        self.leaked_blocks += other.leaked_blocks;
        self.truncated_stacks += other.truncated_stacks;
    }

    /// Counts one allocation of `size` bytes.
    pub(crate) fn allocated(&mut self, size: u64) {
        self.min_size = match self.allocations {
            0 => size,
            _ => self.min_size.min(size),
        };
        self.max_size = self.max_size.max(size);
        self.allocations += 1;
        self.bytes += size;
    }
}

/// What one call stack allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// The stack's innermost trie node (see [`crate::Stacks::frames`]).
    #[serde(skip)]
    pub stack: NodeId,
    #[serde(flatten)]
    pub figures: Figures,
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
        self.figures.value(metric)
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

    /// Whether `time` lies in the span.
    pub fn contains(&self, time: u64) -> bool {
        time > self.from && time <= self.to
    }
}

/// What an analysis looks at: a span of time, and maybe one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pub range: Range,
    /// Only the allocations of this thread count for the sites (every thread's still count
    /// for the summary and the per-thread figures).
    pub thread: Option<ThreadId>,
    /// Only the summary and the per-thread figures are wanted: no site or size is counted.
    pub summary_only: bool,
}

impl From<Range> for Scope {
    fn from(range: Range) -> Scope {
        Scope {
            range,
            thread: None,
            summary_only: false,
        }
    }
}

/// What one thread allocated within the range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ThreadFigures {
    pub thread: ThreadId,
    #[serde(flatten)]
    pub figures: Figures,
    /// Its blocks that another thread released.
    pub freed_by_other_threads: u64,
}

/// The result of [`analyze`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// The whole capture's.
    pub summary: Summary,
    /// Every call stack with allocations in scope, or holding part of the range's peak, in no
    /// particular order.
    pub sites: Vec<Site>,
    /// Per recorded thread, in thread id order.
    pub threads: Vec<ThreadFigures>,
    /// How many allocations in scope requested how much, by power-of-two class, smallest
    /// first; empty classes are left out.
    pub sizes: Vec<SizeClass>,
    /// The heap over the whole capture (see [`HeapSeries::columns`] for a range of it).
    pub series: HeapSeries,
}

/// Allocations whose requested size lies in `from..=to`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SizeClass {
    pub from: u64,
    pub to: u64,
    pub allocations: u64,
    pub bytes: u64,
}

impl SizeClass {
    /// Number of classes: 0 bytes, then one per power of two.
    pub(crate) const COUNT: usize = 65;

    /// The class of a request of `size` bytes.
    pub(crate) fn of(size: u64) -> usize {
        (u64::BITS - size.leading_zeros()) as usize
    }

    /// Class number `i`, empty.
    pub(crate) fn nth(i: usize) -> SizeClass {
        let (from, to) = match i {
            0 => (0, 0),
            64 => (1 << 63, u64::MAX),
            _ => (1 << (i - 1), (1 << i) - 1),
        };
        SizeClass {
            from,
            to,
            ..SizeClass::default()
        }
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
pub fn analyze(capture: &Capture, scope: impl Into<Scope>) -> Analysis {
    let scope = scope.into();
    let range = scope.range;
    let index = HeapIndex::of(capture);
    let read = |index: &HeapIndex| {
        let peak = match range {
            Range::ALL => Some((index.peak_bytes, index.peak_time)).filter(|p| p.0 > 0),
            _ => peak_in(capture, index, range)?,
        };
        let mut found = scan(capture, index, scope, peak.map(|p| p.1))?;
        found.series = index.series.clone();
        Some(found)
    };
    match read(&index) {
        Some(found) => found,
        // A stored index that does not fit the records (a capture modified after it was
        // sealed): build one from the records themselves.
        None => read(&HeapIndex::build(capture)).expect("a built index fits its records"),
    }
}

/// The peak of the heap within `range`: its size and time, `None` when nothing was allocated
/// in it; `None` from the outside when the index does not fit the records.
///
/// The heap series says which of the range's whole buckets holds the highest heap; the exact
/// moment is found by going over the changes of that bucket and of the two partial buckets at
/// the range's ends, so memory does not grow with the length of the range.
fn peak_in(capture: &Capture, index: &HeapIndex, range: Range) -> Option<Option<(u64, u64)>> {
    let windows = index.series.peak_windows(range);
    // For each window: the heap at its start, and every change within it.
    // Read on every core, each worker with windows of its own, then added up. Allocations
    // after the range change nothing in it.
    let parts = crate::parts::for_each_alloc(
        capture,
        index,
        range.to,
        || vec![(0u64, Vec::<Change>::new()); windows.len()],
        |found, time, size, _, end| {
            for (w, (base, changes)) in windows.iter().zip(found.iter_mut()) {
                if time <= w.from {
                    if end.is_none_or(|e| e > w.from) {
                        *base += size;
                    }
                } else if time <= w.to {
                    changes.push((time, true, size));
                }
                if let Some(e) = end.filter(|&e| w.contains(e)) {
                    changes.push((e, false, size));
                }
            }
        },
    )?;
    let mut found: Vec<(u64, Vec<Change>)> = vec![(0, Vec::new()); windows.len()];
    for part in parts {
        for ((base, changes), (b, c)) in found.iter_mut().zip(part) {
            *base += b;
            changes.extend(c);
        }
    }
    let peaks = found
        .into_iter()
        .filter_map(|(base, changes)| highest(base, changes));
    Some(peaks.fold(None, |best, p| match best {
        Some(b) if b.0 >= p.0 => Some(b),
        _ => Some(p),
    }))
}

/// A change of the heap: its time, whether it was an allocation (or a release), and the size.
type Change = (u64, bool, u64);

/// The highest heap after an allocation among `changes`, from `base`, and its time; releases
/// go before allocations at one tick.
fn highest(base: u64, mut changes: Vec<Change>) -> Option<(u64, u64)> {
    changes.sort_unstable();
    let (mut heap, mut peak) = (base, None::<(u64, u64)>);
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

pub(crate) fn end_of(time: u64, lifetime: Lifetime) -> Option<u64> {
    match lifetime {
        Lifetime::Live => None,
        Lifetime::Freed { after, .. } | Lifetime::Lost { after } => {
            Some(time.saturating_add(after))
        }
    }
}
