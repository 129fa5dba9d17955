//! Putting the threads' records back in time order.
//!
//! Each thread's records arrive in order, but one thread's may be read a moment before
//! another's that are older: a block freed by thread B can be read before its allocation by
//! thread A. Events are therefore held per thread and released in time order only up to a
//! watermark a little behind the newest time seen, by when every older record has been
//! committed and read.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

use memprof_capture::ThreadId;

/// What one event does to the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Alloc { addr: u64, size: u64, stack: u64 },
    Free { addr: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub time: u64,
    pub change: Change,
}

/// Events waiting for their turn, per thread.
#[derive(Default)]
pub(crate) struct Streams {
    threads: Vec<VecDeque<Event>>,
    ids: Vec<ThreadId>,
    index: FxHashMap<ThreadId, usize>,
    /// The newest time seen in any thread.
    pub newest: u64,
}

impl Streams {
    pub fn push(&mut self, thread: ThreadId, event: Event) {
        let i = *self.index.entry(thread).or_insert_with(|| {
            self.threads.push(VecDeque::new());
            self.ids.push(thread);
            self.ids.len() - 1
        });
        self.newest = self.newest.max(event.time);
        self.threads[i].push_back(event);
    }

    /// Events held back.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.threads.iter().map(VecDeque::len).sum()
    }

    /// Passes every held event stamped at or before `watermark` to `apply`, oldest first.
    pub fn release(&mut self, watermark: u64, apply: &mut impl FnMut(ThreadId, Event)) {
        let mut fronts: BinaryHeap<Reverse<(u64, usize)>> = self
            .threads
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|e| Reverse((e.time, i))))
            .collect();
        while let Some(Reverse((time, i))) = fronts.pop() {
            if time > watermark {
                break;
            }
            let q = &mut self.threads[i];
            // Take the thread's whole run that precedes every other thread's front.
            let limit = fronts.peek().map_or(watermark, |r| r.0 .0.min(watermark));
            while let Some(e) = q.front().copied() {
                if e.time > limit {
                    break;
                }
                q.pop_front();
                apply(self.ids[i], e);
            }
            if let Some(e) = q.front() {
                fronts.push(Reverse((e.time, i)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(time: u64, addr: u64) -> Event {
        Event {
            time,
            change: Change::Free { addr },
        }
    }

    #[test]
    fn releases_in_time_order_up_to_the_watermark() {
        let mut s = Streams::default();
        for t in [1, 4, 5, 9] {
            s.push(ThreadId(1), free(t, t));
        }
        for t in [2, 3, 6, 8] {
            s.push(ThreadId(2), free(t, t));
        }
        let mut out = Vec::new();
        s.release(6, &mut |th, e| out.push((th.0, e.time)));
        assert_eq!(out, [(1, 1), (2, 2), (2, 3), (1, 4), (1, 5), (2, 6)]);
        assert_eq!(s.held(), 2);
        assert_eq!(s.newest, 9);
        out.clear();
        s.release(u64::MAX, &mut |th, e| out.push((th.0, e.time)));
        assert_eq!(out, [(2, 8), (1, 9)]);
        assert_eq!(s.held(), 0);
    }
}
