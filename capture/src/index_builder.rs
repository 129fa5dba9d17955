//! Building a capture's heap index while its program still writes it, so that the index is
//! ready when the program ends instead of costing a replay of every event then.
//!
//! The caller reads the records as they are committed, puts the threads' events back in time
//! order, and hands them over with [`IndexBuilder::change`]; every record also goes to
//! [`IndexBuilder::read`], which counts what the summary needs. At the end,
//! [`IndexBuilder::finish`] checks that what it was given is the whole sealed capture before
//! the index and the summary are used: the summary then needs no second read of the records.

use rustc_hash::FxHashMap;

use memprof_format::{Record, MARKS_TID};

use crate::capture::Clock;
use crate::index::{Copies, HeapIndex};
use crate::replay::{Change, Replay, Step};
use crate::summary::Tally;
use crate::{Capture, Summary, ThreadId};

/// A thread stream of an [`IndexBuilder`], numbered in the order met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId(pub u32);

/// The heap index of a capture being written.
pub struct IndexBuilder {
    replay: Replay,
    /// The thread of each stream.
    tids: Vec<ThreadId>,
    streams: FxHashMap<ThreadId, StreamId>,
    /// Per stream, its description records, in its order.
    kept: Vec<Vec<Kept>>,
    tally: Tally,
}

impl IndexBuilder {
    /// A builder for a capture whose recording started at `start`, a (TSC, `CLOCK_MONOTONIC`
    /// nanoseconds) pair as its header has it; `now` is a later pair, to tell the TSC's rate.
    pub fn new(start: (u64, u64), now: (u64, u64)) -> IndexBuilder {
        let clock = Clock::between(start, now);
        IndexBuilder {
            replay: Replay::new(0, crate::summary::skew(clock), clock.ticks(0)),
            tids: Vec::new(),
            streams: FxHashMap::default(),
            kept: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// The stream of thread `tid` (the records of a kernel thread id that was used twice
    /// form one stream, as they do in [`Capture`]).
    pub fn stream(&mut self, tid: ThreadId) -> StreamId {
        *self.streams.entry(tid).or_insert_with(|| {
            self.tids.push(tid);
            self.kept.push(Vec::new());
            StreamId(self.tids.len() as u32 - 1)
        })
    }

    /// The next event in time order: `change` at record time `time`, read from the
    /// `chunk`th chunk of `stream`'s thread.
    pub fn change(&mut self, stream: StreamId, chunk: usize, time: u64, change: Change) {
        self.replay.push(Step {
            stream: stream.0 as usize,
            chunk,
            time,
            change,
        });
    }

    /// Takes note of `record`, read from `stream`'s thread (every record read goes here, in
    /// each thread's order): counts what the summary counts, and keeps a copy if the index
    /// carries one.
    pub fn read(&mut self, stream: StreamId, record: &Record) {
        // The summary counts `memprof mark`'s markers from the sealed capture.
        if self.tids[stream.0 as usize] != ThreadId(MARKS_TID) {
            self.tally.record(record);
        }
        if let Some(k) = Kept::of(record) {
            self.kept[stream.0 as usize].push(k);
        }
    }

    /// The index and the summary of `capture`, the sealed capture the events were read from.
    /// `read` lists every chunk of its threads' records, in file order, with its thread and
    /// the bytes that were read of it; `None` unless they are exactly the capture's.
    pub fn finish(
        self,
        capture: &Capture,
        read: &[(ThreadId, usize)],
    ) -> Option<(HeapIndex<'static>, Summary)> {
        let mut by_tid: FxHashMap<ThreadId, Vec<usize>> = FxHashMap::default();
        for &(tid, bytes) in read {
            by_tid.entry(tid).or_default().push(bytes);
        }
        if by_tid.len() != capture.threads.len() {
            return None;
        }
        for t in &capture.threads {
            let lens = t.chunks.iter().map(|(r, _)| r.len());
            if !by_tid.get(&t.tid)?.iter().copied().eq(lens) {
                return None;
            }
        }
        let IndexBuilder {
            replay,
            streams,
            mut kept,
            tally,
            ..
        } = self;
        let (mut index, ends) = replay.finish();
        // The capture numbers its streams in thread id order.
        let mut lifetimes = std::mem::take(&mut index.lifetimes);
        lifetimes.resize(kept.len(), Vec::new());
        let mut copies = Vec::new();
        index.lifetimes = capture
            .threads
            .iter()
            .map(|t| match streams.get(&t.tid) {
                Some(s) => {
                    copies.append(&mut kept[s.0 as usize]);
                    std::mem::take(&mut lifetimes[s.0 as usize])
                }
                None => Vec::new(),
            })
            .collect();
        index.copies = Copies::Owned(copies);
        let summary = tally.summary(capture, &index, &ends);
        Some((index, summary))
    }
}

/// A description record, owned.
pub(crate) enum Kept {
    StackNode {
        id: u64,
        parent: u64,
        ip: u64,
    },
    ModuleLoad {
        time: u64,
        base: u64,
        size: u64,
        build_id: Box<[u8]>,
        path: Box<[u8]>,
    },
    ModuleUnload {
        time: u64,
        base: u64,
    },
    Marker {
        time: u64,
        label: Box<[u8]>,
    },
}

impl Kept {
    fn of(record: &Record) -> Option<Kept> {
        Some(match *record {
            Record::StackNode { id, parent, ip } => Kept::StackNode { id, parent, ip },
            Record::ModuleLoad {
                time,
                base,
                size,
                build_id,
                path,
            } => Kept::ModuleLoad {
                time,
                base,
                size,
                build_id: build_id.into(),
                path: path.into(),
            },
            Record::ModuleUnload { time, base } => Kept::ModuleUnload { time, base },
            Record::Marker { time, label } => Kept::Marker {
                time,
                label: label.into(),
            },
            _ => return None,
        })
    }

    pub fn record(&self) -> Record<'_> {
        match *self {
            Kept::StackNode { id, parent, ip } => Record::StackNode { id, parent, ip },
            Kept::ModuleLoad {
                time,
                base,
                size,
                ref build_id,
                ref path,
            } => Record::ModuleLoad {
                time,
                base,
                size,
                build_id,
                path,
            },
            Kept::ModuleUnload { time, base } => Record::ModuleUnload { time, base },
            Kept::Marker { time, ref label } => Record::Marker { time, label },
        }
    }
}
