//! What `memprof run` adds to a capture after the run: its addresses resolved, so that it
//! reads the same on another machine, and its heap index, so that every analysis reads each
//! thread's records once instead of replaying them all in time order.

use std::path::Path;

use memprof_capture::{Capture, HeapIndex, Summary};
use memprof_symbols::{symbolize, Symbolizer};

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
    if !capture.may_append() {
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
