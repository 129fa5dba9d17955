//! The heap index: when each allocation ended, and the figures that need every thread's events
//! in time order (the peak, frees of unknown blocks).
//!
//! Matching frees to allocations means replaying the merged events through a map of live
//! blocks, which costs far more than reading the records. The first analysis of a capture
//! does it once and appends the result to the file; every later analysis then reads each
//! thread's records on its own, in order, with the lifetime of each allocation beside it. A
//! capture without an index (one that cannot be written, or still being recorded) is indexed
//! in memory when it is read.

use std::borrow::Cow;
use std::path::Path;

use memprof_format::{Lifetime, Record, MAX_PATH_BYTES};

use crate::heap::{AllocId, Block, FreeOutcome, Heap};
use crate::series::{Bucket, HeapSeries};
use crate::tables::append_records;
use crate::{Capture, Error, EventKind};

/// Events decoded ahead of the replay at a time.
const BATCH: usize = 4096;

/// The heap index of a capture.
pub struct HeapIndex<'a> {
    pub peak_bytes: u64,
    /// Record time of the peak.
    pub peak_time: u64,
    /// Frees of blocks the capture never saw allocated.
    pub untracked_frees: u64,
    /// Blocks whose address was allocated again with no free of them recorded.
    pub lost_frees: u64,
    /// Per thread stream (in the order of [`Capture::threads`]), the encoded lifetimes, in
    /// pieces that each end at a whole varint, with the stream's chunk they belong to (in
    /// order), so that chunks can be read apart from each other.
    lifetimes: Vec<Vec<(usize, Cow<'a, [u8]>)>>,
    /// The heap over time.
    pub series: HeapSeries,
    /// A built index carries copies of the capture's stack, module and marker records, stored
    /// with it so that reading them does not mean reading every record again.
    copies: Vec<Record<'a>>,
    stored: bool,
}

