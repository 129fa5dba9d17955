//! The memprof viewer: a GTK 4 application showing a capture's summary, call graph, flame
//! graph, size histogram and timeline, restricted to a selected time range, and the heap
//! difference between two moments or two captures.
//!
//! [`model`] holds what the views show as plain data (tested without a display); [`ui`] binds
//! it to widgets.

#![forbid(unsafe_code)]

pub mod model;
