//! The size histogram: one horizontal bar per size class, drawn with cairo.

use std::cell::RefCell;
use std::rc::Rc;

use gtk::cairo;
use gtk::prelude::*;

use crate::model::histogram::Bar;
use crate::model::units;

const BAR: f64 = 24.0;
const LABELS: f64 = 190.0;

pub struct Histogram {
    pub widget: gtk::ScrolledWindow,
    pub area: gtk::DrawingArea,
    bars: RefCell<Vec<Bar>>,
}

impl Histogram {
    pub fn new() -> Rc<Histogram> {
        let area = gtk::DrawingArea::new();
        area.set_hexpand(true);
        let widget = gtk::ScrolledWindow::builder()
            .child(&area)
            .vexpand(true)
            .build();
        let h = Rc::new(Histogram {
            widget,
            area,
            bars: RefCell::new(Vec::new()),
        });
        let weak = Rc::downgrade(&h);
        h.area.set_draw_func(move |_, cr, w, _| {
            if let Some(h) = weak.upgrade() {
                h.draw(cr, f64::from(w));
            }
        });
        h
    }

    pub fn show(&self, bars: Vec<Bar>) {
        self.area
            .set_content_height(((bars.len() + 1) as f64 * BAR) as i32);
        *self.bars.borrow_mut() = bars;
        self.area.queue_draw();
    }

    pub fn bars(&self) -> Vec<Bar> {
        self.bars.borrow().clone()
    }

    fn draw(&self, cr: &cairo::Context, width: f64) {
        cr.set_source_rgb(1.0, 1.0, 1.0);
        let _ = cr.paint();
        cr.select_font_face("Sans", cairo::FontSlant::Normal, cairo::FontWeight::Normal);
        cr.set_font_size(12.0);
        let room = (width - LABELS - 220.0).max(10.0);
        for (i, bar) in self.bars.borrow().iter().enumerate() {
            let y = (i as f64 + 0.5) * BAR;
            cr.set_source_rgb(0.2, 0.2, 0.2);
            cr.move_to(12.0, y + BAR / 2.0 + 4.0);
            let _ = cr.show_text(&bar.label);
            cr.set_source_rgb(0.2, 0.45, 0.8);
            cr.rectangle(LABELS, y + 3.0, (bar.fraction * room).max(1.0), BAR - 6.0);
            let _ = cr.fill();
            cr.set_source_rgb(0.2, 0.2, 0.2);
            cr.move_to(LABELS + bar.fraction * room + 8.0, y + BAR / 2.0 + 4.0);
            let text = format!(
                "{} allocations, {}",
                units::count(bar.allocations),
                units::bytes(bar.bytes)
            );
            let _ = cr.show_text(&text);
        }
    }
}
