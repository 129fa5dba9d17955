//! Return addresses resolved while the program runs, so that `memprof run` has little left to
//! resolve once it ends.
//!
//! Loading a module's debug information (decompressing and indexing libc's DWARF alone takes
//! about 100 ms) and resolving each address cost the same whenever they are done; done here,
//! on the core the program leaves idle, they are done before the program ends. The
//! [`Symbolizer`] keeps every address it resolved with the module's path and build-id, so the
//! symbolization after the run, which takes the modules from the sealed capture, finds them
//! resolved where its module is the same, and resolves anything else itself.

use std::time::{Duration, Instant};

use memprof_format::Record;
use memprof_symbols::Symbolizer;

use crate::modules::Modules;

/// Resolves the addresses of the stack nodes read so far.
#[derive(Default)]
pub(crate) struct Ahead {
    symbolizer: Symbolizer,
    modules: Modules,
    /// Addresses read and not resolved yet.
    pending: Vec<u64>,
}

impl Ahead {
    /// Takes note of a record of the capture.
    pub fn take(&mut self, record: &Record) {
        match *record {
            Record::StackNode { ip, .. } => self.pending.push(ip),
            Record::ModuleLoad {
                base,
                size,
                build_id,
                path,
                ..
            } => self.modules.load(path, build_id, base, size),
            Record::ModuleUnload { base, .. } => self.modules.unload(base),
            _ => {}
        }
    }

    /// Resolves the addresses read since the last call, for about `budget` at most (the
    /// index waits meanwhile): the rest wait for the next call.
    pub fn resolve(&mut self, budget: Duration) {
        let start = Instant::now();
        while let Some(ip) = self.pending.pop() {
            if self.pending.len().is_multiple_of(64) && start.elapsed() > budget {
                self.pending.push(ip);
                return;
            }
            // The recorder writes a module's record before any stack node in it, so a module
            // is known here; one that is not is left to the symbolization after the run.
            let Some((m, vaddr)) = self.modules.holding(ip) else {
                continue;
            };
            // What stays unresolved is told after the run, which meets it again.
            let _ = self.symbolizer.resolve(&m.path, &m.build_id, vaddr);
        }
    }

    /// The symbolizer, with everything resolved so far.
    pub fn into_symbolizer(self) -> Symbolizer {
        self.symbolizer
    }
}
