//! What a display shows at one moment: the recording's figures and a table of functions.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use memprof_capture::ThreadId;

use crate::heap::LiveHeap;
use crate::names::{FuncId, Names};

/// How far the program has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The program has not claimed its capture yet.
    Starting,
    Running,
    /// It returned from `main` or called `exit` with this code.
    Exited(i32),
    /// It died of this signal.
    Killed(i32),
    /// It ended and nobody could tell how (exec'd away, or killed while nobody watched).
    Ended,
}

/// One function's share of the heap.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FunctionRow {
    /// The function, or the module and offset where nothing resolved.
    pub name: String,
    /// Live bytes of the blocks this function allocated itself.
    pub own_bytes: u64,
    /// Live bytes of the blocks allocated by it or by what it called.
    pub total_bytes: u64,
    /// Allocations by it or by what it called, since the start or the last reset.
    pub allocations: u64,
    /// Of those, per second over the last second.
    pub rate: f64,
}

/// The live heap at one moment of the recording.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub command: Vec<String>,
    pub pid: u32,
    pub state: State,
    /// Wall time since recording started.
    pub elapsed_ns: u64,
    /// The moment of the recording the figures describe, as a record time (shifted TSC
    /// ticks, as in the capture) and in nanoseconds since the start: the events stamped up to
    /// it are counted, and none after it.
    pub time: u64,
    pub time_ns: u64,
    pub heap_bytes: u64,
    pub peak_bytes: u64,
    /// Allocations since the start or the last reset, and per second over the last second.
    pub allocations: u64,
    pub rate: f64,
    /// Threads running now, and every thread seen so far (in the order they started).
    pub threads: usize,
    pub thread_ids: Vec<ThreadId>,
    /// The thread the table is restricted to.
    pub thread: Option<ThreadId>,
    /// Every function that holds live memory or allocated since the reset, in no order.
    pub functions: Vec<FunctionRow>,
    /// Chunks of the capture that could not be decoded: their records are missing here.
    pub corrupt_chunks: u64,
    /// The latest marker up to the moment shown (`memprof_mark()` in the program, or `memprof
    /// mark`), with its time in nanoseconds since the start.
    pub last_marker: Option<(String, u64)>,
}

/// Past allocation counts, to tell rates from.
#[derive(Default)]
pub(crate) struct Rates {
    thread: Option<ThreadId>,
    past: VecDeque<(u64, u64, FxHashMap<FuncId, u64>)>,
}

const RATE_WINDOW_NS: u64 = 1_000_000_000;

impl Rates {
    pub fn clear(&mut self) {
        self.past.clear();
    }

    /// Records the counts at `now` and returns the total's rate and a function's rate.
    pub fn update(
        &mut self,
        thread: Option<ThreadId>,
        now: u64,
        total: u64,
        counts: FxHashMap<FuncId, u64>,
    ) -> (f64, FxHashMap<FuncId, f64>) {
        if thread != self.thread {
            self.past.clear();
            self.thread = thread;
        }
        while self.past.len() > 1 && self.past[1].0 + RATE_WINDOW_NS <= now {
            self.past.pop_front();
        }
        let mut rates = FxHashMap::default();
        let mut total_rate = 0.0;
        if let Some((then, then_total, then_counts)) = self.past.front() {
            if now > *then {
                let secs = (now - then) as f64 / 1e9;
                total_rate = total.saturating_sub(*then_total) as f64 / secs;
                for (f, &n) in &counts {
                    let before = then_counts.get(f).copied().unwrap_or(0);
                    rates.insert(*f, n.saturating_sub(before) as f64 / secs);
                }
            }
        }
        if self.past.back().is_none_or(|b| b.0 < now) {
            self.past.push_back((now, total, counts));
        }
        (total_rate, rates)
    }
}

/// The function rows of the heap's sites, restricted to `thread`, at recording time `now`.
pub(crate) fn functions(
    heap: &LiveHeap,
    names: &mut Names,
    rates: &mut Rates,
    thread: Option<ThreadId>,
    now: u64,
) -> (Vec<FunctionRow>, f64) {
    #[derive(Default)]
    struct Acc {
        own: u64,
        total: u64,
        allocations: u64,
    }
    let mut acc: FxHashMap<FuncId, Acc> = FxHashMap::default();
    let mut total_allocations = 0;
    for (site, f) in heap.sites() {
        if thread.is_some_and(|t| t != site.thread) || (f.live_blocks == 0 && f.allocations == 0) {
            continue;
        }
        total_allocations += f.allocations;
        let stack = names.stack(site.stack);
        acc.entry(stack.own).or_default().own += f.live_bytes;
        for &func in &stack.all {
            let a = acc.entry(func).or_default();
            a.total += f.live_bytes;
            a.allocations += f.allocations;
        }
    }
    let counts = acc.iter().map(|(&f, a)| (f, a.allocations)).collect();
    let (rate, func_rates) = rates.update(thread, now, total_allocations, counts);
    let rows = acc
        .into_iter()
        .filter(|(_, a)| a.total > 0 || a.own > 0 || a.allocations > 0)
        .map(|(f, a)| FunctionRow {
            name: names.name(f).to_string(),
            own_bytes: a.own,
            total_bytes: a.total,
            allocations: a.allocations,
            rate: func_rates.get(&f).copied().unwrap_or(0.0),
        })
        .collect();
    (rows, rate)
}
