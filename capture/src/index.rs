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

use crate::index_builder::Kept;
use crate::replay::{Change, Replay, Step};
use crate::series::{Bucket, HeapSeries};
use crate::summary::Tally;
use crate::tables::append_records;
use crate::{Capture, Error, EventKind, Summary};

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
    pub(crate) lifetimes: Vec<Vec<(usize, Cow<'a, [u8]>)>>,
    /// The heap over time.
    pub series: HeapSeries,
    /// A built index carries copies of the capture's stack, module and marker records, stored
    /// with it so that reading them does not mean reading every record again.
    pub(crate) copies: Copies<'a>,
    pub(crate) stored: bool,
    /// The capture's summary, counted while the index was built from its records.
    pub(crate) counted: Option<Summary>,
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

    /// The capture's summary when it was counted as this index was built (a stored index
    /// has none): the same as [`Summary::of`], without another read of the records.
    pub fn summary(&self) -> Option<&Summary> {
        self.counted.as_ref()
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
                        copies: Copies::None,
                        stored: true,
                        counted: None,
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
        // Batches go back to the reader to be filled again: fresh ones would each be fresh
        // pages for the kernel to clear.
        std::thread::scope(|scope| {
            let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Step>>(4);
            let (recycle, empties) = std::sync::mpsc::channel::<Vec<Step>>();
            let reader = scope.spawn(move || {
                let mut events = crate::events::Events::keeping_descriptions(capture);
                let mut tally = Tally::default();
                loop {
                    let mut batch = empties.try_recv().unwrap_or_default();
                    batch.clear();
                    while batch.len() < BATCH {
                        let Some((stream, chunk, e)) = events.next_located() else {
                            break;
                        };
                        tally.event(&e);
                        let change = match e.kind {
                            EventKind::Alloc { size, addr, .. } => Change::Alloc { size, addr },
                            EventKind::Free { addr } => Change::Free { addr },
                            _ => continue,
                        };
                        batch.push(Step {
                            stream,
                            chunk,
                            time: e.time,
                            change,
                        });
                    }
                    let last = batch.len() < BATCH;
                    if batch.is_empty() || batches.send(batch).is_err() || last {
                        break;
                    }
                }
                // Counts of records that did not all decode are left to a read of each part.
                let tally = events.problem().is_none().then_some(tally);
                (events.descriptions(), tally)
            });
            let streams = capture.threads.len();
            let skew = crate::summary::skew(capture.clock());
            let mut replay = Replay::new(streams, skew, capture.ticks(0));
            let all_chunks: usize = capture.threads.iter().map(|t| t.chunks.len()).sum();
            // Chunks each stream has reached.
            let mut reached = vec![0usize; streams];
            let mut cancelled = false;
            for (n, batch) in received.iter().enumerate() {
                for &step in &batch {
                    reached[step.stream] = reached[step.stream].max(step.chunk + 1);
                    replay.push(step);
                }
                let done = reached.iter().sum::<usize>() as f64 / all_chunks.max(1) as f64;
                if n % 16 == 15 && !progress(done) {
                    cancelled = true;
                    break;
                }
                let _ = recycle.send(batch);
            }
            drop(received);
            let (copies, tally) = reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            if cancelled {
                return None;
            }
            let (index, ends) = replay.finish();
            let mut index: HeapIndex<'a> = index;
            index.copies = Copies::Borrowed(copies);
            index.counted = tally.map(|t| t.summary(capture, &index, &ends));
            Some(index)
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
        let copies: Box<dyn Iterator<Item = Record<'_>>> = match &self.copies {
            Copies::None => Box::new(std::iter::empty()),
            Copies::Borrowed(records) => Box::new(records.iter().copied()),
            Copies::Owned(kept) => Box::new(kept.iter().map(Kept::record)),
        };
        let records = std::iter::once(head)
            .chain(copies)
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

/// The copies of the capture's description records an index carries (see
/// [`crate::events::is_description`]).
pub(crate) enum Copies<'a> {
    /// None: the index was read from the capture, which has them already.
    None,
    /// Borrowed from the capture it was built from.
    Borrowed(Vec<Record<'a>>),
    /// Kept while the capture was being written.
    Owned(Vec<Kept>),
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
pub(crate) fn encode_pieces(codes: &[u64]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    // Written in place: a varint's bytes copied in one by one cost about as much again.
    let mut cur = vec![0u8; MAX_PATH_BYTES];
    let mut n = 0;
    for &c in codes {
        if n + memprof_format::MAX_VARINT > MAX_PATH_BYTES {
            cur.truncate(n);
            pieces.push(std::mem::replace(&mut cur, vec![0u8; MAX_PATH_BYTES]));
            n = 0;
        }
        memprof_format::write_varint(&mut cur, &mut n, c);
    }
    if n > 0 {
        cur.truncate(n);
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
