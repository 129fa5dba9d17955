//! The collector: follows a capture, applies its events in time order, and tells the live
//! heap by function whenever asked.

use std::path::Path;

use rustc_hash::FxHashSet;

use memprof_capture::ThreadId;
use memprof_format::{Record, MARKS_TID, TIME_SHIFT};

use crate::heap::LiveHeap;
use crate::names::Names;
use crate::order::{Change, Event, Streams};
use crate::snapshot::{functions, Rates, Snapshot, State};
use crate::tail::{Recording, Tail};
use crate::Error;

/// A reading of the TSC (unshifted) and of `CLOCK_MONOTONIC` taken together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockReading {
    pub tsc: u64,
    pub mono_ns: u64,
}

/// How long a record may take, between its time stamp and its commit, to be counted in time
/// order; later ones are counted when they come.
const HOLDBACK_NS: u64 = 20_000_000;

/// Bytes of records one poll reads at most (give or take a chunk): what a collector that
/// fell behind holds in memory at once.
pub const POLL_BUDGET: usize = 4 << 20;

/// How many events ahead of its application a block's slot is prefetched.
const PREFETCH_AHEAD: usize = 8;

/// Aggregates a capture being written.
pub struct Collector {
    tail: Tail,
    streams: Streams,
    /// Events released for applying, reused between polls.
    ready: Vec<(ThreadId, Event)>,
    heap: LiveHeap,
    names: Names,
    seen_threads: Vec<ThreadId>,
    running_threads: FxHashSet<ThreadId>,
    /// Labelled moments (record time, label), as read.
    markers: Vec<(u64, String)>,
    clock: Box<dyn FnMut() -> ClockReading + Send>,
    rates: Rates,
    table_rates: Rates,
    budget: usize,
    /// Every record has been read and applied: the program ended.
    drained: bool,
}

impl Collector {
    /// Follows the capture at `path` (which its program may not have created yet), telling
    /// wall time with `clock`.
    pub fn open(
        path: &Path,
        clock: Box<dyn FnMut() -> ClockReading + Send>,
    ) -> Result<Collector, Error> {
        Ok(Collector {
            tail: Tail::open(path)?,
            streams: Streams::default(),
            ready: Vec::new(),
            heap: LiveHeap::default(),
            names: Names::default(),
            seen_threads: Vec::new(),
            running_threads: FxHashSet::default(),
            markers: Vec::new(),
            clock,
            rates: Rates::default(),
            table_rates: Rates::default(),
            budget: POLL_BUDGET,
            drained: false,
        })
    }

    /// Reads what the program wrote since the last poll (at most about [`POLL_BUDGET`]
    /// bytes of it, or what [`Collector::set_poll_budget`] set) and applies every event old
    /// enough to be in order. Returns the number of records read.
    pub fn poll(&mut self) -> Result<u64, Error> {
        let ended = self.tail.recording().ended();
        let Collector {
            tail,
            streams,
            names,
            seen_threads,
            running_threads,
            markers,
            budget,
            ..
        } = self;
        let polled = tail.poll(*budget, &mut |thread, rec| {
            take(
                rec,
                thread,
                streams,
                names,
                seen_threads,
                running_threads,
                markers,
            )
        })?;
        // The header read before the records said the program had ended: once everything
        // committed has been read, nothing can follow.
        self.drained |= ended && polled.behind.is_none();
        let mut watermark = if polled.records == 0 || self.drained {
            u64::MAX
        } else {
            let back = self.ns_to_ticks(HOLDBACK_NS);
            self.streams.newest.saturating_sub(back)
        };
        if let Some(unread) = polled.behind {
            watermark = watermark.min(unread.saturating_sub(1));
        }
        self.streams.release(watermark, &mut self.ready);
        // Frees come in an order unrelated to addresses: load each block's slot a few events
        // ahead of its lookup.
        for i in 0..self.ready.len() {
            if let Some((_, ahead)) = self.ready.get(i + PREFETCH_AHEAD) {
                self.heap.prefetch(ahead);
            }
            let (thread, event) = self.ready[i];
            self.heap.apply(thread, event);
        }
        self.ready.clear();
        let horizon = self.ns_to_ticks(1_000_000_000);
        if self.heap.time > horizon {
            self.heap.expire_pending(self.heap.time - horizon);
        }
        Ok(polled.records)
    }

    /// Reads at most about `bytes` bytes of records per poll.
    pub fn set_poll_budget(&mut self, bytes: usize) {
        self.budget = bytes.max(1);
    }

    /// True once the program has ended and every record has been applied.
    pub fn finished(&self) -> bool {
        self.drained
    }

    pub fn recording(&self) -> &Recording {
        self.tail.recording()
    }

