//! The memprof viewer: a GTK 4 application showing a capture's summary, call graph, flame
//! graph, size histogram and timeline, restricted to a selected time range, and the heap
//! difference between two moments or two captures.
//!
//! [`model`] holds what the views show as plain data (tested without a display); [`ui`] binds
//! it to widgets.

#![forbid(unsafe_code)]

pub mod app;
pub mod model;
pub mod record;
pub mod ui;

/// The application id (meson sets another for development builds).
pub const APP_ID: &str = match option_env!("MEMPROF_VIEWER_APP_ID") {
    Some(id) => id,
    None => "io.github.memprof.Viewer",
};
