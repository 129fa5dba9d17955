//! Putting the threads' records back in time order.
//!
//! Each thread's records arrive in order, but one thread's may be read a moment before
//! another's that are older: a block freed by thread B can be read before its allocation by
//! thread A. Events are therefore held and released in time order only up to a watermark a
//! little behind the newest time seen, by when every older record has been committed and
//! read.

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

/// Events waiting for their turn.
#[derive(Default)]
pub(crate) struct Streams {
    /// In the order read: each thread's events in its own order.
    queue: Vec<(ThreadId, Event)>,
    /// The newest time seen in any thread.
    pub newest: u64,
}

impl Streams {
    pub fn push(&mut self, thread: ThreadId, event: Event) {
        self.newest = self.newest.max(event.time);
        self.queue.push((thread, event));
    }

    /// Events held back.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.queue.len()
    }

    /// Moves every held event stamped at or before `watermark` to `ready`, oldest first.
    pub fn release(&mut self, watermark: u64, ready: &mut Vec<(ThreadId, Event)>) {
        // The queue is a few sorted runs (one per thread and poll), which a stable sort
        // merges in about linear time; stability keeps a thread's events of one tick (a
        // realloc's free and allocation) in their order.
        self.queue.sort_by_key(|(_, e)| e.time);
        let n = self.queue.partition_point(|(_, e)| e.time <= watermark);
        ready.extend(self.queue.drain(..n));
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
        let times = |out: &[(ThreadId, Event)]| -> Vec<(u32, u64)> {
            out.iter().map(|(th, e)| (th.0, e.time)).collect()
        };
        let mut out = Vec::new();
        s.release(6, &mut out);
        assert_eq!(
            times(&out),
            [(1, 1), (2, 2), (2, 3), (1, 4), (1, 5), (2, 6)]
        );
        assert_eq!(s.held(), 2);
        assert_eq!(s.newest, 9);
        out.clear();
        s.release(u64::MAX, &mut out);
        assert_eq!(times(&out), [(2, 8), (1, 9)]);
        assert_eq!(s.held(), 0);
    }
}
