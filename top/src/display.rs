//! The display loop: redraws ten times a second from the collector's latest snapshot and
//! handles keys in between, whatever the backend (a real terminal, or a test's).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyEventKind};
use ratatui::Terminal;

use memprof_capture::ThreadId;
use memprof_live::{Collector, Snapshot, State};

use crate::app::{App, Request};
use crate::{widgets, Error, Host};

/// How often the display redraws.
pub const REFRESH: Duration = Duration::from_millis(100);

/// Figures older than this are said to be.
const STALE: Duration = Duration::from_secs(2);

/// What the display and the collector thread share.
#[derive(Default)]
pub struct Shared {
    latest: Mutex<Option<Snapshot>>,
    thread: Mutex<Option<ThreadId>>,
    reset: AtomicBool,
    quit: AtomicBool,
    error: Mutex<Option<memprof_live::Error>>,
}

impl Shared {
    /// Ends the collector thread.
    pub fn quit(&self) {
        self.quit.store(true, Ordering::Relaxed);
    }

    /// Offers `snapshot` to the display.
    pub fn publish(&self, snapshot: Snapshot) {
        if let Ok(mut slot) = self.latest.lock() {
            *slot = Some(snapshot);
        }
    }

    fn take_latest(&self) -> Option<Snapshot> {
        self.latest.lock().ok()?.take()
    }
}

/// Follows `collector`'s capture until told to quit, publishing a snapshot every
/// [`REFRESH`] (and at once when the program ends).
pub fn collect(mut collector: Collector, shared: &Shared) {
    let mut published: Option<Instant> = None;
    let mut ended = false;
    while !shared.quit.load(Ordering::Relaxed) {
        if shared.reset.swap(false, Ordering::Relaxed) {
            collector.reset();
            published = None;
        }
        let read = match collector.poll() {
            Ok(n) => n,
            Err(e) => {
                if let Ok(mut slot) = shared.error.lock() {
                    *slot = Some(e);
                }
                return;
            }
        };
        let just_ended = collector.finished() && !ended;
        ended = collector.finished();
        if just_ended || published.is_none_or(|t| t.elapsed() >= REFRESH) {
            let thread = shared.thread.lock().map(|t| *t).unwrap_or(None);
            shared.publish(collector.snapshot(thread));
            published = Some(Instant::now());
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(if ended { 50 } else { 5 }));
        }
    }
}

/// Starts the collector thread for the capture at `path`.
pub fn spawn_collector(
    path: std::path::PathBuf,
    host: Host,
    shared: Arc<Shared>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let collector = Collector::open(&path, Box::new(host.clock))?;
    std::thread::Builder::new()
        .name("memprof-collect".into())
        .spawn(move || {
            (host.stand_back)();
            collect(collector, &shared)
        })
        .map_err(Error::Terminal)
}

/// Runs the display on `terminal` until the user quits, reading input with `next_event`
/// (which waits at most the given time). `stop_program` is called when the user asks to stop
/// the program (with `true` to kill it); `program_ended` tells whether it has.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    shared: &Shared,
    next_event: &mut dyn FnMut(Duration) -> std::io::Result<Option<Event>>,
    stop_program: &mut dyn FnMut(bool),
    program_ended: &dyn Fn() -> bool,
) -> Result<App, Error>
where
    B::Error: std::fmt::Display,
{
    let mut app = App::default();
    let mut fresh = Instant::now();
    loop {
        if let Some(e) = shared.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(e.into());
        }
        if let Some(s) = shared.take_latest() {
            app.show(s);
            fresh = Instant::now();
        }
        let started = app.snapshot().is_some_and(|s| s.state != State::Starting);
        app.unrecorded = !started && program_ended();
        let running = app.snapshot().is_some_and(|s| s.state == State::Running);
        app.stale = (running && fresh.elapsed() >= STALE).then(|| fresh.elapsed());
        terminal
            .draw(|f| widgets::draw(f, &app))
            .map_err(|e| Error::Terminal(std::io::Error::other(e.to_string())))?;
        let deadline = Instant::now() + REFRESH;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = next_event(left).map_err(Error::Terminal)? else {
                break;
            };
            match event {
                Event::Key(key) if key.kind != KeyEventKind::Release => match app.key(key) {
                    Request::None => {}
                    Request::Reset => shared.reset.store(true, Ordering::Relaxed),
                    Request::Thread(t) => {
                        if let Ok(mut slot) = shared.thread.lock() {
                            *slot = t;
                        }
                    }
                    Request::StopProgram { force } => stop_program(force),
                    Request::Quit => return Ok(app),
                },
                Event::Resize(..) => {}
                _ => continue,
            }
            // Show the effect of a key or a new size at once.
            break;
        }
    }
}
