//! The capture's records as one time-ordered stream of events.
//!
//! Each thread's chunks are decoded lazily from the map and merged by time. A realloc that
//! moved or resized a block becomes two events: the release of the old block at the moment it
//! was stamped before the call, and the new block at the moment stamped after.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use memprof_format::{
    decode, decode_brief, AllocKind, Brief, ChunkState, DecodeError, Record, StackRef,
};

use crate::capture::ThreadChunks;
use crate::{Capture, ThreadId};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind<'a> {
    /// A block was obtained. `realloc` is set for the new block of a realloc of a non-NULL
    /// pointer (which also produced a [`EventKind::Free`]).
    Alloc {
        kind: AllocKind,
        stack: StackRef,
        size: u64,
        addr: u64,
        realloc: bool,
    },
    /// A block was released (`free`, or the old block of a realloc).
    Free {
        addr: u64,
    },
    /// An allocating call failed.
    Failed {
        kind: AllocKind,
        stack: StackRef,
        size: u64,
    },
    ThreadStart,
    ThreadEnd,
    /// The process began its normal exit.
    Exit,
    Marker {
        label: &'a [u8],
    },
    ModuleLoad {
        base: u64,
        size: u64,
        build_id: &'a [u8],
        path: &'a [u8],
    },
    ModuleUnload {
        base: u64,
    },
}

/// One event: its time (shifted TSC ticks; see [`Capture::ns`]) and thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub time: u64,
    pub thread: ThreadId,
    pub kind: EventKind<'a>,
}

/// A problem found while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeProblem {
    pub offset: u64,
    pub what: &'static str,
}

/// Decodes one thread's chunks (or a run of them) in order.
pub(crate) struct ThreadStream<'a> {
    bytes: &'a [u8],
    tid: ThreadId,
    chunks: &'a [(std::ops::Range<usize>, u64)],
    chunk: usize,
    pos: usize,
    state: ChunkState,
    /// The second half of a realloc.
    pending: Option<Event<'a>>,
    pub problem: Option<DecodeProblem>,
    /// The description records met so far (stack nodes, modules, markers), when kept.
    descriptions: Option<Vec<Record<'a>>>,
}

impl<'a> ThreadStream<'a> {
    pub fn new(bytes: &'a [u8], thread: &'a ThreadChunks) -> Self {
        ThreadStream::of_chunks(bytes, thread.tid, &thread.chunks)
    }

    /// A stream of some of a thread's chunks.
    pub fn of_chunks(
        bytes: &'a [u8],
        tid: ThreadId,
        chunks: &'a [(std::ops::Range<usize>, u64)],
    ) -> Self {
        let (pos, base) = chunks.first().map_or((0, 0), |(r, b)| (r.start, *b));
        ThreadStream {
            bytes,
            tid,
            chunks,
            chunk: 0,
            pos,
            state: ChunkState::new(base),
            pending: None,
            problem: None,
            descriptions: None,
        }
    }

