//! The heap index of a capture, built while its program runs.
//!
//! `memprof run` would otherwise replay every event once the program ended, before it can
//! print the summary; following the capture as it is written, on a core the program leaves
//! idle, has the index ready about when the program ends.
//!
//! Events are handed to the replay in time order up to a watermark some time behind the
//! newest record read, when every older record has normally been committed (a short time
//! while a single thread has allocated: only the first event of a new thread can then come
//! late, and only if that thread was held up between stamping and committing it). A record that
//! comes later than that (its thread was descheduled for longer between stamping and
//! committing it) would have to go before events already replayed: the index is then given
//! up, and built from the sealed capture as before. So is one whose records read here differ
//! in any way from the sealed capture's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;
use std::time::Duration;

use memprof_capture::{Capture, Change, HeapIndex, IndexBuilder, StreamId, Summary, ThreadId};
use memprof_format::{Record, TIME_SHIFT};
use memprof_symbols::Symbolizer;

use crate::ahead::Ahead;
use crate::collector::ClockReading;
use crate::tail::{Located, Tail};
use crate::Error;

/// How long a poll may spend resolving return addresses: a first look at a large module's
/// debug information takes longer, later ones a few microseconds per address.
const RESOLVE_BUDGET: Duration = Duration::from_millis(20);

/// Bytes of records read per poll at most (give or take a chunk): what the events held
/// between polls take is about eight times that.
const BUDGET: usize = 4 << 20;

#[derive(Clone, Copy)]
struct Pending {
    time: u64,
    chunk: usize,
    change: Change,
}

/// How long a record may take between its time stamp and its commit, in nanoseconds: while
/// one thread has allocated, and once several have.
#[derive(Clone, Copy, Debug)]
pub struct Holdback {
    pub alone_ns: u64,
    pub shared_ns: u64,
}

/// Builds the heap index of a capture while it is being written.
pub struct LiveIndex {
    tail: Tail,
    clock: Box<dyn FnMut() -> ClockReading + Send>,
    holdback: Holdback,
    state: Option<Building>,
    /// A record came too late, or the capture could not be read: no index.
    given_up: bool,
    /// Resolves return addresses as they are read, if asked to.
    ahead: Option<Ahead>,
}

struct Building {
    builder: IndexBuilder,
    /// Per stream, its events not yet replayed, in its order.
    queues: Vec<VecDeque<Pending>>,
    /// The first pending event of each stream that has one.
    heads: BinaryHeap<Reverse<(u64, ThreadId, u32)>>,
    /// Every event stamped before this was replayed.
    released: u64,
    newest: u64,
    /// The holdbacks in record time: while one stream has had events, and once several have.
    holdback_alone: u64,
    holdback: u64,
    /// The stream of the first event, and whether another stream has had events since.
    first_stream: Option<u32>,
    several: bool,
    late: bool,
    /// The stream of the last record's thread.
    last: Option<(ThreadId, StreamId)>,
}

impl LiveIndex {
    /// Follows the capture at `path` (which its program may not have created yet), telling
    /// time with `clock`, for records that take at most `holdback` between their time stamp
    /// and their commit.
    pub fn open(
        path: &Path,
        clock: Box<dyn FnMut() -> ClockReading + Send>,
        holdback: Holdback,
    ) -> Result<LiveIndex, Error> {
        Ok(LiveIndex {
            tail: Tail::open(path)?,
            clock,
            holdback,
            state: None,
            given_up: false,
            ahead: None,
        })
    }

    /// Also resolves the return addresses of the stacks as they are read, for
    /// [`LiveIndex::take_symbolizer`].
    pub fn resolving_symbols(mut self) -> LiveIndex {
        self.ahead = Some(Ahead::default());
        self
    }

    /// The symbolizer that resolved the addresses read so far, if this index resolves them.
    pub fn take_symbolizer(&mut self) -> Option<Symbolizer> {
        self.ahead.take().map(Ahead::into_symbolizer)
    }

