//! `memprof top`: a live terminal table of a running program's heap by function.
//!
//! Layers, each testable on its own: the collector (`memprof-live`) aggregates the capture
//! as the program writes it, on a thread of its own; [`app::App`] holds what the display shows
//! and how keys change it; [`widgets`] draws it; [`display`] runs the loop on any ratatui
//! backend, a real terminal here ([`run`]) or a `TestBackend` in tests. [`batch()`] prints the
//! same table as text or JSON lines at intervals instead, for scripts.
#![forbid(unsafe_code)]

pub mod app;
mod batch;
pub mod display;
pub mod widgets;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event;

pub use batch::{batch, Batch};
pub use memprof_live::ClockReading;

/// Why the display could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("terminal: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("cannot write the table: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Capture(#[from] memprof_live::Error),
}

/// What the live view needs from the process it runs in: calls a crate without `unsafe`
/// cannot make.
#[derive(Clone, Copy)]
pub struct Host {
    /// Reads the TSC and the monotonic clock together.
    pub clock: fn() -> ClockReading,
    /// Lets the calling thread run only on a CPU nothing else wants, so that following the
    /// program never takes time from it.
    pub stand_back: fn(),
    /// Asks the program to stop (SIGTERM), or kills it (SIGKILL) when given `true`.
    pub stop_program: fn(bool),
    /// Whether the program has ended (whether or not it wrote its capture).
    pub program_ended: fn() -> bool,
    /// Waits at most the given time for input on the terminal: true when there is some, an
    /// error when the terminal hung up. (crossterm alone spins forever on a terminal that
    /// hung up, so it is asked only after this.)
    pub wait_for_input: fn(Duration) -> std::io::Result<bool>,
}

/// Shows the heap of the program recording into `capture` on the terminal until the user
/// quits.
pub fn run(capture: &Path, host: Host) -> Result<(), Error> {
    let shared = Arc::new(display::Shared::default());
    let collector = display::spawn_collector(capture.to_path_buf(), host, shared.clone())?;
    let mut terminal = ratatui::init();
    let mut next_event = |wait: Duration| -> std::io::Result<Option<event::Event>> {
        (host.wait_for_input)(wait)?;
        // Also what crossterm parsed earlier, and a resize it learned of by signal.
        if event::poll(Duration::ZERO)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    };
    let result = display::run(
        &mut terminal,
        &shared,
        &mut next_event,
        &mut |force| (host.stop_program)(force),
        &host.program_ended,
    );
    ratatui::restore();
    shared.quit();
    let _ = collector.join();
    result.map(drop)
}
