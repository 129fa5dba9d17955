//! Every allocation of a capture with the time its block ended, read on every core at once:
//! each thread stream's chunks decode on their own, in runs handed out to workers.

use memprof_format::StackRef;

use crate::index::HeapIndex;
use crate::scan::walk;
use crate::sites::end_of;
use crate::Capture;

/// Chunks read as one piece of work.
const CHUNKS_PER_PART: usize = 16;

/// Calls `f(state, time, size, stack, end)` for every allocation made up to record time
/// `until`, with the time its block ended, if it did; each worker has a state of its own,
/// from `init`, and the states are returned. `None` when the index does not fit the records.
pub(crate) fn for_each_alloc<T: Send>(
    capture: &Capture,
    index: &HeapIndex,
    until: u64,
    init: impl Fn() -> T + Sync,
    f: impl Fn(&mut T, u64, u64, StackRef, Option<u64>) + Sync,
) -> Option<Vec<T>> {
    let mut parts = Vec::new();
    for (stream, t) in capture.threads.iter().enumerate() {
        // A chunk that starts after `until` holds nothing before it, nor do the later ones.
        let len = t.chunks.partition_point(|(_, base)| *base <= until);
        let mut c = 0;
        while c < len {
            parts.push((stream, c..(c + CHUNKS_PER_PART).min(len)));
            c += CHUNKS_PER_PART;
        }
    }
    // A worker whose part did not fit the index has no state, and reads no further part.
    let each = |state: &mut Option<T>, _, (stream, chunks): &(usize, std::ops::Range<usize>)| {
        let Some(st) = state else {
            return;
        };
        let walked = walk(capture, index, *stream, chunks.clone(), |b, lifetime| {
            if let (Some((time, stack, size)), Some(l)) = (b.allocation(), lifetime) {
                if time <= until {
                    f(st, time, size, stack, end_of(time, l));
                }
            }
        });
        if walked.is_err() {
            *state = None;
        }
    };
    crate::cores::share(&parts, || Some(init()), each)
        .into_iter()
        .collect()
}
