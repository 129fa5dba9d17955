//! The main window: the timeline above the views (summary, call graph, flame graph, sizes),
//! with the loading progress and errors shown in place. The background work is in
//! [`crate::ui::loading`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use gtk::prelude::*;
use gtk::{gdk, glib};

use memprof_capture::{HeapDiff, Metric};

use crate::model::content::{self, Shape};
use crate::model::document::{Document, Report};
use crate::model::jobs::Jobs;
use crate::model::{histogram, summary};
use crate::ui::callgraph::CallGraph;
use crate::ui::flame::FlameGraph;
use crate::ui::histogram::Histogram;
use crate::ui::summary::SummaryView;
use crate::ui::timeline::Timeline;
use crate::ui::views;

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
    pub(crate) progress: gtk::ProgressBar,
    pub(crate) error: gtk::Label,
    pub(crate) status: gtk::Label,
    pub(crate) jobs: Jobs,
    /// The number of the newest job: only its outcome is shown.
    pub(crate) latest: Cell<u64>,
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
        // Ctrl+O opens, Escape zooms the flame graph out.
        let keys = gtk::ShortcutController::new();
        keys.set_scope(gtk::ShortcutScope::Global);
        let weak = Rc::downgrade(self);
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string("<Control>o"),
            Some(gtk::CallbackAction::new(move |_, _| {
                if let Some(v) = weak.upgrade() {
                    v.choose_file("Open a capture or a program", false);
                }
                glib::Propagation::Stop
            })),
        ));
        let weak = Rc::downgrade(self);
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string("Escape"),
            Some(gtk::CallbackAction::new(move |_, _| {
                if let Some(v) = weak.upgrade() {
                    v.flame.zoom_to(Vec::new());
                }
                glib::Propagation::Stop
            })),
        ));
        self.window.add_controller(keys);
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

    pub(crate) fn show_message(&self, text: &str) {
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
        let mut lines = summary::lines(
            &document.program(),
            &report.analysis.summary,
            st.selection.map(|r| (r, &root)),
        );
        lines.extend(summary::thread_lines(&report.analysis.threads));
        self.summary.show(&lines);
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