    /// Reads the records committed since the last poll and replays the events old enough.
    /// Returns how many records it read.
    pub fn poll(&mut self) -> Result<u64, Error> {
        if self.given_up {
            return Ok(0);
        }
        let result = self.read(false);
        if result.is_err() {
            self.given_up = true;
        }
        if let Some(ahead) = &mut self.ahead {
            ahead.resolve(RESOLVE_BUDGET);
        }
        result
    }

    /// After the program ended and its capture was sealed: reads what is left and returns
    /// the index and the summary of `capture`, the sealed capture, unless it was given up.
    pub fn finish(mut self, capture: &Capture) -> Option<(HeapIndex<'static>, Summary)> {
        if self.given_up || self.read(true).is_err() || self.tail.corrupt_chunks() > 0 {
            return None;
        }
        let state = self.state.take()?;
        if state.late {
            return None;
        }
        let made = state.builder.finish(capture, &self.tail.chunks_read());
        // What is left is only memory to give back.
        memprof_capture::drop_aside((self, state.queues));
        made
    }

    fn read(&mut self, last: bool) -> Result<u64, Error> {
        if self.state.is_none() {
            // The header first: the replay needs the recording's start.
            self.tail.poll(0, &mut |_, _| {})?;
            let r = self.tail.recording();
            if r.start_tsc == 0 {
                return Ok(0);
            }
            let now = (self.clock)();
            // The TSC's rate is told from the time since the start: wait until that is long
            // enough to tell it well (the records wait in the file meanwhile).
            if !last && now.mono_ns.saturating_sub(r.start_mono_ns) < 10_000_000 {
                return Ok(0);
            }
            let builder = IndexBuilder::new((r.start_tsc, r.start_mono_ns), (now.tsc, now.mono_ns));
            let ticks = |ns: u64| ((ns as f64 * r.tsc_per_ns(|| now)) as u64) >> TIME_SHIFT;
            self.state = Some(Building {
                builder,
                queues: Vec::new(),
                heads: BinaryHeap::new(),
                released: 0,
                newest: 0,
                holdback_alone: ticks(self.holdback.alone_ns),
                holdback: ticks(self.holdback.shared_ns),
                first_stream: None,
                several: false,
                late: false,
                last: None,
            });
        }
        let state = self.state.as_mut().expect("made above");
        let ahead = &mut self.ahead;
        let mut records = 0;
        loop {
            let polled = self.tail.poll_located(BUDGET, &mut |at, rec| {
                state.take(at, rec);
                if let Some(a) = ahead.as_mut() {
                    a.take(rec);
                }
            })?;
            records += polled.records;
            let drained = last && polled.records == 0 && polled.behind.is_none();
            let mut watermark = if drained {
                u64::MAX
            } else {
                state.newest.saturating_sub(state.holdback())
            };
            if let Some(unread) = polled.behind {
                watermark = watermark.min(unread);
            }
            state.release(watermark);
            if !last || drained {
                return Ok(records);
            }
        }
    }

    /// About how much of what was written so far has been read: from 0 to 1.
    pub fn progress(&self) -> f64 {
        self.tail.progress()
    }
}

impl Building {
    /// How far behind the newest event the watermark stays.
    fn holdback(&self) -> u64 {
        if self.several {
            self.holdback
        } else {
            self.holdback_alone
        }
    }

    fn take(&mut self, at: Located, rec: &Record) {
        // Records come a chunk at a time.
        let stream = match self.last {
            Some((tid, stream)) if tid == at.thread => stream,
            _ => {
                let stream = self.builder.stream(at.thread);
                self.last = Some((at.thread, stream));
                stream
            }
        };
        self.builder.read(stream, rec);
        let chunk = at.chunk;
        let mut push = |time: u64, change| {
            self.push(
                stream,
                at.thread,
                Pending {
                    time,
                    chunk,
                    change,
                },
            )
        };
        match *rec {
            Record::Alloc {
                time, size, addr, ..
            } => push(time, Change::Alloc { size, addr }),
            Record::Free { time, addr }
            | Record::ReallocFree {
                time, old: addr, ..
            } => push(time, Change::Free { addr }),
            Record::Realloc {
                time,
                done,
                size,
                old,
                new,
                ..
            } => {
                push(time, Change::Free { addr: old });
                push(done, Change::Alloc { size, addr: new });
            }
            _ => {}
        }
    }