    /// Which of the stream's chunks the last record came from.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// The next record of the thread, `None` at its end.
    pub fn next_record(&mut self) -> Option<Record<'a>> {
        self.next_with(decode)
    }

    /// The next record of the thread, decoded only as far as the analysis needs (see
    /// [`decode_brief`]); a stream is read with this or with [`Self::next_record`], not both.
    pub fn next_brief(&mut self) -> Option<Brief> {
        self.next_with(decode_brief)
    }

    /// The next record as `decoder` decodes it, going on to the next chunk at the end of one
    /// and at a record that cannot be decoded (which is noted as the stream's problem).
    #[inline]
    fn next_with<T>(
        &mut self,
        decoder: impl Fn(&'a [u8], &mut ChunkState) -> Result<Option<(T, usize)>, DecodeError>,
    ) -> Option<T> {
        loop {
            let (range, _) = self.chunks.get(self.chunk)?;
            let end = range.end;
            match decoder(&self.bytes[self.pos.min(end)..end], &mut self.state) {
                Ok(Some((rec, len))) => {
                    self.pos += len;
                    return Some(rec);
                }
                Ok(None) => {}
                Err(e) => {
                    self.problem.get_or_insert(DecodeProblem {
                        offset: self.pos as u64,
                        what: match e {
                            DecodeError::Incomplete => "record cut short",
                            DecodeError::UnknownTag(_) => "unknown record type",
                        },
                    });
                }
            }
            self.chunk += 1;
            if let Some((r, base)) = self.chunks.get(self.chunk) {
                self.pos = r.start;
                self.state = ChunkState::new(*base);
            }
        }
    }

    pub fn next_event(&mut self) -> Option<Event<'a>> {
        if let Some(e) = self.pending.take() {
            return Some(e);
        }
        let thread = self.tid;
        let ev = |time, kind| Some(Event { time, thread, kind });
        loop {
            let record = self.next_record()?;
            if let Some(kept) = &mut self.descriptions {
                if is_description(&record) {
                    kept.push(record);
                }
            }
            return match record {
                Record::Alloc {
                    time,
                    kind,
                    stack,
                    size,
                    addr,
                } => ev(
                    time,
                    EventKind::Alloc {
                        kind,
                        stack,
                        size,
                        addr,
                        realloc: false,
                    },
                ),
                Record::Free { time, addr } => ev(time, EventKind::Free { addr }),
                Record::Realloc {
                    time,
                    done,
                    stack,
                    size,
                    old,
                    new,
                } => {
                    let kind = EventKind::Alloc {
                        kind: AllocKind::Realloc,
                        stack,
                        size,
                        addr: new,
                        realloc: true,
                    };
                    self.pending = Some(Event {
                        time: done,
                        thread,
                        kind,
                    });
                    ev(time, EventKind::Free { addr: old })
                }
                Record::ReallocFree { time, old, .. } => ev(time, EventKind::Free { addr: old }),
                Record::Failed {
                    time,
                    kind,
                    stack,
                    size,
                } => ev(time, EventKind::Failed { kind, stack, size }),
                Record::ThreadStart { time } => ev(time, EventKind::ThreadStart),
                Record::ThreadEnd { time } => ev(time, EventKind::ThreadEnd),
                Record::Exit { time } => ev(time, EventKind::Exit),
                Record::Marker { time, label } => ev(time, EventKind::Marker { label }),
                Record::ModuleLoad {
                    time,
                    base,
                    size,
                    build_id,
                    path,
                } => ev(
                    time,
                    EventKind::ModuleLoad {
                        base,
                        size,
                        build_id,
                        path,
                    },
                ),
                Record::ModuleUnload { time, base } => ev(time, EventKind::ModuleUnload { base }),
                Record::StackNode { .. }
                | Record::SymbolString { .. }
                | Record::SymbolFrame { .. }
                | Record::ModuleStatus { .. }
                | Record::HeapIndex { .. }
                | Record::Lifetimes { .. }
                | Record::HeapSeries { .. } => continue,
            };
        }
    }
}

/// Whether the heap index keeps a copy of `record` (see [`Capture::descriptions`]).
pub(crate) fn is_description(record: &Record) -> bool {
    matches!(
        record,
        Record::StackNode { .. }
            | Record::ModuleLoad { .. }
            | Record::ModuleUnload { .. }
            | Record::Marker { .. }
    )
}

/// Every thread's events merged by time. Ties keep thread order, which is arbitrary; the
/// analysis resolves the one tie that matters (an address freed and reused at the same tick).
pub struct Events<'a> {
    streams: Vec<ThreadStream<'a>>,
    heads: BinaryHeap<Reverse<(u64, usize)>>,
    /// Each stream's next event, and the chunk it came from.
    current: Vec<Option<(Event<'a>, usize)>>,
}

impl<'a> Events<'a> {
    pub(crate) fn new(capture: &'a Capture) -> Self {
        Events::of(capture, false)
    }

