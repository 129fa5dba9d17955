//! The main window: the timeline above the views (summary, call graph, flame graph, sizes),
//! with the loading progress and errors shown in place. Every analysis runs as a background
//! job; a newer one cancels the older.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use gtk::prelude::*;
use gtk::{gdk, glib};

use memprof_capture::{HeapDiff, Metric, ThreadActivity};

use crate::model::content::{self, Shape};
use crate::model::document::{Document, LoadError, Report};
use crate::model::jobs::{Jobs, Update};
use crate::model::{histogram, summary};
use crate::ui::callgraph::CallGraph;
use crate::ui::flame::FlameGraph;
use crate::ui::histogram::Histogram;
use crate::ui::summary::SummaryView;
use crate::ui::timeline::Timeline;
use crate::ui::views;

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

/// What the window shows.
#[derive(Default)]
pub struct State {
    pub document: Option<Arc<Document>>,
    pub baseline: Option<Arc<Document>>,
    /// The comparison with the baseline, which no selection changes.
    pub baseline_diff: Option<Arc<HeapDiff>>,
    pub report: Option<Arc<Report>>,
    pub diff: Option<Arc<HeapDiff>>,
    pub selection: Option<(u64, u64)>,
    pub compare: bool,
    /// The function whose callers or callees are listed.
    pub focus: Option<String>,
    /// A job is running.
    pub busy: bool,
}

pub struct Viewer {
    pub window: gtk::ApplicationWindow,
    pub stack: gtk::Stack,
    pub timeline: Rc<Timeline>,
    pub callgraph: Rc<CallGraph>,
    pub flame: Rc<FlameGraph>,
    pub summary: SummaryView,
    pub histogram: Rc<Histogram>,
    pub shape: gtk::DropDown,
    pub metric: gtk::DropDown,
    pub compare: gtk::ToggleButton,
    progress: gtk::ProgressBar,
    error: gtk::Label,
    status: gtk::Label,
    jobs: Jobs,
    /// The number of the newest job: only its outcome is shown.
    latest: Cell<u64>,
    pub state: RefCell<State>,
}

impl Viewer {
    /// A window, of `app` when given (tests have no running application).
    pub fn new(app: Option<&gtk::Application>) -> Rc<Viewer> {
        let window = gtk::ApplicationWindow::builder()
            .title("memprof")
            .default_width(1200)
            .default_height(800)
            .build();
        if let Some(app) = app {
            window.set_application(Some(app));
        }
        let parts = views::build();
        window.set_titlebar(Some(&parts.header));
        window.set_child(Some(&parts.content));
        let viewer = Rc::new(Viewer {
            window,
            stack: parts.stack,
            timeline: parts.timeline,
            callgraph: parts.callgraph,
            flame: parts.flame,
            summary: parts.summary,
            histogram: parts.histogram,
            shape: parts.shape,
            metric: parts.metric,
            compare: parts.compare,
            progress: parts.progress,
            error: parts.error,
            status: parts.status,
            jobs: Jobs::default(),
            latest: Cell::new(0),
            state: RefCell::new(State::default()),
        });
        viewer.connect(parts.open, parts.baseline, parts.whole);
        viewer
    }

    fn connect(self: &Rc<Self>, open: gtk::Button, baseline: gtk::Button, whole: gtk::Button) {
        let weak = Rc::downgrade(self);
        self.timeline.connect_select(move |range| {
            if let Some(v) = weak.upgrade() {
                v.select_range(range);
            }
        });
        let weak = Rc::downgrade(self);
        open.connect_clicked(move |_| {
            if let Some(v) = weak.upgrade() {
                v.choose_file("Open a capture or a program", false);
            }
        });
        let weak = Rc::downgrade(self);
        baseline.connect_clicked(move |_| {
            if let Some(v) = weak.upgrade() {
                v.choose_file("Open a baseline capture to compare with", true);
            }
        });
        let weak = Rc::downgrade(self);
        whole.connect_clicked(move |_| {
            if let Some(v) = weak.upgrade() {
                v.timeline.select(0.0, 0.0);
            }
        });
        let weak = Rc::downgrade(self);
        self.compare.connect_toggled(move |b| {
            if let Some(v) = weak.upgrade() {
                v.set_compare(b.is_active());
            }
        });
        let weak = Rc::downgrade(self);
        self.shape.connect_selected_notify(move |_| {
            if let Some(v) = weak.upgrade() {
                v.refresh();
            }
        });
        let weak = Rc::downgrade(self);
        self.metric.connect_selected_notify(move |_| {
            if let Some(v) = weak.upgrade() {
                v.regather();
            }
        });
        let weak = Rc::downgrade(self);
        self.callgraph
            .selection
            .connect_selection_changed(move |_, _, _| {
                if let Some(v) = weak.upgrade() {
                    if let Some(row) = v.callgraph.selected() {
                        v.state.borrow_mut().focus = Some(row.name.clone());
                    }
                }
            });
        // Activating a row (double click, Enter) lists the callers of its function, or, among
        // callers, theirs: a walk up the call graph.
        let weak = Rc::downgrade(self);
        self.callgraph.view.connect_activate(move |_, position| {
            let Some(v) = weak.upgrade() else {
                return;
            };
            let row = v
                .callgraph
                .sorted
                .item(position)
                .and_then(|i| crate::ui::callgraph::row_of(&i));
            let compare = v.state.borrow().compare;
            if let (Some(row), false) = (row, compare) {
                let shape = match v.current_shape() {
                    Shape::Callees => Shape::Callees,
                    _ => Shape::Callers,
                };
                v.set_shape(shape, Some(&row.name));
            }
        });
        // Drop a capture (or a program) on the window to open it.
        let drop = gtk::DropTarget::new(gdk::FileList::static_type(), gdk::DragAction::COPY);
        let weak = Rc::downgrade(self);
        drop.connect_drop(move |_, value, _, _| {
            match (weak.upgrade(), value.get::<gdk::FileList>()) {
                (Some(v), Ok(files)) => v.open_dropped(&files),
                _ => false,
            }
        });
        self.window.add_controller(drop);
    }

