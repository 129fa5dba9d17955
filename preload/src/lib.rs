//! The preload.
