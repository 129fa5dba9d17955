//! The heap over time: the size of the live heap after every event, kept as at most
//! [`MAX_BUCKETS`] buckets of equal width (min, max, first and last value, allocations), and
//! gathered into as many columns as a chart or a table has.
//!
//! The buckets are filled while the heap index is built (the only time the events are read in
//! time order) and stored with it; while they are filled, whenever the run outgrows them, each
//! pair of neighbours merges and the width doubles. The memory is the same for a second of
//! recording and for an hour.

use serde::Serialize;

use crate::{Capture, Range};

/// Most buckets a series keeps.
pub const MAX_BUCKETS: usize = 4096;

/// What the heap did during one bucket (or column) of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Allocations and releases in it; when 0, the heap kept the size it had before.
    pub events: u64,
    /// Smallest and largest heap size after an event in it.
    pub min: u64,
    pub max: u64,
    /// The heap size after its first and after its last event.
    pub first: u64,
    pub last: u64,
    pub allocations: u64,
    /// Bytes requested by its allocations.
    pub bytes: u64,
}

impl Bucket {
    fn merge(&mut self, b: &Bucket) {
        if b.events == 0 {
            return;
        }
        if self.events == 0 {
            *self = *b;
            return;
        }
        self.events += b.events;
        self.min = self.min.min(b.min);
        self.max = self.max.max(b.max);
        self.last = b.last;
        self.allocations += b.allocations;
        self.bytes += b.bytes;
    }

    /// The bucket's values, for storage.
    pub(crate) fn encode(&self, out: &mut Vec<u64>) {
        out.push(self.events);
        if self.events > 0 {
            let v = [
                self.min,
                self.max,
                self.first,
                self.last,
                self.allocations,
                self.bytes,
            ];
            out.extend(v);
        }
    }

    /// The inverse of [`Bucket::encode`].
    pub(crate) fn decode(values: &mut impl Iterator<Item = u64>) -> Option<Bucket> {
        let events = values.next()?;
        if events == 0 {
            return Some(Bucket::default());
        }
        let mut next = || values.next();
        Some(Bucket {
            events,
            min: next()?,
            max: next()?,
            first: next()?,
            last: next()?,
            allocations: next()?,
            bytes: next()?,
        })
    }
}

/// The heap over a whole capture, in buckets of `width` record time units from `start`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeapSeries {
    pub start: u64,
    pub width: u64,
    pub buckets: Vec<Bucket>,
}

impl HeapSeries {
    /// An empty series from record time `start`.
    pub(crate) fn new(start: u64) -> HeapSeries {
        HeapSeries {
            start,
            width: 1,
            buckets: Vec::new(),
        }
    }