impl<'a> HeapIndex<'a> {
    /// The index stored in `capture`, or, when it has none (or one that does not fit its
    /// threads), one built now.
    pub fn of(capture: &'a Capture) -> HeapIndex<'a> {
        HeapIndex::stored(capture).unwrap_or_else(|| HeapIndex::build(capture))
    }

    /// Whether the index was read from the capture rather than built.
    pub fn is_stored(&self) -> bool {
        self.stored
    }

    fn stored(capture: &'a Capture) -> Option<HeapIndex<'a>> {
        let mut index: Option<HeapIndex> = None;
        let mut series_bytes = Vec::new();
        for rec in capture.symbol_records() {
            match rec {
                Record::HeapIndex {
                    peak_bytes,
                    peak_time,
                    untracked_frees,
                    lost_frees,
                    threads,
                } => {
                    if index.is_some() {
                        // Two analyses that started at once each appended one; the first
                        // is whole, as it was appended before the second began.
                        break;
                    }
                    if threads != capture.threads.len() as u64 {
                        return None;
                    }
                    index = Some(HeapIndex {
                        peak_bytes,
                        peak_time,
                        untracked_frees,
                        lost_frees,
                        lifetimes: vec![Vec::new(); capture.threads.len()],
                        series: HeapSeries::new(0),
                        copies: Vec::new(),
                        stored: true,
                    });
                }
                Record::Lifetimes {
                    thread,
                    chunk,
                    data,
                } => {
                    let pieces = index.as_mut()?.lifetimes.get_mut(thread as usize)?;
                    let chunk = usize::try_from(chunk).ok()?;
                    if pieces.last().is_some_and(|(c, _)| *c > chunk) {
                        return None;
                    }
                    pieces.push((chunk, Cow::Borrowed(data)));
                }
                Record::HeapSeries { start, width, data } => {
                    let series = &mut index.as_mut()?.series;
                    (series.start, series.width) = (start, width.max(1));
                    // A bucket can straddle two records.
                    series_bytes.extend_from_slice(data);
                }
                _ => {}
            }
        }
        let mut index = index?;
        let mut values = Varints(&series_bytes);
        while !values.0.is_empty() {
            index.series.buckets.push(Bucket::decode(&mut values)?);
        }
        Some(index)
    }

    /// Whether `capture` holds a heap index (and with it copies of its stack, module and
    /// marker records among its tables).
    pub fn is_in(capture: &Capture) -> bool {
        capture
            .symbol_records()
            .any(|r| matches!(r, Record::HeapIndex { .. }))
    }

    /// Replays the events of `capture` in time order to build its index.
    pub fn build(capture: &'a Capture) -> HeapIndex<'a> {
        HeapIndex::build_with(capture, &mut |_| true).expect("not cancelled")
    }

    /// [`HeapIndex::build`], telling `progress` from time to time how far it got (a fraction
    /// of the capture's chunks); it stops and returns `None` as soon as `progress` says no.
    pub fn build_with(
        capture: &'a Capture,
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Option<HeapIndex<'a>> {
        // Decoding the records costs about as much as the replay: it goes on in a thread of
        // its own, a batch of events ahead, and keeps the descriptions the index copies.
        std::thread::scope(|scope| {
            let (batches, received) = std::sync::mpsc::sync_channel(4);
            let reader = scope.spawn(move || {
                let mut events = crate::events::Events::keeping_descriptions(capture);
                loop {
                    let batch: Vec<_> = std::iter::from_fn(|| events.next_located())
                        .take(BATCH)
                        .collect();
                    let last = batch.len() < BATCH;
                    if batch.is_empty() || batches.send(batch).is_err() || last {
                        break;
                    }
                }
                events.descriptions()
            });
            let index = Self::replay(capture, received.into_iter().flatten(), progress);
            let copies = reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            index.map(|index| HeapIndex { copies, ..index })
        })
    }

    /// Builds the index from `events`, the located events of `capture` in time order, but for
    /// the copies of its descriptions.
    fn replay(
        capture: &'a Capture,
        mut events: impl Iterator<Item = (usize, usize, crate::Event<'a>)>,
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Option<HeapIndex<'a>> {
        let streams = capture.threads.len();
        let mut heap = Heap::new(streams, crate::summary::skew(capture));
        let mut codes: Vec<Vec<u64>> = vec![Vec::new(); streams];
        // Per stream, the number of its first allocation in each of its chunks.
        let mut chunk_starts: Vec<Vec<usize>> = vec![Vec::new(); streams];
        let (mut peak_bytes, mut peak_time) = (0, 0);
        let mut untracked = 0;
        let mut series = HeapSeries::new(capture.ticks(0));
        let end = |f: crate::heap::Freed, time: u64, codes: &mut Vec<Vec<u64>>| {
            let b = f.block;
            codes[b.id.stream as usize][b.id.ordinal as usize] = Lifetime::Freed {
                after: time.saturating_sub(b.time),
                temporary: f.temporary,
                elsewhere: f.elsewhere,
            }
            .code();
        };
        let all_chunks: usize = capture.threads.iter().map(|t| t.chunks.len()).sum();
        // Chunks each stream has reached, and events since progress was last told.
        let (mut reached, mut since) = (vec![0usize; streams], 0u32);
        // Events are read this far ahead of their replay, so that the slots of the addresses
        // they touch are already in cache when their turn comes.
        const AHEAD: usize = 24;
        let mut ahead = std::collections::VecDeque::with_capacity(AHEAD);
        loop {
            while ahead.len() < AHEAD {
                let Some((stream, chunk, e)) = events.next() else {
                    break;
                };
                if let EventKind::Alloc { addr, .. } | EventKind::Free { addr } = e.kind {
                    heap.prefetch(addr);
                }
                ahead.push_back((stream, chunk, e));
            }
            let Some((stream, chunk, e)) = ahead.pop_front() else {
                break;
            };
            reached[stream] = reached[stream].max(chunk + 1);
            since += 1;
            if since == 1 << 16 {
                since = 0;
                let done = reached.iter().sum::<usize>() as f64 / all_chunks.max(1) as f64;
                if !progress(done) {
                    return None;
                }
            }
            match e.kind {
                EventKind::Alloc { size, addr, .. } => {
                    let starts = &mut chunk_starts[stream];
                    while starts.len() <= chunk {
                        starts.push(codes[stream].len());
                    }
                    let ordinal = codes[stream].len() as u32;
                    codes[stream].push(Lifetime::Live.code());
                    let id = AllocId {
                        stream: stream as u32,
                        ordinal,
                    };
                    let block = Block {
                        size,
                        time: e.time,
                        id,
                    };
                    if let Some(f) = heap.alloc(e.time, stream, addr, block) {
                        end(f, e.time, &mut codes);
                    } else if heap.live_bytes() > peak_bytes {
                        (peak_bytes, peak_time) = (heap.live_bytes(), e.time);
                    }
                    series.record(e.time, heap.live_bytes(), Some(size));
                }
                EventKind::Free { addr } => match heap.free(e.time, stream, addr) {
                    FreeOutcome::Released(f) => {
                        end(f, e.time, &mut codes);
                        series.record(e.time, heap.live_bytes(), None);
                    }
                    FreeOutcome::Pending => {}
                    FreeOutcome::Untracked => untracked += 1,
                },
                _ => {}
            }
        }
        heap.finish();
        for (b, time) in &heap.lost {
            codes[b.id.stream as usize][b.id.ordinal as usize] = Lifetime::Lost {
                after: time.saturating_sub(b.time),
            }
            .code();
        }
        let lifetimes = codes
            .iter()
            .zip(&chunk_starts)
            .map(|(codes, starts)| {
                let ends = starts.iter().skip(1).copied().chain([codes.len()]);
                let chunks = starts.iter().zip(ends).enumerate();
                chunks
                    .flat_map(|(chunk, (&from, to))| {
                        encode_pieces(&codes[from..to])
                            .into_iter()
                            .map(move |p| (chunk, Cow::Owned(p)))
                    })
                    .collect()
            })
            .collect();
        Some(HeapIndex {
            peak_bytes,
            peak_time,
            untracked_frees: untracked + heap.untracked_frees(),
            lost_frees: heap.lost.len() as u64,
            lifetimes,
            series,
            copies: Vec::new(),
            stored: false,
        })
    }

    /// Appends this index to the capture file at `path` (the capture it was built from).
    pub fn append_to(&self, path: &Path) -> Result<(), Error> {
        let head = Record::HeapIndex {
            peak_bytes: self.peak_bytes,
            peak_time: self.peak_time,
            untracked_frees: self.untracked_frees,
            lost_frees: self.lost_frees,
            threads: self.lifetimes.len() as u64,
        };
        let pieces = self.lifetimes.iter().enumerate().flat_map(|(t, pieces)| {
            pieces.iter().map(move |(chunk, data)| Record::Lifetimes {
                thread: t as u64,
                chunk: *chunk as u64,
                data,
            })
        });
        let mut values = Vec::new();
        for b in &self.series.buckets {
            b.encode(&mut values);
        }
        let series = encode_pieces(&values);
        let series = series.iter().map(|data| Record::HeapSeries {
            start: self.series.start,
            width: self.series.width,
            data,
        });
        let records = std::iter::once(head)
            .chain(self.copies.iter().copied())
            .chain(pieces)
            .chain(series);
        append_records(path, records)
    }

    /// The lifetimes of the allocations in chunks `chunks` of thread stream `stream`, in
    /// record order.
    pub(crate) fn lifetimes(&self, stream: usize, chunks: std::ops::Range<usize>) -> Lifetimes<'_> {
        let all = self.lifetimes.get(stream).map_or(&[][..], Vec::as_slice);
        let from = all.partition_point(|(c, _)| *c < chunks.start);
        let to = all.partition_point(|(c, _)| *c < chunks.end);
        Lifetimes {
            pieces: &all[from..to],
            piece: 0,
            pos: 0,
        }
    }
}

/// Reads varints until the bytes end.
struct Varints<'b>(&'b [u8]);

impl Iterator for Varints<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let mut pos = 0;
        let v = memprof_format::read_varint(self.0, &mut pos);
        self.0 = if v.is_some() { &self.0[pos..] } else { &[] };
        v
    }
}

/// Encodes values as varints, in pieces small enough for one record.
fn encode_pieces(codes: &[u64]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut cur = Vec::with_capacity(MAX_PATH_BYTES);
    for &c in codes {
        if cur.len() + 10 > MAX_PATH_BYTES {
            pieces.push(std::mem::replace(
                &mut cur,
                Vec::with_capacity(MAX_PATH_BYTES),
            ));
        }
        let mut buf = [0u8; 10];
        let mut n = 0;
        memprof_format::write_varint(&mut buf, &mut n, c);
        cur.extend_from_slice(&buf[..n]);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// Reads one stream's lifetimes in order.
pub(crate) struct Lifetimes<'i> {
    pieces: &'i [(usize, Cow<'i, [u8]>)],
    piece: usize,
    pos: usize,
}

impl Iterator for Lifetimes<'_> {
    type Item = Lifetime;

    #[inline]
    fn next(&mut self) -> Option<Lifetime> {
        loop {
            let (_, p) = self.pieces.get(self.piece)?;
            if self.pos < p.len() {
                let code = memprof_format::read_varint(p, &mut self.pos)?;
                return Some(Lifetime::from_code(code));
            }
            self.piece += 1;
            self.pos = 0;
        }
    }
}
