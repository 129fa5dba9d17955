//! The window's background work: opening, recording, analysing a range, comparing, each
//! as the one job running; its progress and outcome are shown as they arrive.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;

use memprof_capture::{HeapDiff, Metric, ThreadActivity};

use crate::model::content::{self, Shape};
use crate::model::document::{Document, LoadError, Report};
use crate::model::jobs::{Ticket, Update};
use crate::ui::window::Viewer;

/// How often the progress bar moves at most.
const PROGRESS_STEP: Duration = Duration::from_millis(100);

/// Columns of the per-thread activity counted at load (the rows resample it when zoomed).
const ACTIVITY_COLUMNS: usize = 2048;

/// What a background job produced.
enum Outcome {
    Loaded {
        document: Arc<Document>,
        report: Box<Report>,
        activity: Vec<ThreadActivity>,
    },
    Baseline(Arc<Document>),
    Analysed {
        report: Box<Report>,
        diff: Option<Arc<HeapDiff>>,
    },
    /// The comparison of a range, shown before its analysis is done.
    Compared(Arc<HeapDiff>),
    /// The same analysis gathered by another metric.
    Gathered(Box<Report>),
    Recorded(PathBuf),
    Failed(String),
}

impl Viewer {
    /// Opens the capture at `path`, or records the program at `path` and opens the result.
    pub fn open(self: &Rc<Self>, path: &Path) {
        if crate::record::is_program(path) {
            self.record(vec![path.as_os_str().to_owned()]);
            return;
        }
        let path = path.to_path_buf();
        let metric = self.current_metric();
        self.show_message(&format!("Opening {}", path.display()));
        self.run(move |ticket| {
            let document = match Document::open(&path, &mut |f| ticket.progress(f * 0.6)) {
                Ok(d) => Arc::new(d),
                Err(LoadError::Cancelled) => return None,
                Err(e) => return Some(Outcome::Failed(e.to_string())),
            };
            let report = document.report(None, metric);
            ticket.progress(0.9);
            let activity =
                ThreadActivity::of(&document.capture, document.range(None), ACTIVITY_COLUMNS);
            Some(Outcome::Loaded {
                document,
                report: Box::new(report),
                activity,
            })
        });
    }

    /// Records `command` with `memprof run`, then opens the capture.
    pub fn record(self: &Rc<Self>, command: Vec<std::ffi::OsString>) {
        self.show_message(&format!(
            "Recording {}",
            command
                .first()
                .map_or(String::new(), |c| c.to_string_lossy().into_owned())
        ));
        self.run(move |ticket| {
            Some(
                match crate::record::record(&command, &|| ticket.progress(0.0)) {
                    Ok(path) => Outcome::Recorded(path),
                    Err(e) => Outcome::Failed(e),
                },
            )
        });
    }

    /// Opens `path` as the baseline: compare mode then shows this capture minus it.
    pub fn open_baseline(self: &Rc<Self>, path: &Path) {
        let path = path.to_path_buf();
        self.run(move |ticket| {
            Some(match Document::open(&path, &mut |f| ticket.progress(f)) {
                Ok(d) => Outcome::Baseline(Arc::new(d)),
                Err(LoadError::Cancelled) => return None,
                Err(e) => Outcome::Failed(e.to_string()),
            })
        });
    }

    /// Restricts every view to `range` (nanoseconds since the start; `None`: everything).
    pub fn select_range(self: &Rc<Self>, range: Option<(u64, u64)>) {
        self.state.borrow_mut().selection = range;
        self.reanalyse();
    }

    /// Shows the heap difference between the ends of the selection (or against the
    /// baseline), or the analysis of the selection.
    pub fn set_compare(self: &Rc<Self>, compare: bool) {
        if self.compare.is_active() != compare {
            // The toggle's handler comes back here.
            self.compare.set_active(compare);
            return;
        }
        self.state.borrow_mut().compare = compare;
        self.reanalyse();
    }

    fn reanalyse(self: &Rc<Self>) {
        let st = self.state.borrow();
        let Some(document) = st.document.clone() else {
            return;
        };
        let (range, baseline, compare) = (st.selection, st.baseline.clone(), st.compare);
        let cached = st.baseline_diff.clone();
        // The whole capture's, the same in every analysis.
        let Some(summary) = st.report.as_ref().map(|r| r.analysis.summary.clone()) else {
            return;
        };
        drop(st);
        let metric = self.current_metric();
        self.run(move |ticket| {
            let diff = compare.then(|| match (&baseline, range) {
                (Some(b), _) => cached.unwrap_or_else(|| Arc::new(document.compare_with(b))),
                (None, Some((a, b))) => Arc::new(document.compare_times(a, b, &summary)),
                (None, None) => Arc::new(document.compare_times(0, summary.duration_ns, &summary)),
            });
            if let Some(d) = &diff {
                // The comparison first: it is what compare mode shows.
                ticket.partial(Outcome::Compared(d.clone()));
            }
            let report = document.report(range, metric);
            if ticket.cancelled() {
                return None;
            }
            Some(Outcome::Analysed {
                report: Box::new(report),
                diff,
            })
        });
    }

