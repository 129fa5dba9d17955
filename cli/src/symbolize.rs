//! Resolving a capture's addresses after the run, stored in the capture so that it reads the
//! same on another machine.

use std::path::Path;

use memprof_capture::{Capture, Module, SymbolFrame, SymbolTableBuilder};
use memprof_format::module_status;
use memprof_symbols::{Symbolizer, Unresolved};

/// What symbolization found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Addresses that resolved to at least one function.
    pub resolved: usize,
    /// Modules whose file changed since the run (their addresses stay unresolved).
    pub changed: Vec<String>,
}

/// Resolves every return address of the capture at `path` and appends the table to it.
pub fn symbolize(path: &Path) -> anyhow::Result<Outcome> {
    let (builder, outcome) = {
        let capture = Capture::open(path)?;
        let (stacks, modules) = capture.stacks_and_modules();
        resolve_all(&stacks.addresses(), &modules)
    };
    builder.append_to(path)?;
    Ok(outcome)
}

fn resolve_all(addresses: &[u64], modules: &[Module]) -> (SymbolTableBuilder, Outcome) {
    let mut symbolizer = Symbolizer::default();
    let mut builder = SymbolTableBuilder::default();
    let mut outcome = Outcome::default();
    let mut status = vec![None; modules.len()];
    for &ip in addresses {
        // The call instruction is before the return address.
        let Some(i) = modules
            .iter()
            .rposition(|m| m.contains(ip.saturating_sub(1)))
        else {
            continue;
        };
        let m = &modules[i];
        match symbolizer.resolve(&m.path, &m.build_id, ip - 1 - m.base) {
            Ok(frames) => {
                status[i] = Some(module_status::RESOLVED);
                if !frames.is_empty() {
                    outcome.resolved += 1;
                }
                let frames: Vec<SymbolFrame> = frames
                    .into_iter()
                    .map(|f| SymbolFrame {
                        function: f.function,
                        file: f.file,
                        line: f.line,
                    })
                    .collect();
                builder.frames(ip, &frames);
            }
            Err(Unresolved::Missing) => status[i] = Some(module_status::MISSING),
            Err(Unresolved::Changed) => {
                if status[i] != Some(module_status::CHANGED) {
                    outcome.changed.push(m.path.clone());
                }
                status[i] = Some(module_status::CHANGED);
            }
        }
    }
    for (m, s) in modules.iter().zip(status) {
        if let Some(s) = s {
            builder.module_status(m.base, s);
        }
    }
    (builder, outcome)
}
