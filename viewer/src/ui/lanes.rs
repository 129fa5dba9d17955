//! Drawing the timeline's rows with cairo: one value range per pixel column.

use gtk::cairo;

use memprof_capture::Range;

use crate::model::timeline::{self, Lane};
use crate::ui::timeline::{Timeline, ROW, TITLES};

impl Timeline {
    pub(crate) fn draw(&self, cr: &cairo::Context, width: f64, _height: f64) {
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
