//! The summary of a capture, computed in one pass over the merged events.
//!
//! Counting follows valgrind memcheck's "total heap usage": every successful allocating call
//! is an allocation (a realloc of a non-NULL pointer is also a free), bytes are requested
//! bytes, and "leaked" is what is still allocated at the end. A temporary allocation is
//! heaptrack's: freed by the thread that made it, with no other allocation of that thread in
//! between.

use std::collections::{HashMap, HashSet};

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

impl Summary {
    /// Computes the summary of `capture`.
    pub fn of(capture: &Capture) -> Summary {
        let mut s = Summary {
            truncated: capture.cut_short(),
            exit_code: capture.exit_code(),
            ..Summary::default()
        };
        if let crate::Ending::Killed(sig) = capture.ending() {
            s.signal = Some(sig);
        }
        let mut live: HashMap<u64, Block> = HashMap::new();
        let mut live_bytes = 0u64;
        let mut peak_time = 0u64;
        let mut last_alloc: HashMap<ThreadId, u64> = HashMap::new();
        let mut threads: HashSet<ThreadId> = HashSet::new();
        // Frees of unknown addresses, kept for one tick in case the allocation they release
        // was stamped at the same tick by another thread and merged after them.
        let mut pending: HashMap<u64, (u64, ThreadId)> = HashMap::new();
        let mut last_time = 0u64;
        let mut events = capture.events();
        for e in events.by_ref() {
            threads.insert(e.thread);
            last_time = last_time.max(e.time);
            match e.kind {
                EventKind::Alloc { size, addr, .. } => {
                    s.allocations += 1;
                    s.bytes_allocated += size;
                    if let Some(old) = live.insert(addr, Block { size }) {
                        // Its free was lost; do not count the block twice.
                        live_bytes -= old.size;
                    }
                    live_bytes += size;
                    last_alloc.insert(e.thread, addr);
                    if let Some((t, thread)) = pending.remove(&addr) {
                        if t == e.time {
                            release(
                                &mut s,
                                &mut live,
                                &mut live_bytes,
                                &mut last_alloc,
                                addr,
                                thread,
                            );
                            continue;
                        }
                        s.untracked_frees += 1;
                    }
                    if live_bytes > s.peak_bytes {
                        s.peak_bytes = live_bytes;
                        peak_time = e.time;
                    }
                }
                EventKind::Free { addr } => {
                    if live.contains_key(&addr) {
                        release(
                            &mut s,
                            &mut live,
                            &mut live_bytes,
                            &mut last_alloc,
                            addr,
                            e.thread,
                        );
                    } else if pending.insert(addr, (e.time, e.thread)).is_some() {
                        s.untracked_frees += 1;
                    }
                }
                EventKind::Failed { .. } => s.failed_allocations += 1,
                EventKind::Marker { .. } => s.markers += 1,
                _ => {}
            }
        }
        s.untracked_frees += pending.len() as u64;
        s.leaked_blocks = live.len() as u64;
        s.leaked_bytes = live_bytes;
        s.threads = threads.len() as u64;
        s.peak_time_ns = capture.ns(peak_time);
        let clock = capture.clock();
        s.duration_ns = clock.end_ns().unwrap_or(0).max(capture.ns(last_time));
        s.corruption = events
            .problem()
            .map(|p| format!("{} at offset {}", p.what, p.offset));
        s
    }
}

fn release(
    s: &mut Summary,
    live: &mut HashMap<u64, Block>,
    live_bytes: &mut u64,
    last_alloc: &mut HashMap<ThreadId, u64>,
    addr: u64,
    thread: ThreadId,
) {
    if let Some(b) = live.remove(&addr) {
        *live_bytes -= b.size;
        s.frees += 1;
        if last_alloc.get(&thread) == Some(&addr) {
            s.temporary_allocations += 1;
            last_alloc.remove(&thread);
        }
    }
}
