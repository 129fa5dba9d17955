//! The summary of a capture, computed in one pass over the merged events.
//!
//! Counting follows valgrind memcheck's "total heap usage": every successful allocating call
//! is an allocation (a realloc of a non-NULL pointer is also a free), bytes are requested
//! bytes, and "leaked" is what is still allocated at the end. A temporary allocation is
//! heaptrack's: freed by the thread that made it, with no other allocation of that thread in
//! between.

use crate::heap::{Block, FreeOutcome, Freed, Heap};
use crate::{Capture, Event, EventKind};

/// Whole-capture figures. The names are a contract that scripts rely on.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub failed_allocations: u64,
    pub peak_bytes: u64,
    pub peak_time_ns: u64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    pub temporary_allocations: u64,
    pub threads: u64,
    pub duration_ns: u64,
    /// The recording did not finish normally (killed, crashed, or still running).
    pub truncated: bool,
    /// Frees of blocks the capture never saw allocated: blocks the dynamic loader allocated
    /// before any code could be interposed (released by `dlclose` or at exit), or, in the
    /// capture of a followed fork child, blocks inherited from the parent. Not in `frees`;
    /// memcheck does not count them either.
    pub untracked_frees: u64,
    pub markers: u64,
    /// Blocks whose address was allocated again while no free of them was recorded: records
    /// are missing (0 in a complete capture).
    pub lost_frees: u64,
    /// Allocations whose stack was deeper than the maximum depth and was cut.
    pub truncated_stacks: u64,
    /// The exit code, when known.
    pub exit_code: Option<i32>,
    /// The signal that killed the program, if one did.
    pub signal: Option<i32>,
    /// Where decoding stopped early, if it did ("record cut short at offset N").
    pub corruption: Option<String>,
}

impl Summary {
    /// Computes the summary of `capture`.
    pub fn of(capture: &Capture) -> Summary {
        let mut tally = Tally::new(capture);
        let mut events = capture.events();
        for e in events.by_ref() {
            tally.event(&e);
        }
        tally.finish(capture, &events)
    }
}

/// How far apart two threads' stamps of causally ordered events may be, in record time:
/// `rdtsc` is not ordered with the instructions around it, and cores' counters can differ a
/// little under a hypervisor. Ten microseconds is far more than either and far less than the
/// time it takes a program to free a block and reuse its address on purpose.
pub(crate) fn skew(capture: &Capture) -> u64 {
    capture.ticks(10_000).saturating_sub(capture.ticks(0))
}

/// What one event did to the heap.
pub(crate) enum Effect {
    None,
    /// A block was allocated.
    Allocated,
    /// A block was released (possibly by an allocation that met its same-tick free).
    Released(Freed),
}

/// The summary being computed, event by event; other analyses build on its effects.
pub(crate) struct Tally {
    pub summary: Summary,
    pub heap: Heap,
    last_time: u64,
    peak_time: u64,
}

impl Tally {
    pub fn new(capture: &Capture) -> Tally {
        let mut s = Summary {
            truncated: capture.cut_short(),
            exit_code: capture.exit_code(),
            threads: capture.thread_count() as u64,
            ..Summary::default()
        };
        if let crate::Ending::Killed(sig) = capture.ending() {
            s.signal = Some(sig);
        }
        Tally {
            summary: s,
            heap: Heap::new(skew(capture)),
            last_time: 0,
            peak_time: 0,
        }
    }

    pub fn event(&mut self, e: &Event) -> Effect {
        let s = &mut self.summary;
        self.last_time = self.last_time.max(e.time);
        match e.kind {
            EventKind::Alloc {
                size, addr, stack, ..
            } => {
                s.allocations += 1;
                s.bytes_allocated += size;
                s.truncated_stacks += u64::from(stack.truncated);
                let block = Block {
                    size,
                    stack: stack.node,
                    time: e.time,
                };
                if let Some(f) = self.heap.alloc(e.time, e.thread, addr, block) {
                    s.frees += 1;
                    s.temporary_allocations += u64::from(f.temporary);
                    return Effect::Released(f);
                }
                if self.heap.live_bytes() > s.peak_bytes {
                    s.peak_bytes = self.heap.live_bytes();
                    self.peak_time = e.time;
                }
                Effect::Allocated
            }
            EventKind::Free { addr } => match self.heap.free(e.time, e.thread, addr) {
                FreeOutcome::Released(f) => {
                    s.frees += 1;
                    s.temporary_allocations += u64::from(f.temporary);
                    Effect::Released(f)
                }
                FreeOutcome::Pending => Effect::None,
                FreeOutcome::Untracked => {
                    s.untracked_frees += 1;
                    Effect::None
                }
            },
            EventKind::Failed { .. } => {
                s.failed_allocations += 1;
                Effect::None
            }
            EventKind::Marker { .. } => {
                s.markers += 1;
                Effect::None
            }
            _ => Effect::None,
        }
    }

    pub fn finish(mut self, capture: &Capture, events: &crate::Events) -> Summary {
        let s = &mut self.summary;
        s.untracked_frees += self.heap.untracked_frees();
        s.lost_frees = self.heap.lost_frees();
        s.leaked_blocks = self.heap.live_count() as u64;
        s.leaked_bytes = self.heap.live_bytes();
        s.peak_time_ns = capture.ns(self.peak_time);
        s.duration_ns = capture
            .clock()
            .end_ns()
            .unwrap_or(0)
            .max(capture.ns(self.last_time));
        s.corruption = events
            .problem()
            .map(|p| format!("{} at offset {}", p.what, p.offset));
        self.summary
    }
}
