//! The timeline: rows of equal height (ruler, heap, allocation rate, one per thread,
//! markers) drawn with cairo, one value range per pixel column from the downsampled series.
//! Scrolling zooms around the pointer (with Shift, or sideways, it pans); dragging selects a
//! range.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use gtk::glib;
use gtk::prelude::*;

use memprof_capture::{HeapSeries, ThreadActivity};

use crate::model::document::Document;
use crate::model::jobs::{Jobs, Update};
use crate::model::timeline::{self, Lane, View};

/// Height of every row, in pixels.
pub const ROW: f64 = 36.0;
/// Width of the row titles on the left.
pub const TITLES: f64 = 100.0;

/// What the timeline draws.
pub(crate) struct Data {
    pub(crate) document: Arc<Document>,
    pub(crate) series: HeapSeries,
    pub(crate) activity: Vec<ThreadActivity>,
    pub(crate) lanes: Vec<Lane>,
    /// The threads' allocations counted again for a zoomed span, `(from, to, columns)`:
    /// finer than the whole capture's counts resampled.
    pub(crate) zoomed: Option<((u64, u64, usize), Vec<ThreadActivity>)>,
}

/// What a new selection is handed to.
type OnSelect = Box<dyn Fn(Option<(u64, u64)>)>;

pub struct Timeline {
    pub area: gtk::DrawingArea,
    pub(crate) data: RefCell<Option<Data>>,
    pub(crate) view: RefCell<View>,
    /// Where a drag started (fraction of the chart width).
    drag_from: Cell<Option<f64>>,
    /// The heap chart's columns as last drawn, with where they lie (fractions of the width).
    pub(crate) drawn: RefCell<Vec<(f64, f64, memprof_capture::Column)>>,
    /// Recounts of the threads' allocations for zoomed spans, one at a time.
    jobs: Jobs,
    recounts: Cell<u64>,
    /// Called with the new selection when a drag ends.
    on_select: RefCell<Option<OnSelect>>,
}

impl Timeline {
    pub fn new() -> Rc<Timeline> {
        let area = gtk::DrawingArea::new();
        area.set_hexpand(true);
        let t = Rc::new(Timeline {
            area,
            data: RefCell::new(None),
            view: RefCell::new(View::new(1)),
            drag_from: Cell::new(None),
            on_select: RefCell::new(None),
            drawn: RefCell::new(Vec::new()),
            jobs: Jobs::default(),
            recounts: Cell::new(0),
        });
        t.area.set_has_tooltip(true);
        let weak = Rc::downgrade(&t);
        t.area.connect_query_tooltip(move |_, x, _, _, tooltip| {
            let Some(t) = weak.upgrade() else {
                return false;
            };
            let at = t.fraction(f64::from(x));
            let drawn = t.drawn.borrow();
            match drawn.iter().find(|(a, b, _)| at >= *a && at < *b) {
                Some((_, _, column)) if f64::from(x) >= TITLES => {
                    tooltip.set_text(Some(&timeline::describe(column)));
                    true
                }
                _ => false,
            }
        });
        let weak = Rc::downgrade(&t);
        t.area.set_draw_func(move |_, cr, w, h| {
            if let Some(t) = weak.upgrade() {
                t.draw(cr, f64::from(w), f64::from(h));
            }
        });
        let drag = gtk::GestureDrag::new();
        let weak = Rc::downgrade(&t);
        drag.connect_drag_begin(move |_, x, _| {
            if let Some(t) = weak.upgrade() {
                t.drag_from.set(Some(t.fraction(x)));
            }
        });
        let weak = Rc::downgrade(&t);
        drag.connect_drag_update(move |d, dx, _| {
            let (Some(t), Some((x, _))) = (weak.upgrade(), d.start_point()) else {
                return;
            };
            // Show the range being dragged; it is analysed when the drag ends.
            if let Some(a) = t.drag_from.get() {
                let width = t.chart_width();
                t.view.borrow_mut().select(a, t.fraction(x + dx), width);
                t.area.queue_draw();
            }
        });
        let weak = Rc::downgrade(&t);
        drag.connect_drag_end(move |d, dx, _| {
            let (Some(t), Some((x, _))) = (weak.upgrade(), d.start_point()) else {
                return;
            };
            if let Some(a) = t.drag_from.take() {
                t.select(a, t.fraction(x + dx));
            }
        });
        t.area.add_controller(drag);
        let scroll = gtk::EventControllerScroll::new(
            gtk::EventControllerScrollFlags::BOTH_AXES | gtk::EventControllerScrollFlags::DISCRETE,
        );
        let weak = Rc::downgrade(&t);
        let pointer = Rc::new(Cell::new(0.5));
        let motion = gtk::EventControllerMotion::new();
        let at = pointer.clone();
        let weak_motion = Rc::downgrade(&t);
        motion.connect_motion(move |_, x, _| {
            if let Some(t) = weak_motion.upgrade() {
                at.set(t.fraction(x));
            }
        });
        t.area.add_controller(motion);
        scroll.connect_scroll(move |s, dx, dy| {
            let Some(t) = weak.upgrade() else {
                return glib::Propagation::Proceed;
            };
            let shift = s
                .current_event_state()
                .contains(gtk::gdk::ModifierType::SHIFT_MASK);
            if shift || dx != 0.0 {
                t.pan(if dx != 0.0 { dx } else { dy } * 0.1);
            } else {
                t.zoom(if dy < 0.0 { 0.8 } else { 1.25 }, pointer.get());
            }
            glib::Propagation::Stop
        });
        t.area.add_controller(scroll);
        t
    }

