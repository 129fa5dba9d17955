//! The timeline: rows of equal height (ruler, heap, allocation rate, one per thread,
//! markers) drawn with cairo, one value range per pixel column from the downsampled series.
//! Scrolling zooms around the pointer (with Shift, or sideways, it pans); dragging selects a
//! range.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use gtk::prelude::*;
use gtk::{cairo, glib};

use memprof_capture::{HeapSeries, Range, ThreadActivity};

use crate::model::document::Document;
use crate::model::jobs::{Jobs, Update};
use crate::model::timeline::{self, Lane, View};

/// Height of every row, in pixels.
pub const ROW: f64 = 36.0;
/// Width of the row titles on the left.
pub const TITLES: f64 = 100.0;

/// What the timeline draws.
struct Data {
    document: Arc<Document>,
    series: HeapSeries,
    activity: Vec<ThreadActivity>,
    lanes: Vec<Lane>,
    /// The threads' allocations counted again for a zoomed span, `(from, to, columns)`:
    /// finer than the whole capture's counts resampled.
    zoomed: Option<((u64, u64, usize), Vec<ThreadActivity>)>,
}

/// What a new selection is handed to.
type OnSelect = Box<dyn Fn(Option<(u64, u64)>)>;

pub struct Timeline {
    pub area: gtk::DrawingArea,
    data: RefCell<Option<Data>>,
    view: RefCell<View>,
    /// Where a drag started (fraction of the chart width).
    drag_from: Cell<Option<f64>>,
    /// The heap chart's columns as last drawn, with where they lie (fractions of the width).
    drawn: RefCell<Vec<(f64, f64, memprof_capture::Column)>>,
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

    fn draw(&self, cr: &cairo::Context, width: f64, _height: f64) {
        cr.set_source_rgb(1.0, 1.0, 1.0);
        let _ = cr.paint();
        let data = self.data.borrow();
        let Some(data) = data.as_ref() else {
            return;
        };
        let view = *self.view.borrow();
        let chart = (width - TITLES).max(1.0);
        let columns = chart as usize;
        let capture = &data.document.capture;
        let range = Range {
            from: if view.from == 0 {
                0
            } else {
                capture.ticks(view.from)
            },
            to: capture.ticks(view.to),
        };
        let heap = data.series.columns(capture, range, columns);
        // Where each series column lies: the series ends with the last event, so its columns
        // may fill only part of the span.
        let spans: Vec<(f64, f64)> = heap
            .iter()
            .map(|c| (view.x_of(c.from_ns), view.x_of(c.to_ns)))
            .collect();
        *self.drawn.borrow_mut() = spans
            .iter()
            .zip(&heap)
            .map(|(&(a, b), c)| (a, b, *c))
            .collect();
        let even: Vec<(f64, f64)> = (0..columns)
            .map(|c| (c as f64 / columns as f64, (c + 1) as f64 / columns as f64))
            .collect();
        cr.select_font_face("Sans", cairo::FontSlant::Normal, cairo::FontWeight::Normal);
        cr.set_font_size(11.0);
        for (i, lane) in data.lanes.iter().enumerate() {
            let y = i as f64 * ROW;
            if i % 2 == 1 {
                cr.set_source_rgb(0.96, 0.96, 0.97);
                cr.rectangle(0.0, y, width, ROW);
                let _ = cr.fill();
            }
            cr.set_source_rgb(0.2, 0.2, 0.2);
            cr.move_to(6.0, y + ROW / 2.0 + 4.0);
            let _ = cr.show_text(&lane.label());
            let bars = match lane {
                Lane::Ruler => {
                    for (t, label) in timeline::ticks(&view, chart, 110.0) {
                        let x = TITLES + view.x_of(t) * chart;
                        cr.set_source_rgb(0.5, 0.5, 0.5);
                        cr.rectangle(x, y + ROW - 8.0, 1.0, 8.0);
                        let _ = cr.fill();
                        cr.move_to(x + 3.0, y + ROW - 10.0);
                        let _ = cr.show_text(&label);
                    }
                    continue;
                }
                Lane::Heap => timeline::heap_bars(&heap),
                Lane::Rate => {
                    let counts: Vec<u64> = heap.iter().map(|c| c.heap.allocations).collect();
                    timeline::rate_bars(&counts)
                }
                Lane::Thread(tid) => {
                    let exact = data
                        .zoomed
                        .as_ref()
                        .filter(|(key, _)| *key == (view.from, view.to, columns))
                        .and_then(|(_, all)| all.iter().find(|a| a.thread == *tid));
                    match exact {
                        Some(a) => timeline::rate_bars(&a.allocations),
                        None => {
                            let Some(a) = data.activity.iter().find(|a| a.thread == *tid) else {
                                continue;
                            };
                            timeline::rate_bars(&timeline::thread_counts(a, &view, columns))
                        }
                    }
                }
                Lane::Markers => {
                    for (label, t) in &data.document.markers {
                        let x = view.x_of(*t);
                        if !(0.0..=1.0).contains(&x) {
                            continue;
                        }
                        let x = TITLES + x * chart;
                        cr.set_source_rgb(0.75, 0.3, 0.1);
                        cr.rectangle(x, y + 2.0, 1.5, ROW - 4.0);
                        let _ = cr.fill();
                        cr.move_to(x + 3.0, y + ROW / 2.0 + 4.0);
                        let _ = cr.show_text(label);
                    }
                    continue;
                }
            };
            let (red, green, blue) = match lane {
                Lane::Heap => (0.2, 0.45, 0.8),
                Lane::Rate => (0.85, 0.45, 0.1),
                _ => (0.3, 0.6, 0.35),
            };
            let places = if matches!(lane, Lane::Thread(_)) {
                &even
            } else {
                &spans
            };
            if lane == &Lane::Heap {
                // The heap as an area, under the band of its smallest to largest size.
                cr.set_source_rgba(red, green, blue, 0.25);
                for ((x0, x1), (_, high)) in places.iter().zip(&bars) {
                    let top = y + 3.0 + (ROW - 6.0) * (1.0 - high);
                    let (left, right) = (TITLES + x0 * chart, TITLES + x1 * chart);
                    cr.rectangle(left, top, (right - left).max(1.0), y + ROW - 3.0 - top);
                }
                let _ = cr.fill();
            }
            cr.set_source_rgb(red, green, blue);
            for ((x0, x1), (low, high)) in places.iter().zip(&bars) {
                let top = y + 3.0 + (ROW - 6.0) * (1.0 - high);
                let bottom = y + 3.0 + (ROW - 6.0) * (1.0 - low);
                let (left, right) = (TITLES + x0 * chart, TITLES + x1 * chart);
                cr.rectangle(left, top, (right - left).max(1.0), (bottom - top).max(1.0));
            }
            let _ = cr.fill();
        }
        if let Some((a, b)) = view.selection {
            let (xa, xb) = (
                TITLES + view.x_of(a).clamp(0.0, 1.0) * chart,
                TITLES + view.x_of(b).clamp(0.0, 1.0) * chart,
            );
            cr.set_source_rgba(0.2, 0.4, 0.9, 0.18);
            cr.rectangle(xa, 0.0, (xb - xa).max(1.0), data.lanes.len() as f64 * ROW);
            let _ = cr.fill();
            cr.set_source_rgba(0.2, 0.4, 0.9, 0.8);
            cr.rectangle(xa, 0.0, 1.0, data.lanes.len() as f64 * ROW);
            cr.rectangle(xb, 0.0, 1.0, data.lanes.len() as f64 * ROW);
            let _ = cr.fill();
        }
    }
}