    /// Gathers the analysis shown by the metric now selected.
    pub(crate) fn regather(self: &Rc<Self>) {
        let st = self.state.borrow();
        let (Some(document), Some(report)) = (st.document.clone(), st.report.clone()) else {
            return;
        };
        drop(st);
        let metric = self.current_metric();
        self.run(move |_| {
            Some(Outcome::Gathered(Box::new(
                document.gather(report.analysis.clone(), metric),
            )))
        });
    }

    pub(crate) fn current_shape(&self) -> Shape {
        content::SHAPES[(self.shape.selected() as usize).min(content::SHAPES.len() - 1)].1
    }

    pub(crate) fn current_metric(&self) -> Metric {
        content::METRICS[(self.metric.selected() as usize).min(4)].1
    }

    /// Runs `work` as the one background job, showing its progress, then its outcome.
    fn run(
        self: &Rc<Self>,
        work: impl FnOnce(&Ticket<Outcome>) -> Option<Outcome> + Send + 'static,
    ) {
        self.state.borrow_mut().busy = true;
        self.progress.set_fraction(0.0);
        self.progress.set_visible(true);
        let updates = self.jobs.start(work);
        let number = self.latest.get() + 1;
        self.latest.set(number);
        let weak = Rc::downgrade(self);
        glib::spawn_future_local(async move {
            // The progress bar moves at most ten times a second: every redraw of the window
            // takes processor time from the job (much of it, with software rendering).
            let mut shown = Instant::now() - PROGRESS_STEP;
            while let Ok(update) = updates.recv().await {
                let Some(v) = weak.upgrade() else {
                    return;
                };
                if v.latest.get() != number {
                    // Superseded: a newer job's outcome is awaited.
                    return;
                }
                match update {
                    Update::Progress(_) if shown.elapsed() < PROGRESS_STEP => {}
                    Update::Progress(f) => {
                        shown = Instant::now();
                        if f > 0.0 {
                            v.progress.set_fraction(f);
                        } else {
                            v.progress.pulse();
                        }
                    }
                    Update::Partial(outcome) => v.show_partial(outcome),
                    Update::Done(outcome) => return v.finish(outcome),
                }
            }
            // The job ended without an outcome while it was still the newest.
            if let Some(v) = weak.upgrade().filter(|v| v.latest.get() == number) {
                v.finish(Outcome::Failed(
                    "the analysis stopped before it finished".into(),
                ));
            }
        });
    }

    fn finish(self: &Rc<Self>, outcome: Outcome) {
        self.state.borrow_mut().busy = false;
        self.progress.set_visible(false);
        self.error.set_visible(false);
        match outcome {
            Outcome::Loaded {
                document,
                report,
                activity,
            } => {
                let duration = document.duration_ns(&report);
                self.window.set_title(Some(&format!(
                    "{} — {}",
                    document.program(),
                    document.capture.path().display()
                )));
                self.timeline.show(
                    document.clone(),
                    report.analysis.series.clone(),
                    activity,
                    duration,
                );
                let mut st = self.state.borrow_mut();
                (st.document, st.report, st.selection, st.diff) =
                    (Some(document), Some(Arc::new(*report)), None, None);
                st.baseline_diff = None;
                let compare = st.compare;
                drop(st);
                if compare {
                    self.reanalyse();
                }
            }
            Outcome::Compared(diff) => {
                self.state.borrow_mut().diff = Some(diff);
            }
            Outcome::Baseline(b) => {
                let mut st = self.state.borrow_mut();
                (st.baseline, st.baseline_diff) = (Some(b), None);
                drop(st);
                self.set_compare(true);
                self.reanalyse();
            }
            Outcome::Analysed { report, diff } => {
                let mut st = self.state.borrow_mut();
                st.report = Some(Arc::new(*report));
                if st.baseline.is_some() {
                    st.baseline_diff = diff.clone();
                }
                st.diff = diff;
            }
            Outcome::Gathered(report) => {
                self.state.borrow_mut().report = Some(Arc::new(*report));
            }
            Outcome::Recorded(path) => {
                self.open(&path);
                return;
            }
            Outcome::Failed(message) => {
                self.error.set_text(&message);
                self.error.set_visible(true);
                // What is shown, if anything, stays; the status says so again below.
                self.show_message("Open a capture (Ctrl+O), or drop one here");
            }
        }
        self.refresh();
    }

    /// Shows part of a job's outcome while it goes on.
    fn show_partial(&self, outcome: Outcome) {
        if let Outcome::Compared(diff) = outcome {
            self.state.borrow_mut().diff = Some(diff);
            self.refresh();
        }
    }
}
