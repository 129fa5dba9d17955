//! The replay that builds a heap index: events in time order through a map of live blocks,
//! noting when each allocation ended, the peak and the heap over time.
//!
//! It is fed either from a sealed capture ([`crate::HeapIndex::build`]) or from a capture
//! while its program writes it ([`crate::IndexBuilder`]).

use std::borrow::Cow;
use std::collections::VecDeque;

use memprof_format::Lifetime;

use crate::heap::{AllocId, Block, FreeOutcome, Freed, Heap};
use crate::index::{encode_pieces, HeapIndex};
use crate::series::HeapSeries;

/// What an event does to the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Alloc { size: u64, addr: u64 },
    Free { addr: u64 },
}

/// One event of a thread stream, with the number of the stream's chunk it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub stream: usize,
    pub chunk: usize,
    pub time: u64,
    pub change: Change,
}

/// Events are taken this far ahead of their replay, so that the slots of the addresses they
/// touch are already in cache when their turn comes.
const AHEAD: usize = 24;

pub(crate) struct Replay {
    heap: Heap,
    /// Per stream, the lifetime code of each of its allocations, in order.
    codes: Vec<Vec<u64>>,
    /// Per stream, the number of its first allocation in each of its chunks.
    chunk_starts: Vec<Vec<usize>>,
    peak_bytes: u64,
    peak_time: u64,
    untracked: u64,
    ends: Ends,
    series: HeapSeries,
    ahead: VecDeque<Step>,
}

/// What became of the blocks a replay saw allocated, as the summary counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ends {
    pub allocations: u64,
    pub bytes: u64,
    pub frees: u64,
    freed_bytes: u64,
    pub temporary: u64,
    pub cross_thread: u64,
    pub leaked_blocks: u64,
    pub leaked_bytes: u64,
}

impl Replay {
    /// A replay of `streams` thread streams (more are added as they come), whose clocks may
    /// disagree by up to `skew`, from record time `start`.
    pub fn new(streams: usize, skew: u64, start: u64) -> Replay {
        Replay {
            heap: Heap::new(streams, skew),
            codes: vec![Vec::new(); streams],
            chunk_starts: vec![Vec::new(); streams],
            peak_bytes: 0,
            peak_time: 0,
            untracked: 0,
            ends: Ends::default(),
            series: HeapSeries::new(start),
            ahead: VecDeque::with_capacity(AHEAD),
        }
    }

    /// Takes the next event in time order.
    pub fn push(&mut self, step: Step) {
        let (Change::Alloc { addr, .. } | Change::Free { addr }) = step.change;
        self.heap.prefetch(addr);
        if self.ahead.len() == AHEAD {
            let first = self.ahead.pop_front().expect("full");
            self.apply(first);
        }
        self.ahead.push_back(step);
    }

    fn apply(&mut self, step: Step) {
        let Step {
            stream,
            chunk,
            time,
            change,
        } = step;
        if self.codes.len() <= stream {
            self.codes.resize(stream + 1, Vec::new());
            self.chunk_starts.resize(stream + 1, Vec::new());
        }
        match change {
            Change::Alloc { size, addr } => {
                let codes = &mut self.codes[stream];
                let starts = &mut self.chunk_starts[stream];
                while starts.len() <= chunk {
                    starts.push(codes.len());
                }
                let id = AllocId {
                    stream: stream as u32,
                    ordinal: codes.len() as u32,
                };
                codes.push(Lifetime::Live.code());
                self.ends.allocations += 1;
                self.ends.bytes += size;
                let block = Block { size, time, id };
                if let Some(f) = self.heap.alloc(time, stream, addr, block) {
                    self.end(f, time);
                } else if self.heap.live_bytes() > self.peak_bytes {
                    (self.peak_bytes, self.peak_time) = (self.heap.live_bytes(), time);
                }
                self.series.record(time, self.heap.live_bytes(), Some(size));
            }
            Change::Free { addr } => match self.heap.free(time, stream, addr) {
                FreeOutcome::Released(f) => {
                    self.end(f, time);
                    self.series.record(time, self.heap.live_bytes(), None);
                }
                FreeOutcome::Pending => {}
                FreeOutcome::Untracked => self.untracked += 1,
            },
        }
    }

    fn end(&mut self, f: Freed, time: u64) {
        self.ends.frees += 1;
        self.ends.freed_bytes += f.block.size;
        self.ends.temporary += u64::from(f.temporary);
        self.ends.cross_thread += u64::from(f.elsewhere);
        let b = f.block;
        self.codes[b.id.stream as usize][b.id.ordinal as usize] = Lifetime::Freed {
            after: time.saturating_sub(b.time),
            temporary: f.temporary,
            elsewhere: f.elsewhere,
        }
        .code();
    }

    /// Ends the replay: the index, which has no copies of the capture's descriptions yet,
    /// and what became of the blocks.
    pub fn finish(mut self) -> (HeapIndex<'static>, Ends) {
        while let Some(step) = self.ahead.pop_front() {
            self.apply(step);
        }
        self.heap.finish();
        for (b, time) in &self.heap.lost {
            self.codes[b.id.stream as usize][b.id.ordinal as usize] = Lifetime::Lost {
                after: time.saturating_sub(b.time),
            }
            .code();
        }
        // Blocks neither freed nor lost are live at the end.
        let lost_bytes: u64 = self.heap.lost.iter().map(|(b, _)| b.size).sum();
        self.ends.leaked_blocks =
            self.ends.allocations - self.ends.frees - self.heap.lost.len() as u64;
        self.ends.leaked_bytes =
            (self.ends.bytes - self.ends.freed_bytes).saturating_sub(lost_bytes);
        let lifetimes = encode_lifetimes(&self.codes, &self.chunk_starts);
        let untracked_frees = self.untracked + self.heap.untracked_frees();
        let lost_frees = self.heap.lost.len() as u64;
        crate::cores::drop_aside((self.heap, self.codes, self.chunk_starts));
        let index = HeapIndex {
            peak_bytes: self.peak_bytes,
            peak_time: self.peak_time,
            untracked_frees,
            lost_frees,
            lifetimes,
            series: self.series,
            copies: crate::index::Copies::None,
            stored: false,
            counted: None,
        };
        (index, self.ends)
    }
}

/// The lifetime codes of each stream, encoded chunk by chunk (`starts` gives the number of
/// each chunk's first allocation): each chunk on its own, so on every core at once.
fn encode_lifetimes(
    codes: &[Vec<u64>],
    starts: &[Vec<usize>],
) -> Vec<Vec<(usize, Cow<'static, [u8]>)>> {
    let mut jobs = Vec::new();
    for (stream, (codes, starts)) in codes.iter().zip(starts).enumerate() {
        let ends = starts.iter().skip(1).copied().chain([codes.len()]);
        for (chunk, (&from, to)) in starts.iter().zip(ends).enumerate() {
            jobs.push((stream, chunk, from..to));
        }
    }
    let mut done: Vec<(usize, Vec<Vec<u8>>)> =
        crate::cores::share(&jobs, Vec::new, |done, j, (stream, _, range)| {
            done.push((j, encode_pieces(&codes[*stream][range.clone()])));
        })
        .into_iter()
        .flatten()
        .collect();
    done.sort_unstable_by_key(|(j, _)| *j);
    let mut lifetimes = vec![Vec::new(); codes.len()];
    for (j, pieces) in done {
        let (stream, chunk, _) = jobs[j];
        lifetimes[stream].extend(pieces.into_iter().map(|p| (chunk, Cow::Owned(p))));
    }
    lifetimes
}
