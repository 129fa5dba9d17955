//! Reading and analysing memprof captures.
//!
//! A capture is opened with [`Capture::open`] (a read-only memory map; nothing is copied),
//! read as a time-ordered [`Events`] stream merged from the recorded threads, with stacks from
//! [`Stacks`], and summarised by [`Summary::of`]:
//!
//! ```no_run
//! let capture = memprof_capture::Capture::open("memprof.prog.1234.mprof")?;
//! let summary = memprof_capture::Summary::of(&capture);
//! println!("{} allocations, {} bytes leaked", summary.allocations, summary.leaked_bytes);
//! # Ok::<(), memprof_capture::Error>(())
//! ```
//!
//! The definitions (what counts as an allocation, a leak, a temporary allocation, the peak)
//! are those of the specification and are shared by every front end.

// The exceptions are the memory map in `Capture::open` and a prefetch hint in `AddrMap`.
#![deny(unsafe_code)]

mod activity;
mod addr_map;
mod capture;
mod cores;
mod diff;
mod error;
mod events;
mod heap;
mod index;
mod index_builder;
mod modules;
mod parts;
mod replay;
mod resolve;
mod scan;
mod series;
mod sites;
mod stacks;
mod summary;
mod symbols;
mod tables;
mod tree;
pub mod units;

pub use activity::ThreadActivity;
pub use addr_map::AddrMap;
pub use capture::{Capture, Ending};
pub use cores::drop_aside;
pub use diff::{DiffRow, HeapDiff};
pub use error::Error;
pub use events::{DecodeProblem, Event, EventKind, Events};
pub use index::HeapIndex;
pub use index_builder::{IndexBuilder, StreamId};
pub use memprof_format::{AllocKind, Lifetime, StackRef};
pub use modules::Module;
pub use replay::Change;
pub use resolve::{Line, Resolved, Resolver};
pub use series::{Bucket, Column, HeapSeries, MAX_BUCKETS};
pub use sites::{
    analyze, rank, Analysis, Figures, Metric, Range, Scope, Site, SizeClass, ThreadFigures,
};
pub use stacks::{NodeId, Stacks};
pub use summary::Summary;
pub use symbols::{SymbolFrame, SymbolTableBuilder, Symbols};
pub use tree::{functions, neighbours, CallTree, Direction, FunctionFigures, TreeNode, TreeNodeId};

/// Kernel id of a recorded thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ThreadId(pub u32);