    /// The heap is `heap` bytes after an event at `time`; `allocated` is the size of the
    /// allocation the event was, if it was one.
    pub(crate) fn record(&mut self, time: u64, heap: u64, allocated: Option<u64>) {
        let t = time.saturating_sub(self.start);
        while t / self.width >= MAX_BUCKETS as u64 {
            self.halve();
        }
        let i = (t / self.width) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, Bucket::default());
        }
        let mut b = Bucket {
            events: 1,
            min: heap,
            max: heap,
            first: heap,
            last: heap,
            ..Bucket::default()
        };
        if let Some(size) = allocated {
            (b.allocations, b.bytes) = (1, size);
        }
        self.buckets[i].merge(&b);
    }

    fn halve(&mut self) {
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut b = pair[0];
                if let Some(second) = pair.get(1) {
                    b.merge(second);
                }
                b
            })
            .collect();
        self.buckets = merged;
        self.width *= 2;
    }

    /// The heap over `range` in `columns` columns of equal width (the last may be shorter).
    /// Each bucket counts in the column its start falls in (the first column also takes the
    /// bucket the range starts in), so that the columns add up; a column finer than a bucket
    /// shows the heap of the bucket it lies in, with no events of its own.
    pub fn columns(&self, capture: &Capture, range: Range, columns: usize) -> Vec<Column> {
        let len = self.buckets.len() as u64;
        let end = self.start.saturating_add(self.width.saturating_mul(len));
        let (from, to) = (range.from.max(self.start), range.to.min(end));
        if columns == 0 || to <= from {
            return Vec::new();
        }
        let span = (to - from).div_ceil(columns as u64).max(1);
        // The first bucket starting at or after `t`.
        let first_from =
            |t: u64| ((t - self.start).div_ceil(self.width) as usize).min(self.buckets.len());
        let mut heap = self.heap_before(from);
        let mut next = ((from - self.start) / self.width) as usize;
        let mut out = Vec::with_capacity(columns);
        for c in 0..columns as u64 {
            let at = |c: u64| from.saturating_add(c.saturating_mul(span));
            let (a, b) = (at(c), at(c + 1).min(to));
            if a >= to {
                break;
            }
            let until = if b >= to {
                self.buckets.len()
            } else {
                first_from(b)
            };
            let mut col = Bucket::default();
            for bucket in &self.buckets[next.min(until)..until] {
                col.merge(bucket);
            }
            next = next.max(until);
            if col.events == 0 {
                // Nothing started here: the heap of the bucket it lies in, or as it was.
                let within = self.buckets.get(((a - self.start) / self.width) as usize);
                let (low, high) = match within.filter(|w| w.events > 0) {
                    Some(w) => (w.min, w.max),
                    None => (heap, heap),
                };
                (col.min, col.max, col.first, col.last) = (low, high, heap, heap);
            }
            heap = col.last;
            out.push(Column {
                from_ns: capture.ns(a),
                to_ns: capture.ns(b),
                heap: col,
            });
        }
        out
    }

    /// The spans of `range` that hold its peak: the whole bucket with the highest heap, and
    /// the partial buckets at both ends (or the range itself when it spans three buckets or
    /// fewer, or there is no series).
    pub(crate) fn peak_windows(&self, range: Range) -> Vec<Range> {
        let n = self.buckets.len() as u64;
        // Bucket k holds the times in (edge(k), edge(k + 1)].
        // Saturating: a corrupt stored series must not overflow.
        let edge = |k: u64| {
            let at = self.start.saturating_add(k.saturating_mul(self.width));
            at.saturating_sub(1)
        };
        let bucket = |t: u64| (t.saturating_sub(self.start) / self.width).min(n.saturating_sub(1));
        let (first, last) = (bucket(range.from.saturating_add(1)), bucket(range.to));
        if n == 0 || last <= first + 2 {
            return vec![range];
        }
        let best = (first + 1..last)
            .filter(|&k| self.buckets[k as usize].events > 0)
            .max_by_key(|&k| (self.buckets[k as usize].max, std::cmp::Reverse(k)));
        let mut windows = vec![
            Range {
                from: range.from,
                to: edge(first + 1),
            },
            Range {
                from: edge(last),
                to: range.to,
            },
        ];
        if let Some(k) = best {
            windows.push(Range {
                from: edge(k),
                to: edge(k + 1),
            });
        }
        windows
    }

    /// The heap size at the start of the bucket holding `time`.
    fn heap_before(&self, time: u64) -> u64 {
        let i = ((time - self.start) / self.width) as usize;
        self.buckets[..i.min(self.buckets.len())]
            .iter()
            .rev()
            .find(|b| b.events > 0)
            .map_or(0, |b| b.last)
    }
}

/// The heap during one column of a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub from_ns: u64,
    pub to_ns: u64,
    #[serde(flatten)]
    pub heap: Bucket,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_keeps_the_extremes_and_the_ends() {
        let mut s = HeapSeries::new(100);
        // The heap grows by 10 every tick up to 10,000 ticks, then drops to 0.
        for t in 0..10_000u64 {
            s.record(100 + t, (t + 1) * 10, Some(10));
        }
        s.record(100 + 10_000, 0, None);
        assert!(s.buckets.len() <= MAX_BUCKETS);
        assert_eq!(s.width, 4);
        let all = s.buckets.iter().fold(Bucket::default(), |mut a, b| {
            a.merge(b);
            a
        });
        assert_eq!(
            (all.events, all.min, all.max, all.first, all.last),
            (10_001, 0, 100_000, 10, 0)
        );
        assert_eq!((all.allocations, all.bytes), (10_000, 100_000));
    }

    #[test]
    fn encoding_round_trips() {
        let b = Bucket {
            events: 3,
            min: 1,
            max: 9,
            first: 2,
            last: 8,
            allocations: 2,
            bytes: 77,
        };
        let mut v = Vec::new();
        b.encode(&mut v);
        Bucket::default().encode(&mut v);
        let mut it = v.into_iter();
        assert_eq!(Bucket::decode(&mut it), Some(b));
        assert_eq!(Bucket::decode(&mut it), Some(Bucket::default()));
        assert_eq!(Bucket::decode(&mut it), None);
    }
}