    /// Opens the first of `files` dropped on the window; false if it is not a local file.
    pub fn open_dropped(self: &Rc<Self>, files: &gdk::FileList) -> bool {
        match files.files().first().and_then(|f| f.path()) {
            Some(path) => {
                self.open(&path);
                true
            }
            None => false,
        }
    }

    fn choose_file(self: &Rc<Self>, title: &str, baseline: bool) {
        let chooser = gtk::FileChooserNative::new(
            Some(title),
            Some(&self.window),
            gtk::FileChooserAction::Open,
            Some("Open"),
            Some("Cancel"),
        );
        let weak = Rc::downgrade(self);
        chooser.connect_response(move |chooser, response| {
            let path = chooser.file().and_then(|f| f.path());
            if let (Some(v), gtk::ResponseType::Accept, Some(path)) =
                (weak.upgrade(), response, path)
            {
                if baseline {
                    v.open_baseline(&path);
                } else {
                    v.open(&path);
                }
            }
            chooser.destroy();
        });
        chooser.show();
    }

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
    fn regather(self: &Rc<Self>) {
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

    fn current_shape(&self) -> Shape {
        content::SHAPES[(self.shape.selected() as usize).min(content::SHAPES.len() - 1)].1
    }

    fn current_metric(&self) -> Metric {
        content::METRICS[(self.metric.selected() as usize).min(4)].1
    }

    /// Runs `work` as the one background job, showing its progress, then its outcome.
    fn run(
        self: &Rc<Self>,
        work: impl FnOnce(&crate::model::jobs::Ticket<Outcome>) -> Option<Outcome> + Send + 'static,
    ) {
        self.state.borrow_mut().busy = true;
        self.progress.set_fraction(0.0);
        self.progress.set_visible(true);
        let updates = self.jobs.start(work);
        let number = self.latest.get() + 1;
        self.latest.set(number);
        let weak = Rc::downgrade(self);
        glib::spawn_future_local(async move {
            while let Ok(update) = updates.recv().await {
                let Some(v) = weak.upgrade() else {
                    return;
                };
                if v.latest.get() != number {
                    // Superseded: a newer job's outcome is awaited.
                    return;
                }
                match update {
                    Update::Progress(f) if f > 0.0 => v.progress.set_fraction(f),
                    Update::Progress(_) => v.progress.pulse(),
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

    fn show_message(&self, text: &str) {
        self.status.set_text(text);
    }

    /// Shows the current analysis (or comparison) in every view.
    pub fn refresh(&self) {
        let st = self.state.borrow();
        let (Some(document), Some(report)) = (st.document.as_ref(), st.report.as_ref()) else {
            return;
        };
        let shape = self.current_shape();
        let metric = self.current_metric();
        let diff = st.diff.as_deref().filter(|_| st.compare);
        let root = report.top_down.node(memprof_capture::CallTree::ROOT).total;
        self.summary.show(&summary::lines(
            &document.program(),
            &report.analysis.summary,
            st.selection.map(|r| (r, &root)),
        ));
        let (rows, column, total) =
            content::callgraph_rows(document, report, diff, shape, metric, st.focus.as_deref());
        self.callgraph.set_compare(diff.is_some());
        self.callgraph.show(rows, column, total);
        let (roots, weight) = content::flame_rows(report, diff, metric);
        self.flame.show(roots, weight);
        self.histogram.show(histogram::bars(&report.analysis.sizes));
        self.status.set_text(&content::status(
            st.selection,
            st.baseline.as_deref(),
            document,
            diff.is_some(),
        ));
    }

    /// Whether a job is running (tests wait for it).
    pub fn is_busy(&self) -> bool {
        self.state.borrow().busy
    }

    /// The error shown, if any.
    pub fn error(&self) -> Option<String> {
        self.error
            .is_visible()
            .then(|| self.error.text().to_string())
    }

    /// Selects the metric the percentages and the flame graph use.
    pub fn set_metric(&self, metric: Metric) {
        self.metric.set_selected(
            content::METRICS
                .iter()
                .position(|m| m.1 == metric)
                .unwrap_or(0) as u32,
        );
    }

    /// Lists the call graph as `shape`; `focus` names the function of callers and callees.
    pub fn set_shape(&self, shape: Shape, focus: Option<&str>) {
        if let Some(f) = focus {
            self.state.borrow_mut().focus = Some(f.to_string());
        }
        let i = content::SHAPES
            .iter()
            .position(|s| s.1 == shape)
            .unwrap_or(0) as u32;
        if self.shape.selected() == i {
            self.refresh();
        } else {
            self.shape.set_selected(i);
        }
    }

    pub fn present(&self) {
        self.window.present();
    }
}
