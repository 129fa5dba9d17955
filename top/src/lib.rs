//! `memprof top`: a live terminal table of a running program's heap by function.
//!
//! Layers, each testable on its own: the collector (`memprof-live`) aggregates the capture
//! as the program writes it, on a thread of its own; [`app::App`] holds what the display shows
//! and how keys change it; [`widgets`] draws it; [`display`] runs the loop on any ratatui
//! backend, a real terminal here ([`run`]) or a `TestBackend` in tests. [`batch`] prints the
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

/// Shows the heap of the program recording into `capture` on the terminal until the user
/// quits; `stop_program` is called when the user asks to stop the program.
pub fn run(
    capture: &Path,
    clock: fn() -> ClockReading,
    stop_program: &mut dyn FnMut(),
) -> Result<(), Error> {
    let shared = Arc::new(display::Shared::default());
    let collector = display::spawn_collector(capture.to_path_buf(), clock, shared.clone())?;
    let mut terminal = ratatui::init();
    let mut next_event = |wait: Duration| -> std::io::Result<Option<event::Event>> {
        if event::poll(wait)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    };
    let result = display::run(&mut terminal, &shared, &mut next_event, stop_program);
    ratatui::restore();
    shared.quit();
    let _ = collector.join();
    result.map(drop)
}