    /// Events that keep the description records met on the way (see [`is_description`]),
    /// to be taken with [`Events::descriptions`].
    pub(crate) fn keeping_descriptions(capture: &'a Capture) -> Self {
        Events::of(capture, true)
    }

    fn of(capture: &'a Capture, keep: bool) -> Self {
        let mut streams: Vec<_> = capture
            .threads
            .iter()
            .map(|t| ThreadStream {
                descriptions: keep.then(Vec::new),
                ..ThreadStream::new(capture.bytes(), t)
            })
            .collect();
        let mut heads = BinaryHeap::new();
        let mut current = Vec::with_capacity(streams.len());
        // One stream is read directly, without the merge.
        if streams.len() > 1 {
            for (i, s) in streams.iter_mut().enumerate() {
                let e = s.next_event().map(|e| (e, s.chunk()));
                if let Some((e, _)) = &e {
                    heads.push(Reverse((e.time, i)));
                }
                current.push(e);
            }
        }
        Events {
            streams,
            heads,
            current,
        }
    }

    /// The description records kept so far, thread by thread, each thread's in its order.
    pub(crate) fn descriptions(&mut self) -> Vec<Record<'a>> {
        self.streams
            .iter_mut()
            .flat_map(|s| s.descriptions.take().unwrap_or_default())
            .collect()
    }

    /// The first decoding problem met so far, if any.
    pub fn problem(&self) -> Option<DecodeProblem> {
        self.streams
            .iter()
            .filter_map(|s| s.problem)
            .min_by_key(|p| p.offset)
    }

    /// The next event, the number of its thread stream (in [`Capture`]'s thread order) and
    /// the number of the chunk within that stream it came from.
    pub(crate) fn next_located(&mut self) -> Option<(usize, usize, Event<'a>)> {
        if self.streams.len() == 1 {
            let e = self.streams[0].next_event()?;
            return Some((0, self.streams[0].chunk(), e));
        }
        let Reverse((_, i)) = self.heads.pop()?;
        let (e, chunk) = self.current[i].take()?;
        let s = &mut self.streams[i];
        if let Some(n) = s.next_event() {
            self.heads.push(Reverse((n.time, i)));
            self.current[i] = Some((n, s.chunk()));
        }
        Some((i, chunk, e))
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        self.next_located().map(|(_, _, e)| e)
    }
}

impl Capture {
    /// All events in time order.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }

    /// Every record of every thread, in per-thread order (stack nodes included).
    pub(crate) fn records(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        Self::records_of(self, &self.threads)
    }

    /// The records that describe the run rather than its allocations (stack nodes, modules,
    /// markers, among others): the copies the heap index keeps when there is one, every
    /// record otherwise.
    pub(crate) fn descriptions(&self) -> Box<dyn Iterator<Item = Record<'_>> + '_> {
        if crate::HeapIndex::is_in(self) {
            // Up to a second index, whose copies would repeat the first's.
            let mut indexes = 0;
            Box::new(self.symbol_records().take_while(move |r| {
                indexes += u32::from(matches!(r, Record::HeapIndex { .. }));
                indexes <= 1
            }))
        } else {
            Box::new(self.records())
        }
    }

    /// Whether symbol tables were appended after the run (by `memprof run` or an analysis).
    pub fn has_symbols(&self) -> bool {
        // The heap index is appended in chunks of the same kind.
        self.symbol_records().any(|r| {
            matches!(
                r,
                Record::SymbolString { .. }
                    | Record::SymbolFrame { .. }
                    | Record::ModuleStatus { .. }
            )
        })
    }

    /// The symbol tables appended after the run.
    pub(crate) fn symbol_records(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        Self::records_of(self, &self.symbol_chunks)
    }

    pub(crate) fn records_of<'a>(
        &'a self,
        chunks: &'a [ThreadChunks],
    ) -> impl Iterator<Item = Record<'a>> + 'a {
        chunks.iter().flat_map(move |t| {
            let mut s = ThreadStream::new(self.bytes(), t);
            std::iter::from_fn(move || s.next_record())
        })
    }
}
