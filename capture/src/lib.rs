//! Reads memprof captures.
