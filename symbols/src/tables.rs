//! A capture's symbol tables: every return address it recorded, resolved and appended to it,
//! so that it reads the same on another machine and after its modules change.

use std::path::Path;

use memprof_capture::{Capture, Error, Module, SymbolFrame, SymbolTableBuilder};
use memprof_format::module_status;

use crate::{Symbolizer, Unresolved};

/// What symbolization found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Addresses that resolved to at least one function.
    pub resolved: usize,
    /// Modules whose file changed since the run (their addresses stay unresolved).
    pub changed: Vec<String>,
}

/// Resolves every return address of the capture at `path` and appends the tables to it,
/// with `symbolizer`, which keeps the debug information it read for the next capture.
pub fn symbolize(path: &Path, symbolizer: &mut Symbolizer) -> Result<Outcome, Error> {
    let (builder, outcome) = {
        let capture = Capture::open(path)?;
        let (stacks, modules) = capture.stacks_and_modules();
        resolve_all(&stacks.addresses(), &modules, symbolizer)
    };
    builder.append_to(path)?;
    Ok(outcome)
}

fn resolve_all(
    addresses: &[u64],
    modules: &[Module],
    symbolizer: &mut Symbolizer,
) -> (SymbolTableBuilder, Outcome) {
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
