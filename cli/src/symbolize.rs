//! What `memprof run` adds to a capture after the run: its addresses resolved, so that it
//! reads the same on another machine, and its heap index, so that every analysis reads each
//! thread's records once instead of replaying them all in time order.

use std::path::Path;

use memprof_capture::{
    Capture, Ending, HeapIndex, Module, Summary, SymbolFrame, SymbolTableBuilder,
};
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

/// Resolves every return address of the capture at `path` and appends the table to it,
/// with `symbolizer`, which keeps the debug information it read for the next capture.
pub fn symbolize(path: &Path, symbolizer: &mut Symbolizer) -> anyhow::Result<Outcome> {
    let (builder, outcome) = {
        let capture = Capture::open(path)?;
        let (stacks, modules) = capture.stacks_and_modules();
        resolve_all(&stacks.addresses(), &modules, symbolizer)
    };
    builder.append_to(path)?;
    Ok(outcome)
}

/// Opens the capture at `path` for analysis, with its summary if its heap index was built
/// here (it is counted on the way). The first analysis of a capture builds the index and
/// appends it to the file, so that later ones start at once; a capture that cannot be
/// written is indexed in memory each time instead.
pub fn open_indexed(path: &Path) -> anyhow::Result<(Capture, Option<Summary>)> {
    open_completed(path, false)
}

/// [`open_indexed`], and the capture's addresses resolved if they never were (it was recorded
/// with `--no-symbols`, by a child that outlived its parent, or by a run whose `memprof` was
/// killed): the symbol tables are appended too.
pub fn open_for_analysis(path: &Path) -> anyhow::Result<Capture> {
    Ok(open_completed(path, true)?.0)
}

/// Opens the capture at `path` with its heap index appended, and its symbol tables if
/// `symbols`, when they are missing and may be appended; with the summary counted while the
/// index was built, if it was built here.
fn open_completed(path: &Path, symbols: bool) -> anyhow::Result<(Capture, Option<Summary>)> {
    let mut capture = Capture::open(path)?;
    if !may_append(&capture) {
        return Ok((capture, None));
    }
    let mut counted = None;
    if !HeapIndex::is_in(&capture) {
        let index = build_showing_progress(&capture);
        counted = index.summary().cloned();
        if index.append_to(path).is_err() {
            return Ok((capture, counted));
        }
        drop(index);
        capture = Capture::open(path)?;
    }
    if symbols && !capture.has_symbols() {
        drop(capture);
        symbolize_telling(path, &mut Symbolizer::default());
        capture = Capture::open(path)?;
    }
    Ok((capture, counted))
}

/// [`symbolize`], telling on stderr what stays unresolved and why.
pub fn symbolize_telling(path: &Path, symbolizer: &mut Symbolizer) {
    match symbolize(path, symbolizer) {
        Ok(o) => {
            for m in &o.changed {
                eprintln!("memprof: {m} changed since the run: its addresses stay unresolved");
            }
        }
        Err(e) => eprintln!(
            "memprof: cannot resolve symbols of {}: {e:#}",
            path.display()
        ),
    }
}

/// Whether tables may be appended to `capture`.
fn may_append(capture: &Capture) -> bool {
    // Not to a capture that its program may still be writing.
    let writing = capture.ending() == Ending::CutShort
        && Path::new(&format!("/proc/{}", capture.pid())).exists();
    // Nor to one that cannot be written: it would be indexed twice, here and by the analysis.
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .open(capture.path())
        .is_ok();
    // Nor to one with records missing: appending to a cut file would hide where it was cut.
    let damaged = capture.missing().is_some();
    !writing && writable && !damaged
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

/// Builds the heap index of `capture`, with its progress on the terminal if there is one.
fn build_showing_progress<'c>(capture: &'c Capture) -> HeapIndex<'c> {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return HeapIndex::build(capture);
    }
    let name = capture.path().display().to_string();
    let mut shown = None;
    let index = HeapIndex::build_with(capture, &mut |done| {
        let percent = (done * 100.0) as u32;
        if shown != Some(percent) {
            shown = Some(percent);
            let _ = write!(err, "\rmemprof: indexing {name}: {percent}%");
        }
        true
    })
    .expect("never cancelled");
    if shown.is_some() {
        // Clear the line.
        let _ = write!(err, "\r{:width$}\r", "", width = name.len() + 30);
    }
    index
}