    /// Frees that matched no recorded allocation so far.
    pub fn untracked_frees(&self) -> u64 {
        self.heap.untracked_frees()
    }

    /// Starts allocation counts, rates and the peak afresh.
    pub fn reset(&mut self) {
        self.heap.reset();
        self.rates.clear();
        self.table_rates.clear();
    }

    /// The figures now, with the function table restricted to `thread`.
    pub fn snapshot(&mut self, thread: Option<ThreadId>) -> Snapshot {
        let r = self.tail.recording().clone();
        let time_ns = self.ticks_to_ns(self.heap.time);
        let (rows, _) = functions(
            &self.heap,
            &mut self.names,
            &mut self.table_rates,
            thread,
            time_ns,
        );
        let (rate, _) = self
            .rates
            .update(None, time_ns, self.heap.allocations, Default::default());
        let state = match (r.pid, r.exit_code, r.signal) {
            (0, ..) => State::Starting,
            (_, _, Some(sig)) => State::Killed(sig),
            (_, Some(code), None) => State::Exited(code),
            _ if r.ended() => State::Ended,
            _ => State::Running,
        };
        let elapsed_ns = if r.ended() && r.end_mono_ns > r.start_mono_ns {
            r.end_mono_ns - r.start_mono_ns
        } else if r.start_mono_ns > 0 {
            (self.clock)().mono_ns.saturating_sub(r.start_mono_ns)
        } else {
            0
        };
        let last_marker = self
            .markers
            .iter()
            .filter(|m| m.0 <= self.heap.time)
            .max_by_key(|m| m.0)
            .cloned();
        let last_marker = last_marker.map(|(time, label)| (label, self.ticks_to_ns(time)));
        Snapshot {
            last_marker,
            command: r.command,
            pid: r.pid,
            state,
            elapsed_ns,
            time: self.heap.time,
            time_ns,
            heap_bytes: self.heap.heap_bytes,
            peak_bytes: self.heap.peak_bytes,
            allocations: self.heap.allocations,
            rate,
            threads: self.running_threads.len(),
            thread_ids: self.seen_threads.clone(),
            thread,
            functions: rows,
            corrupt_chunks: self.tail.corrupt_chunks(),
        }
    }

    fn tsc_per_ns(&mut self) -> f64 {
        self.tail.recording().tsc_per_ns(&mut self.clock)
    }

    fn ns_to_ticks(&mut self, ns: u64) -> u64 {
        (ns as f64 * self.tsc_per_ns()) as u64 >> TIME_SHIFT
    }

    /// Nanoseconds since the start of recording at record time `ticks`.
    fn ticks_to_ns(&mut self, ticks: u64) -> u64 {
        let start = self.tail.recording().start_tsc;
        let tsc = (ticks << TIME_SHIFT).saturating_sub(start);
        (tsc as f64 / self.tsc_per_ns()) as u64
    }
}

/// Files one record: heap events wait for their turn in `streams`; stacks, modules and
/// threads take effect at once (their order does not matter).
fn take(
    rec: &Record<'_>,
    thread: ThreadId,
    streams: &mut Streams,
    names: &mut Names,
    seen: &mut Vec<ThreadId>,
    running: &mut FxHashSet<ThreadId>,
    markers: &mut Vec<(u64, String)>,
) {
    if let Record::Marker { time, label } = *rec {
        markers.push((time, String::from_utf8_lossy(label).into_owned()));
        return;
    }
    if thread.0 == MARKS_TID {
        return;
    }
    if seen.last() != Some(&thread) && !seen.contains(&thread) {
        seen.push(thread);
        running.insert(thread);
    }
    let mut push = |time, change| streams.push(thread, Event { time, change });
    match *rec {
        Record::Alloc {
            time,
            stack,
            size,
            addr,
            ..
        } => push(
            time,
            Change::Alloc {
                addr,
                size,
                stack: stack.node,
            },
        ),
        Record::Free { time, addr } => push(time, Change::Free { addr }),
        Record::Realloc {
            time,
            done,
            stack,
            size,
            old,
            new,
        } => {
            push(time, Change::Free { addr: old });
            push(
                done,
                Change::Alloc {
                    addr: new,
                    size,
                    stack: stack.node,
                },
            );
        }
        Record::ReallocFree { time, old, .. } => push(time, Change::Free { addr: old }),
        Record::StackNode { id, parent, ip } => names.stack_node(id, parent, ip),
        Record::ModuleLoad {
            base,
            size,
            build_id,
            path,
            ..
        } => names.module_load(path, build_id, base, size),
        Record::ModuleUnload { base, .. } => names.module_unload(base),
        Record::ThreadEnd { .. } => {
            running.remove(&thread);
        }
        _ => {}
    }
}