    /// Shows `document`, whole, with no selection.
    pub fn show(
        &self,
        document: Arc<Document>,
        series: HeapSeries,
        activity: Vec<ThreadActivity>,
        duration: u64,
    ) {
        let lanes = timeline::lanes(&document.threads);
        self.area
            .set_content_height((lanes.len() as f64 * ROW) as i32);
        // Up to nine rows show without scrolling.
        if let Some(scrolled) = self
            .area
            .ancestor(gtk::ScrolledWindow::static_type())
            .and_downcast::<gtk::ScrolledWindow>()
        {
            scrolled.set_min_content_height((lanes.len().min(9) as f64 * ROW) as i32 + 2);
        }
        *self.view.borrow_mut() = View::new(duration);
        *self.data.borrow_mut() = Some(Data {
            document,
            series,
            activity,
            lanes,
            zoomed: None,
        });
        self.area.queue_draw();
    }

    /// Counts the threads' allocations again for the visible span, off the main thread,
    /// once the zoom has stayed put for a moment.
    fn recount_later(self: &Rc<Self>) {
        let number = self.recounts.get() + 1;
        self.recounts.set(number);
        let weak = Rc::downgrade(self);
        glib::timeout_add_local_once(std::time::Duration::from_millis(150), move || {
            let Some(t) = weak.upgrade().filter(|t| t.recounts.get() == number) else {
                return;
            };
            let view = t.view();
            let columns = t.chart_width() as usize;
            let Some(document) = t.data.borrow().as_ref().map(|d| d.document.clone()) else {
                return;
            };
            if view.span() == view.duration {
                return;
            }
            let key = (view.from, view.to, columns);
            let updates = t.jobs.start(move |_| {
                let range = document.range(Some((view.from, view.to)));
                Some(ThreadActivity::of(&document.capture, range, columns))
            });
            glib::spawn_future_local(async move {
                while let Ok(update) = updates.recv().await {
                    if let (Update::Done(activity), Some(t)) = (update, weak.upgrade()) {
                        if let Some(data) = t.data.borrow_mut().as_mut() {
                            data.zoomed = Some((key, activity));
                        }
                        t.area.queue_draw();
                    }
                }
            });
        });
    }

    /// Calls `f` with each selection made by dragging.
    pub fn connect_select(&self, f: impl Fn(Option<(u64, u64)>) + 'static) {
        *self.on_select.borrow_mut() = Some(Box::new(f));
    }

    /// Each thread's allocations per column as the thread rows show them, and whether they
    /// were counted for the visible span itself (rather than resampled).
    pub fn thread_counts(&self) -> (Vec<(memprof_capture::ThreadId, Vec<u64>)>, bool) {
        let view = self.view();
        let columns = self.chart_width() as usize;
        let data = self.data.borrow();
        let Some(data) = data.as_ref() else {
            return (Vec::new(), false);
        };
        match data
            .zoomed
            .as_ref()
            .filter(|(key, _)| *key == (view.from, view.to, columns))
        {
            Some((_, all)) => (
                all.iter()
                    .map(|a| (a.thread, a.allocations.clone()))
                    .collect(),
                true,
            ),
            None => (
                data.activity
                    .iter()
                    .map(|a| (a.thread, timeline::thread_counts(a, &view, columns)))
                    .collect(),
                false,
            ),
        }
    }

    pub fn view(&self) -> View {
        *self.view.borrow()
    }

    /// Selects from fraction `a` to fraction `b` of the chart width, as a drag does.
    pub fn select(&self, a: f64, b: f64) {
        let width = self.chart_width();
        self.view.borrow_mut().select(a, b, width);
        let selection = self.view.borrow().selection;
        self.area.queue_draw();
        if let Some(f) = self.on_select.borrow().as_ref() {
            f(selection);
        }
    }

    pub fn zoom(self: &Rc<Self>, factor: f64, at: f64) {
        self.view.borrow_mut().zoom(factor, at);
        self.area.queue_draw();
        self.recount_later();
    }

    pub fn pan(self: &Rc<Self>, dx: f64) {
        self.view.borrow_mut().pan(dx);
        self.area.queue_draw();
        self.recount_later();
    }

    fn chart_width(&self) -> f64 {
        (f64::from(self.area.width()) - TITLES).max(1.0)
    }

    /// The fraction of the chart width at pixel `x` of the widget.
    fn fraction(&self, x: f64) -> f64 {
        ((x - TITLES) / self.chart_width()).clamp(0.0, 1.0)
    }
}
