//! End-to-end tests: real programs recorded by `memprof run`, checked through
//! `memprof report --json` against exact expected figures and against valgrind memcheck.

mod cli;
mod crash;
mod exec;
mod fork;
mod hooks;
mod index;
mod languages;
mod live;
mod mark;
mod pprof;
mod ranges;
mod snapshots;
mod stress;
mod symbols;
mod threads;
mod trees;
mod unwind;
