//! What each thread did over time: its allocations per column of a chart, for the timeline's
//! per-thread rows. Each thread's records are read on their own, in order, without the heap
//! index, so this can run beside the first analysis.

use crate::events::ThreadStream;
use crate::{Capture, Range, ThreadId};

/// One thread's allocations and requested bytes per column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadActivity {
    pub thread: ThreadId,
    pub allocations: Vec<u64>,
    pub bytes: Vec<u64>,
}

impl ThreadActivity {
    /// Every recorded thread's allocations within `range` (record times), in `columns` columns
    /// of equal width; the threads in id order. The range is clamped to the recorded times.
    pub fn of(capture: &Capture, range: Range, columns: usize) -> Vec<ThreadActivity> {
        let from = range.from.max(capture.ticks(0));
        let end = capture.ticks(capture.clock().end_ns().unwrap_or(0));
        let threads = &capture.threads;
        // Without an end calibration, the last record bounds the range.
        let to = if range.to == u64::MAX && end > from {
            end
        } else {
            range.to
        };
        let mut out: Vec<ThreadActivity> = Vec::with_capacity(threads.len());
        for t in threads {
            let mut a = ThreadActivity {
                thread: t.tid,
                allocations: vec![0; columns],
                bytes: vec![0; columns],
            };
            // Only the chunks that can hold records of the range: from the one it starts in
            // (a chunk's records come after its base time) to the last starting in it.
            let first = t.chunks.partition_point(|c| c.1 <= from).saturating_sub(1);
            let last = match range.to {
                u64::MAX => t.chunks.len(),
                _ => t.chunks.partition_point(|c| c.1 <= to),
            };
            let chunks = &t.chunks[first..last.max(first)];
            let mut stream = ThreadStream::of_chunks(capture.bytes(), t.tid, chunks);
            let mut late = Vec::new();
            while let Some(b) = stream.next_brief() {
                let Some((time, _, size)) = b.allocation() else {
                    continue;
                };
                if range.to == u64::MAX && time > to {
                    // Past the calibration: counted once the real end is known.
                    late.push((time, size));
                } else if time > from && time <= to {
                    a.add(column(time, from, to, columns), size);
                }
            }
            out.push(a);
            if !late.is_empty() {
                // Rare (a capture cut short has no end calibration): widen to the last one.
                return ThreadActivity::of(
                    capture,
                    Range {
                        from: range.from,
                        to: threads_last_time(capture),
                    },
                    columns,
                );
            }
        }
        out
    }

    fn add(&mut self, column: usize, size: u64) {
        if let Some(n) = self.allocations.get_mut(column) {
            *n += 1;
            self.bytes[column] += size;
        }
    }
}

fn column(time: u64, from: u64, to: u64, columns: usize) -> usize {
    let span = (to - from).max(1);
    ((u128::from(time - from - 1) * columns as u128 / u128::from(span)) as usize)
        .min(columns.saturating_sub(1))
}

/// The time of the last record of any thread.
fn threads_last_time(capture: &Capture) -> u64 {
    capture
        .threads
        .iter()
        .filter_map(|t| {
            let mut s = ThreadStream::new(capture.bytes(), t);
            let mut last = None;
            while let Some(b) = s.next_brief() {
                last = b.time().or(last);
            }
            last
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_split_the_range_evenly() {
        assert_eq!(super::column(1, 0, 100, 10), 0);
        assert_eq!(super::column(10, 0, 100, 10), 0);
        assert_eq!(super::column(11, 0, 100, 10), 1);
        assert_eq!(super::column(100, 0, 100, 10), 9);
    }
}
