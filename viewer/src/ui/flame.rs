//! The flame graph: the top-down tree drawn with cairo as bars from the outermost caller
//! down; a click zooms on a bar (or back out, on an ancestor), the tooltip gives its figures.

use std::cell::RefCell;
use std::rc::Rc;

use gtk::cairo;
use gtk::prelude::*;

use crate::model::flame::{self, Rect, Weight};
use crate::model::rows::{Column, Row};
use crate::ui::callgraph::cell_text;

/// Height of one level, in pixels.
pub const LEVEL: f64 = 20.0;

pub struct FlameGraph {
    pub widget: gtk::ScrolledWindow,
    pub area: gtk::DrawingArea,
    roots: RefCell<Vec<Rc<Row>>>,
    weight: RefCell<Weight>,
    /// The path of the zoomed bar, from the outermost caller.
    zoom: RefCell<Vec<String>>,
    rects: RefCell<Vec<Rect>>,
}

impl FlameGraph {
    pub fn new() -> Rc<FlameGraph> {
        let area = gtk::DrawingArea::new();
        area.set_hexpand(true);
        area.set_has_tooltip(true);
        let widget = gtk::ScrolledWindow::builder()
            .child(&area)
            .vexpand(true)
            .hscrollbar_policy(gtk::PolicyType::Never)
            .build();
        let graph = Rc::new(FlameGraph {
            widget,
            area,
            roots: RefCell::new(Vec::new()),
            weight: RefCell::new(Weight::Metric(memprof_capture::Metric::Bytes)),
            zoom: RefCell::new(Vec::new()),
            rects: RefCell::new(Vec::new()),
        });
        let weak = Rc::downgrade(&graph);
        graph.area.set_draw_func(move |_, cr, w, h| {
            if let Some(g) = weak.upgrade() {
                g.draw(cr, f64::from(w), f64::from(h));
            }
        });
        let click = gtk::GestureClick::new();
        let weak = Rc::downgrade(&graph);
        click.connect_released(move |_, _, x, y| {
            if let Some(g) = weak.upgrade() {
                g.click(x, y);
            }
        });
        graph.area.add_controller(click);
        let weak = Rc::downgrade(&graph);
        graph
            .area
            .connect_query_tooltip(move |area, x, y, _, tooltip| {
                let Some(g) = weak.upgrade() else {
                    return false;
                };
                match g.tooltip(f64::from(x), f64::from(y), f64::from(area.width())) {
                    Some(text) => {
                        tooltip.set_text(Some(&text));
                        true
                    }
                    None => false,
                }
            });
        graph
    }

    /// Shows the top-down `roots`, bars as wide as `weight`; keeps the zoom if the zoomed
    /// bar is still there.
    pub fn show(&self, roots: Vec<Rc<Row>>, weight: Weight) {
        *self.roots.borrow_mut() = roots;
        *self.weight.borrow_mut() = weight;
        self.relayout();
    }

    /// Zooms on the bar at `path` (empty: the whole graph).
    pub fn zoom_to(&self, path: Vec<String>) {
        *self.zoom.borrow_mut() = path;
        self.relayout();
    }

    pub fn zoom(&self) -> Vec<String> {
        self.zoom.borrow().clone()
    }

    /// The bars as laid out.
    pub fn rects(&self) -> Vec<Rect> {
        self.rects.borrow().clone()
    }

    fn relayout(&self) {
        let rects = flame::layout(
            &self.roots.borrow(),
            *self.weight.borrow(),
            &self.zoom.borrow(),
        );
        let levels = flame::depth(&rects);
        *self.rects.borrow_mut() = rects;
        self.area
            .set_content_height(((levels as f64 + 1.0) * LEVEL) as i32);
        self.area.queue_draw();
    }

    fn at(&self, x: f64, y: f64, width: f64) -> Option<Rect> {
        let depth = (y / LEVEL).floor();
        if depth < 0.0 || width <= 0.0 {
            return None;
        }
        flame::hit(&self.rects.borrow(), x / width, depth as usize).cloned()
    }

    fn click(&self, x: f64, y: f64) {
        let width = f64::from(self.area.width());
        match self.at(x, y, width) {
            Some(r) => self.zoom_to(r.path),
            None => self.zoom_to(Vec::new()),
        }
    }

