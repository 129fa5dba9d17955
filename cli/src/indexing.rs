//! The heap index of `memprof run`'s capture, built while the program runs: the summary at
//! the end needs it, and building it afterwards would mean replaying every event then.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use memprof_capture::Capture;
use memprof_live::{ClockReading, LiveIndex};

/// How long a recorded thread may be held up between stamping a record and committing it
/// for the index built during the run to be kept; past that it is built again at the end.
const HOLDBACK_NS: u64 = 200_000_000;

/// How much of the capture the index must have read by the end of the run to be finished
/// rather than built again.
const CAUGHT_UP: f64 = 0.5;

/// Records read in one poll above which the next poll follows at once.
const BUSY: u64 = 50_000;

/// Follows a capture in a thread of its own.
pub struct Indexing {
    stop: Arc<AtomicBool>,
    /// `None` once joined.
    thread: Option<JoinHandle<Option<LiveIndex>>>,
}

impl Drop for Indexing {
    /// Not finished (the program recorded nothing): the thread stops at its next poll.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Indexing {
    /// Starts following the capture at `path`, which its program is about to write.
    pub fn start(path: &Path) -> Option<Indexing> {
        let clock = Box::new(|| ClockReading {
            tsc: crate::cmd::run::tsc(),
            mono_ns: crate::cmd::run::clock_ns(),
        });
        let mut live = LiveIndex::open(path, clock, HOLDBACK_NS).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("memprof-index".into())
            .spawn(move || {
                lower_priority();
                while !stopped.load(Ordering::Acquire) {
                    match live.poll() {
                        Ok(n) if n >= BUSY => {}
                        Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                        Err(_) => return None,
                    }
                }
                Some(live)
            })
            .ok()?;
        Some(Indexing {
            stop,
            thread: Some(thread),
        })
    }

    /// Once the program ended and its capture was sealed: appends the index to the capture
    /// at `path`, if it could be built here. Returns whether it was.
    pub fn finish(mut self, path: &Path) -> bool {
        self.stop.store(true, Ordering::Release);
        let Some(Ok(Some(live))) = self.thread.take().map(JoinHandle::join) else {
            return false;
        };
        // A program that kept every core busy left the index far behind: the build after
        // the run, which decodes and replays in parallel (about 1.4 times as fast as one
        // thread catching up), finishes sooner.
        if live.progress() < CAUGHT_UP {
            return false;
        }
        let Ok(capture) = Capture::open(path) else {
            return false;
        };
        match live.finish(&capture) {
            Some(index) => index.append_to(path).is_ok(),
            None => false,
        }
    }
}

/// Makes the calling thread yield to the program whenever they compete for a core, so that
/// following the capture never slows the program down; what the index does not get done
/// during the run is done at the end.
fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority on the caller's own thread id only
    // changes its nice value, and a failure leaves it as it was.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}
