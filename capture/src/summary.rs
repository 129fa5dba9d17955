//! The summary of a capture, computed in one pass over the merged events.
//!
//! Counting follows valgrind memcheck's "total heap usage": every successful allocating call
//! is an allocation (a realloc of a non-NULL pointer is also a free), bytes are requested
//! bytes, and "leaked" is what is still allocated at the end. A temporary allocation is
//! heaptrack's: freed by the thread that made it, with no other allocation of that thread in
//! between.

use rustc_hash::FxHashMap as HashMap;

use crate::addr_map::AddrMap;

use crate::{Capture, EventKind, ThreadId};

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
    /// Allocations whose stack was deeper than the maximum depth and was cut.
    pub truncated_stacks: u64,
    /// The exit code, when known.
    pub exit_code: Option<i32>,
    /// The signal that killed the program, if one did.
    pub signal: Option<i32>,
    /// Where decoding stopped early, if it did ("record cut short at offset N").
    pub corruption: Option<String>,
}

/// A live block.
#[derive(Clone, Copy)]
struct Block {
    size: u64,
}

/// The heap as the events replay it.
#[derive(Default)]
struct Heap {
    live: AddrMap<Block>,
    live_bytes: u64,
    /// Each thread's most recent allocation, for temporaries.
    last_alloc: HashMap<ThreadId, u64>,
    /// Frees of unknown addresses, kept for one tick in case the allocation they release was
    /// stamped at the same tick by another thread and merged after them.
    pending: HashMap<u64, (u64, ThreadId)>,
}

impl Heap {
    fn alloc(&mut self, s: &mut Summary, time: u64, thread: ThreadId, addr: u64, size: u64) {
        s.allocations += 1;
        s.bytes_allocated += size;
        if let Some(old) = self.live.insert(addr, Block { size }) {
            // Its free was lost; do not count the block twice.
            self.live_bytes -= old.size;
        }
        self.live_bytes += size;
        self.last_alloc.insert(thread, addr);
        if !self.pending.is_empty() {
            if let Some((t, freer)) = self.pending.remove(&addr) {
                if t == time {
                    self.free(s, freer, addr);
                    return;
                }
                s.untracked_frees += 1;
            }
        }
        if self.live_bytes > s.peak_bytes {
            s.peak_bytes = self.live_bytes;
            s.peak_time_ns = time; // converted at the end
        }
    }

    /// False when the block is unknown.
    fn free(&mut self, s: &mut Summary, thread: ThreadId, addr: u64) -> bool {
        let Some(b) = self.live.remove(&addr) else {
            return false;
        };
        self.live_bytes -= b.size;
        s.frees += 1;
        if self.last_alloc.get(&thread) == Some(&addr) {
            s.temporary_allocations += 1;
            self.last_alloc.remove(&thread);
        }
        true
    }
}

impl Summary {
    /// Computes the summary of `capture`.
    pub fn of(capture: &Capture) -> Summary {
        let mut s = Summary {
            truncated: capture.cut_short(),
            exit_code: capture.exit_code(),
            threads: capture.thread_count() as u64,
            ..Summary::default()
        };
        if let crate::Ending::Killed(sig) = capture.ending() {
            s.signal = Some(sig);
        }
        let mut heap = Heap::default();
        let mut last_time = 0u64;
        let mut events = capture.events();
        for e in events.by_ref() {
            last_time = last_time.max(e.time);
            match e.kind {
                EventKind::Alloc {
                    size, addr, stack, ..
                } => {
                    s.truncated_stacks += u64::from(stack.truncated);
                    heap.alloc(&mut s, e.time, e.thread, addr, size)
                }
                EventKind::Free { addr } => {
                    let known = heap.free(&mut s, e.thread, addr);
                    // A second unknown free of one address in a row: the first was untracked.
                    if !known && heap.pending.insert(addr, (e.time, e.thread)).is_some() {
                        s.untracked_frees += 1;
                    }
                }
                EventKind::Failed { .. } => s.failed_allocations += 1,
                EventKind::Marker { .. } => s.markers += 1,
                _ => {}
            }
        }
        s.untracked_frees += heap.pending.len() as u64;
        s.leaked_blocks = heap.live.len() as u64;
        s.leaked_bytes = heap.live_bytes;
        s.peak_time_ns = capture.ns(s.peak_time_ns);
        s.duration_ns = capture
            .clock()
            .end_ns()
            .unwrap_or(0)
            .max(capture.ns(last_time));
        s.corruption = events
            .problem()
            .map(|p| format!("{} at offset {}", p.what, p.offset));
        s
    }
}
