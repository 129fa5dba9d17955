//! Live view of a program being recorded: follows its capture file as the recorder writes
//! it and aggregates the heap by function, for `memprof top`; and [`LiveIndex`], which builds
//! the capture's heap index, counts its summary and resolves its addresses meanwhile, for
//! `memprof run`.
//!
//! [`Collector::poll`] reads the records committed since the last poll (without slowing the
//! program: the recorder never waits for a reader) and applies them in time order;
//! [`Collector::snapshot`] tells the live heap, the peak, allocation rates and a table of
//! functions, with names resolved from the program's modules on disk.
//!
//! ```no_run
//! use memprof_live::{ClockReading, Collector};
//! let clock = Box::new(|| ClockReading::default());
//! let mut c = Collector::open("memprof.prog.1234.mprof".as_ref(), clock)?;
//! c.poll()?;
//! let now = c.snapshot(None);
//! println!("{} bytes live in {} functions", now.heap_bytes, now.functions.len());
//! # Ok::<(), memprof_live::Error>(())
//! ```
#![forbid(unsafe_code)]

mod ahead;
mod collector;
mod heap;
mod indexer;
mod modules;
mod names;
mod order;
mod snapshot;
mod tail;

pub use collector::{ClockReading, Collector, POLL_BUDGET};
pub use indexer::{Holdback, LiveIndex};
pub use snapshot::{FunctionRow, Snapshot, State};
pub use tail::Recording;

use std::path::PathBuf;

/// Why a capture cannot be followed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a memprof capture")]
    Foreign { path: PathBuf },
    #[error("{path} is a memprof capture of version {version}, which this memprof cannot read")]
    Version { path: PathBuf, version: u32 },
}
