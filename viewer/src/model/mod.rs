//! The views' data, with no GTK types: what each view shows, computed from the analysis of
//! `memprof-capture`, and unit-tested without a display.

pub mod content;
pub mod document;
pub mod flame;
pub mod histogram;
pub mod jobs;
pub mod rows;
pub mod summary;
pub mod timeline;
pub mod units;
