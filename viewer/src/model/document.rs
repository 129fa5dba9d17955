//! An open capture and the analyses of it that the views show.
//!
//! Everything here runs off the main thread: opening and indexing a capture, analysing a
//! range, comparing two moments or two captures. The results are plain data handed to the
//! views.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memprof_capture::{
    analyze, functions, rank, Analysis, CallTree, Capture, Direction, FunctionFigures, HeapDiff,
    HeapIndex, Metric, Range, Resolved, Scope, Site, Summary, ThreadId,
};
use memprof_symbols::Symbolizer;

/// Why a capture could not be shown.
#[derive(Debug)]
pub enum LoadError {
    Capture(memprof_capture::Error),
    Io(PathBuf, std::io::Error),
    /// The load was superseded by a newer one.
    Cancelled,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Capture(e) => write!(f, "{e}"),
            LoadError::Io(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            LoadError::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl From<memprof_capture::Error> for LoadError {
    fn from(e: memprof_capture::Error) -> LoadError {
        LoadError::Capture(e)
    }
}

/// An open capture, with its stacks read and resolved once.
pub struct Document {
    pub capture: Capture,
    pub resolved: Resolved,
    /// Markers: label and nanoseconds since the start.
    pub markers: Vec<(String, u64)>,
    pub threads: Vec<ThreadId>,
}

impl Document {
    /// Opens the capture at `path`. A capture without a heap index is indexed first, with
    /// `progress` told how far it got (a fraction); when it can be written, the index is
    /// appended so that the next opening starts at once, and so are the symbol tables of a
    /// capture without them. `progress` returning false cancels.
    pub fn open(path: &Path, progress: &mut dyn FnMut(f64) -> bool) -> Result<Document, LoadError> {
        let mut capture = Capture::open(path)?;
        let appendable = capture.may_append();
        if !HeapIndex::is_in(&capture) {
            let index =
                HeapIndex::build_with(&capture, &mut *progress).ok_or(LoadError::Cancelled)?;
            // A capture that cannot take the index is indexed again by each analysis.
            if appendable && index.append_to(path).is_ok() {
                drop(index);
                capture = Capture::open(path)?;
            }
        }
        // Recorded with `--no-symbols`, or by a run whose memprof was stopped: its addresses
        // are resolved once, as `memprof report` resolves them, while the modules are at hand.
        if !capture.has_symbols()
            && appendable
            && memprof_symbols::symbolize(path, &mut Symbolizer::default()).is_ok()
        {
            capture = Capture::open(path)?;
        }
        if !progress(1.0) {
            return Err(LoadError::Cancelled);
        }
        let resolved = Resolved::of(&capture);
        let markers = capture
            .markers()
            .into_iter()
            .map(|(label, time)| (label, capture.ns(time)))
            .collect();
        let threads = capture.thread_ids();
        Ok(Document {
            capture,
            resolved,
            markers,
            threads,
        })
    }

    /// The analysis of `range` (nanoseconds since the start; `None`: the whole capture),
    /// gathered by `metric`.
    pub fn report(&self, range: Option<(u64, u64)>, metric: Metric) -> Report {
        let analysis = analyze(&self.capture, Scope::from(self.range(range)));
        self.gather(Arc::new(analysis), metric)
    }

    /// The call trees of `analysis` by `metric`: like `memprof report --sort METRIC`, only
    /// the call stacks with some of it count.
    pub fn gather(&self, analysis: Arc<Analysis>, metric: Metric) -> Report {
        let mut sites = analysis.sites.clone();
        rank(&mut sites, metric);
        let resolver = self.resolved.resolver();
        let top_down = CallTree::build(&sites, &resolver, Direction::TopDown);
        let bottom_up = CallTree::build(&sites, &resolver, Direction::BottomUp);
        let functions = functions(&sites, &resolver);
        Report {
            metric,
            analysis,
            sites,
            top_down,
            bottom_up,
            functions,
        }
    }

    /// The record times of a span in nanoseconds.
    pub fn range(&self, range: Option<(u64, u64)>) -> Range {
        match range {
            None => Range::ALL,
            Some((from, to)) => Range {
                from: if from == 0 {
                    0
                } else {
                    self.capture.ticks(from)
                },
                to: self.capture.ticks(to),
            },
        }
    }

    /// The heap at `to_ns` minus the heap at `from_ns`; `summary` is the capture's.
    pub fn compare_times(&self, from_ns: u64, to_ns: u64, summary: &Summary) -> HeapDiff {
        let (t1, t2) = (self.capture.ticks(from_ns), self.capture.ticks(to_ns));
        HeapDiff {
            summaries: [summary.clone(), summary.clone()],
            rows: HeapDiff::rows_between(&self.capture, t1, t2),
        }
    }

    /// The heap at the end of this capture minus that at the end of `baseline`.
    pub fn compare_with(&self, baseline: &Document) -> HeapDiff {
        HeapDiff::of_captures(&baseline.capture, &self.capture)
    }

    /// The program's name, for the title.
    pub fn program(&self) -> String {
        let cmd = self.capture.command_line();
        let argv0 = cmd.first().map_or("?", String::as_str);
        argv0.rsplit('/').next().unwrap_or(argv0).to_string()
    }

    /// How long the recording lasted, in nanoseconds (at least 1, so spans are never empty).
    pub fn duration_ns(&self, report: &Report) -> u64 {
        report.analysis.summary.duration_ns.max(1)
    }
}

/// The analysis of one range, with its call trees.
pub struct Report {
    pub metric: Metric,
    pub analysis: Arc<Analysis>,
    /// The call stacks with some of the metric, largest first.
    pub sites: Vec<Site>,
    pub top_down: CallTree,
    pub bottom_up: CallTree,
    pub functions: Vec<FunctionFigures>,
}