    fn push(&mut self, stream: StreamId, tid: ThreadId, e: Pending) {
        let s = stream.0 as usize;
        if self.queues.len() <= s {
            self.queues.resize_with(s + 1, VecDeque::new);
        }
        match self.first_stream {
            None => self.first_stream = Some(stream.0),
            Some(first) => self.several |= first != stream.0,
        }
        // Events before the watermark have been replayed: this one cannot go before them.
        self.late |= e.time < self.released;
        self.newest = self.newest.max(e.time);
        if self.queues[s].is_empty() {
            self.heads.push(Reverse((e.time, tid, stream.0)));
        }
        self.queues[s].push_back(e);
    }

    /// Replays every pending event stamped before `watermark`, merging the streams as the
    /// sealed capture's events are merged (by time, then thread id).
    fn release(&mut self, watermark: u64) {
        if self.late {
            return;
        }
        while let Some(Reverse((time, tid, s))) = self.heads.pop() {
            if time >= watermark {
                self.heads.push(Reverse((time, tid, s)));
                break;
            }
            // The stream's events go on being the oldest until the next stream's head.
            let until = self
                .heads
                .peek()
                .map_or((watermark, ThreadId(0)), |Reverse((t, id, _))| (*t, *id))
                .min((watermark, ThreadId(0)));
            let queue = &mut self.queues[s as usize];
            while let Some(e) = queue.front() {
                if (e.time, tid) >= until {
                    break;
                }
                self.builder.change(StreamId(s), e.chunk, e.time, e.change);
                queue.pop_front();
            }
            if let Some(next) = queue.front() {
                self.heads.push(Reverse((next.time, tid, s)));
            }
        }
        self.released = self.released.max(watermark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn building() -> Building {
        Building {
            builder: IndexBuilder::new((0, 0), (1_000, 1_000)),
            queues: Vec::new(),
            heads: BinaryHeap::new(),
            released: 0,
            newest: 0,
            holdback_alone: 0,
            holdback: 0,
            first_stream: None,
            several: false,
            late: false,
            last: None,
        }
    }

    fn free(b: &mut Building, tid: u32, time: u64) {
        let stream = b.builder.stream(ThreadId(tid));
        let change = Change::Free { addr: time };
        b.push(
            stream,
            ThreadId(tid),
            Pending {
                time,
                chunk: 0,
                change,
            },
        );
    }

    fn held(b: &Building) -> Vec<u64> {
        let mut times: Vec<u64> = b.queues.iter().flatten().map(|e| e.time).collect();
        times.sort();
        times
    }

    #[test]
    fn the_holdback_is_short_until_a_second_thread_has_events() {
        let mut b = building();
        (b.holdback_alone, b.holdback) = (5, 200);
        free(&mut b, 1, 10);
        free(&mut b, 1, 20);
        assert_eq!(b.holdback(), 5);
        free(&mut b, 2, 30);
        assert_eq!(b.holdback(), 200);
    }

    #[test]
    fn events_wait_for_the_watermark_and_older_ones_after_it_give_the_index_up() {
        let mut b = building();
        free(&mut b, 1, 10);
        free(&mut b, 2, 15);
        free(&mut b, 1, 20);
        free(&mut b, 2, 60);
        b.release(50);
        assert_eq!(held(&b), [60]);
        // Stamped at or after the watermark: still in time.
        free(&mut b, 1, 50);
        free(&mut b, 1, 55);
        assert!(!b.late);
        b.release(58);
        assert_eq!(held(&b), [60]);
        // Another thread's record stamped before events already replayed.
        free(&mut b, 3, 57);
        assert!(b.late);
        // Nothing more is replayed once the order is lost.
        b.release(u64::MAX);
        assert_eq!(held(&b), [57, 60]);
    }

    #[test]
    fn a_thread_with_nothing_pending_does_not_hold_the_others_back() {
        let mut b = building();
        free(&mut b, 1, 5);
        b.release(10);
        free(&mut b, 2, 30);
        free(&mut b, 2, 31);
        b.release(31);
        assert_eq!(held(&b), [31]);
        assert!(!b.late);
    }
}
