//! The heap index of `memprof run`'s capture, built while the program runs, with the summary
//! counted and the return addresses resolved on the way: building them afterwards would mean
//! replaying every event, reading every record once more and loading every module's debug
//! information after the program ended.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use memprof_capture::{Capture, Summary};
use memprof_live::{ClockReading, Holdback, LiveIndex};
use memprof_symbols::Symbolizer;

/// How long a recorded thread may be held up between stamping a record and committing it
/// for the index built during the run to be kept; past that it is built again at the end.
/// While one thread has allocated, only a new thread's first event can come late, and only
/// if the thread is descheduled in the few instructions between stamping and committing it:
/// a short holdback then leaves little to replay when a single-threaded program ends.
const HOLDBACK: Holdback = Holdback {
    alone_ns: 5_000_000,
    shared_ns: 200_000_000,
};

/// How much of the capture the index must have read by the end of the run to be finished
/// rather than built again. Catching up reads about as fast as a build after the run
/// (W2: 7.9 M events a second against 8.6 M), so all but a bare start is worth finishing.
const CAUGHT_UP: f64 = 0.1;

/// Records read in one poll above which the next poll follows at once.
const BUSY: u64 = 50_000;

/// Follows a capture in a thread of its own.
pub struct Indexing {
    shared: Arc<Shared>,
    /// `None` once joined. Its index, and whether following the capture failed.
    thread: Option<JoinHandle<(LiveIndex, bool)>>,
}

/// What was made while the program ran.
#[derive(Default)]
pub struct Finished {
    /// The capture's summary, if its index was built and appended.
    pub summary: Option<Summary>,
    /// A symbolizer that resolved the addresses read while the program ran.
    pub symbolizer: Option<Symbolizer>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The thread's kernel id once it runs at idle priority. It goes back to the normal
    /// priority to stop, as on a busy machine an idle thread could wait long to run again.
    idle: Mutex<Option<libc::pid_t>>,
}

impl Shared {
    fn stop(&self) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        self.stop.store(true, Ordering::Release);
        if let Some(tid) = *idle {
            crate::cmd::run::normal_priority(tid);
        }
    }
}

impl Drop for Indexing {
    /// Not finished (the program recorded nothing): the thread stops at its next poll.
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Indexing {
    /// Starts following the capture at `path`, which its program is about to write; resolves
    /// its return addresses on the way if `symbols`.
    pub fn start(path: &Path, symbols: bool) -> Option<Indexing> {
        let clock = Box::new(|| ClockReading {
            tsc: crate::cmd::run::tsc(),
            mono_ns: crate::cmd::run::clock_ns(),
        });
        let mut live = LiveIndex::open(path, clock, HOLDBACK).ok()?;
        if symbols {
            live = live.resolving_symbols();
        }
        let shared = Arc::new(Shared::default());
        let ours = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("memprof-index".into())
            .spawn(move || {
                {
                    let mut idle = ours.idle.lock().unwrap_or_else(|e| e.into_inner());
                    if !ours.stop.load(Ordering::Acquire) {
                        crate::cmd::run::idle_priority();
                        *idle = Some(crate::cmd::run::gettid());
                    }
                }
                let mut failed = false;
                while !failed && !ours.stop.load(Ordering::Acquire) {
                    match live.poll() {
                        Ok(n) if n >= BUSY => {}
                        Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                        Err(_) => failed = true,
                    }
                }
                // Its id may name another thread once it has exited.
                *ours.idle.lock().unwrap_or_else(|e| e.into_inner()) = None;
                (live, failed)
            })
            .ok()?;
        Some(Indexing {
            shared,
            thread: Some(thread),
        })
    }

    /// Once the program ended and its capture was sealed: appends the index to the capture
    /// at `path` and returns the capture's summary, if they could be made here
    /// (`crate::symbolize::open_indexed` builds the index and counts the summary otherwise),
    /// with the symbolizer.
    pub fn finish(mut self, path: &Path) -> Finished {
        self.shared.stop();
        let Some(Ok((mut live, failed))) = self.thread.take().map(JoinHandle::join) else {
            return Finished::default();
        };
        let symbolizer = live.take_symbolizer();
        let summary = (!failed).then(|| finish_index(live, path)).flatten();
        Finished {
            summary,
            symbolizer,
        }
    }
}

/// Appends the index `live` built of the capture at `path` and returns the capture's
/// summary, unless the index is not worth finishing or was given up.
fn finish_index(live: LiveIndex, path: &Path) -> Option<Summary> {
    // A program that kept every core busy may have left the index far behind; one barely
    // begun is built again after the run, which decodes and replays in parallel.
    if live.progress() < CAUGHT_UP {
        return None;
    }
    let capture = Capture::open(path).ok()?;
    let (index, summary) = live.finish(&capture)?;
    // Not appended, it is built again, and the summary read with it.
    index.append_to(path).ok()?;
    memprof_capture::drop_aside((index, capture));
    Some(summary)
}
