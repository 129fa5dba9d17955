//! The summary of a capture: whole-capture figures, with the definitions every front end shares.
//!
//! Counting follows valgrind memcheck's "total heap usage": every successful allocating call
//! is an allocation (a realloc of a non-NULL pointer is also a free), bytes are requested
//! bytes, and "leaked" is what is still allocated at the end. A temporary allocation is
//! heaptrack's: freed by the thread that made it, with no other allocation of that thread in
//! between.

use memprof_format::Record;

use crate::replay::Ends;
use crate::{Capture, DecodeProblem, Event, EventKind, HeapIndex};

/// Whole-capture figures. The names are a contract that scripts rely on.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub failed_allocations: u64,
    pub peak_bytes: u64,
    pub peak_time_ns: u64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    pub temporary_allocations: u64,
    pub threads: u64,
    pub duration_ns: u64,
    /// The recording did not finish normally (killed, crashed, or still running).
    pub truncated: bool,
    /// Frees of blocks the capture never saw allocated: blocks the dynamic loader allocated
    /// before any code could be interposed (released by `dlclose` or at exit), or, in the
    /// capture of a followed fork child, blocks inherited from the parent. Not in `frees`;
    /// memcheck does not count them either.
    pub untracked_frees: u64,
    pub markers: u64,
    /// Blocks whose address was allocated again while no free of them was recorded: records
    /// are missing (0 in a complete capture).
    pub lost_frees: u64,
    /// Allocations whose stack was deeper than the maximum depth and was cut.
    pub truncated_stacks: u64,
    /// Blocks released by another thread than the one that allocated them.
    pub cross_thread_frees: u64,
    /// The exit code, when known.
    pub exit_code: Option<i32>,
    /// The process replaced its program by exec (the exit code, if known, is that of the
    /// program it became).
    pub replaced_by_exec: bool,
    /// The signal that killed the program, if one did.
    pub signal: Option<i32>,
    /// Where decoding stopped early, if it did ("record cut short at offset N").
    pub corruption: Option<String>,
}

impl Summary {
    /// Computes the summary of `capture`.
    pub fn of(capture: &Capture) -> Summary {
        let scope = crate::Scope {
            summary_only: true,
            ..crate::Range::ALL.into()
        };
        crate::analyze(capture, scope).summary
    }

    /// Adds to the counts read from every record of `capture`'s threads the figures of the
    /// markers `memprof mark` added, of its heap index, and of the end of the recording
    /// (`last_time`, the newest record's time); `problem` tells where decoding stopped early.
    pub(crate) fn complete(
        mut self,
        capture: &Capture,
        index: &HeapIndex,
        last_time: u64,
        problem: Option<DecodeProblem>,
    ) -> Summary {
        self.markers += capture.records_of(&capture.mark_chunks).count() as u64;
        self.peak_bytes = index.peak_bytes;
        self.peak_time_ns = capture.ns(index.peak_time);
        self.untracked_frees = index.untracked_frees;
        self.lost_frees = index.lost_frees;
        self.corruption = capture
            .missing()
            .or_else(|| problem.map(|p| format!("{} at offset {}", p.what, p.offset)));
        self.duration_ns = capture
            .clock()
            .end_ns()
            .unwrap_or(0)
            .max(capture.ns(last_time));
        self
    }

    /// The figures the capture's header gives, before any record is read.
    pub(crate) fn from_header(capture: &Capture) -> Summary {
        let mut s = Summary {
            truncated: capture.cut_short() || capture.missing().is_some(),
            exit_code: capture.exit_code(),
            replaced_by_exec: capture.ending() == crate::Ending::Exec,
            threads: capture.thread_count() as u64,
            ..Summary::default()
        };
        if let crate::Ending::Killed(sig) = capture.ending() {
            s.signal = Some(sig);
        }
        s
    }
}

/// How far apart two threads' stamps of causally ordered events may be, in record time:
/// `rdtsc` is not ordered with the instructions around it, and cores' counters can differ a
/// little under a hypervisor. Ten microseconds is far more than either and far less than the
/// time it takes a program to free a block and reuse its address on purpose.
pub(crate) fn skew(clock: crate::capture::Clock) -> u64 {
    clock.ticks(10_000).saturating_sub(clock.ticks(0))
}

/// What the summary counts of the threads' records themselves, in whatever order they come,
/// while their events are replayed to build the heap index: with what the replay found, it
/// makes the summary without another read of the records.
#[derive(Default)]
pub(crate) struct Tally {
    failed_allocations: u64,
    markers: u64,
    truncated_stacks: u64,
    /// The newest record time.
    last_time: u64,
}

impl Tally {
    /// Counts a record of a thread stream.
    pub fn record(&mut self, record: &Record) {
        match *record {
            Record::Alloc { stack, .. } | Record::Realloc { stack, .. } => {
                self.truncated_stacks += u64::from(stack.truncated);
            }
            Record::Failed { .. } => self.failed_allocations += 1,
            Record::Marker { .. } => self.markers += 1,
            _ => {}
        }
        let time = match *record {
            Record::Realloc { done, .. } => Some(done),
            _ => record.time(),
        };
        self.last_time = self.last_time.max(time.unwrap_or(0));
    }

    /// Counts an event of a thread stream.
    pub fn event(&mut self, event: &Event) {
        match event.kind {
            EventKind::Alloc { stack, .. } => self.truncated_stacks += u64::from(stack.truncated),
            EventKind::Failed { .. } => self.failed_allocations += 1,
            EventKind::Marker { .. } => self.markers += 1,
            _ => {}
        }
        self.last_time = self.last_time.max(event.time);
    }

    /// The summary of `capture`, whose threads' records were all counted, and whose replay
    /// built `index` and found `ends`.
    pub fn summary(&self, capture: &Capture, index: &HeapIndex, ends: &Ends) -> Summary {
        Summary {
            allocations: ends.allocations,
            frees: ends.frees,
            bytes_allocated: ends.bytes,
            failed_allocations: self.failed_allocations,
            leaked_bytes: ends.leaked_bytes,
            leaked_blocks: ends.leaked_blocks,
            temporary_allocations: ends.temporary,
            markers: self.markers,
            truncated_stacks: self.truncated_stacks,
            cross_thread_frees: ends.cross_thread,
            ..Summary::from_header(capture)
        }
        // Records that do not decode leave the summary to a read of the capture.
        .complete(capture, index, self.last_time, None)
    }
}