    fn tooltip(&self, x: f64, y: f64, width: f64) -> Option<String> {
        let r = self.at(x, y, width)?;
        Some(describe(&r.row, *self.weight.borrow()))
    }

    fn draw(&self, cr: &cairo::Context, width: f64, _height: f64) {
        cr.set_source_rgb(1.0, 1.0, 1.0);
        let _ = cr.paint();
        cr.select_font_face("Sans", cairo::FontSlant::Normal, cairo::FontWeight::Normal);
        cr.set_font_size(11.0);
        let weight = *self.weight.borrow();
        for r in self.rects.borrow().iter() {
            let (x, w) = (r.x * width, r.width * width);
            if w < 0.5 {
                continue;
            }
            let y = r.depth as f64 * LEVEL;
            let (red, green, blue) = colour(&r.row, weight, r.ancestor);
            cr.set_source_rgb(red, green, blue);
            cr.rectangle(x + 0.5, y + 0.5, (w - 1.0).max(0.5), LEVEL - 1.0);
            let _ = cr.fill();
            if w > 30.0 {
                cr.save().ok();
                cr.rectangle(x, y, w - 3.0, LEVEL);
                cr.clip();
                cr.set_source_rgb(0.1, 0.1, 0.1);
                cr.move_to(x + 4.0, y + LEVEL - 6.0);
                let _ = cr.show_text(&r.row.name);
                cr.restore().ok();
            }
        }
    }
}

/// The tooltip text of a bar.
pub fn describe(row: &Row, weight: Weight) -> String {
    let mut text = format!("{}\n", row.name);
    if !row.location.is_empty() {
        text += &format!("{}\n", row.location);
    }
    let figure = |c: Column, title: &str| format!("{title}: {}", cell_text(c, row));
    let lines: Vec<String> = match weight {
        Weight::Change => vec![
            figure(Column::Change, "Change"),
            figure(Column::Before, "Live before"),
            figure(Column::After, "Live after"),
            figure(Column::NewLive, "New, still live"),
        ],
        Weight::Metric(_) => vec![
            figure(Column::Allocations, "Allocations"),
            figure(Column::Bytes, "Bytes"),
            figure(Column::Peak, "Peak"),
            figure(Column::Leaked, "Leaked"),
            figure(Column::Temporary, "Temporary"),
        ],
    };
    text + &lines.join("\n")
}

/// A bar's colour: warm shades varied by name; in compare mode red for growth and blue for
/// shrinkage, deeper the more of the bar's change went that way.
fn colour(row: &Row, weight: Weight, ancestor: bool) -> (f64, f64, f64) {
    if ancestor {
        return (0.8, 0.8, 0.8);
    }
    if weight == Weight::Change {
        let c = row.change.unwrap_or_default();
        let share = if c.magnitude == 0 {
            0.0
        } else {
            (c.delta() as f64 / c.magnitude as f64).clamp(-1.0, 1.0)
        };
        let s = 0.25 + 0.55 * share.abs();
        return if share >= 0.0 {
            (1.0, 1.0 - s, 1.0 - s)
        } else {
            (1.0 - s, 1.0 - s * 0.6, 1.0)
        };
    }
    let hash = row
        .name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let v = f64::from(hash % 1000) / 1000.0;
    (0.93 + 0.07 * v, 0.45 + 0.35 * v, 0.15 + 0.15 * (1.0 - v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::Change;
    use memprof_capture::{Figures, Metric};

    #[test]
    fn the_tooltip_gives_the_figures_of_the_weight() {
        let row = Row {
            name: "parse".into(),
            location: "parse.c:12".into(),
            figures: Figures {
                allocations: 1500,
                bytes: 2_000_000,
                ..Figures::default()
            },
            change: Some(Change {
                before: 1000,
                after: 500,
                new_live: 0,
                magnitude: 500,
            }),
            children: Vec::new(),
        };
        let text = describe(&row, Weight::Metric(Metric::Bytes));
        assert!(text.starts_with("parse\nparse.c:12\nAllocations: 1,500\nBytes: 2.0 MB\n"));
        let text = describe(&row, Weight::Change);
        assert!(text.contains("Change: -500 B\nLive before: 1.0 kB\nLive after: 500 B"));
        // Shrinking is drawn blue.
        let (r, _, b) = colour(&row, Weight::Change, false);
        assert!(b > r);
    }
}
