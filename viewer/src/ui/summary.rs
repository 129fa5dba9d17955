//! The summary view: the lines of [`crate::model::summary`] in a grid.

use gtk::prelude::*;

use crate::model::summary::Line;

#[derive(Debug)]
pub struct SummaryView {
    pub widget: gtk::ScrolledWindow,
    grid: gtk::Grid,
}

impl Default for SummaryView {
    fn default() -> SummaryView {
        SummaryView::new()
    }
}

impl SummaryView {
    pub fn new() -> SummaryView {
        let grid = gtk::Grid::builder()
            .row_spacing(6)
            .column_spacing(24)
            .margin_top(18)
            .margin_start(24)
            .margin_end(24)
            .margin_bottom(18)
            .build();
        let widget = gtk::ScrolledWindow::builder()
            .child(&grid)
            .vexpand(true)
            .build();
        SummaryView { widget, grid }
    }

    pub fn show(&self, lines: &[Line]) {
        while let Some(child) = self.grid.first_child() {
            self.grid.remove(&child);
        }
        for (i, line) in lines.iter().enumerate() {
            let row = i as i32;
            match line {
                Line::Heading(text) => {
                    let label = gtk::Label::new(Some(text));
                    label.add_css_class("title-4");
                    label.set_xalign(0.0);
                    label.set_margin_top(if i == 0 { 0 } else { 12 });
                    self.grid.attach(&label, 0, row, 2, 1);
                }
                Line::Figure(name, value) => {
                    let n = gtk::Label::new(Some(name));
                    n.set_xalign(0.0);
                    n.add_css_class("dim-label");
                    let v = gtk::Label::new(Some(value));
                    v.set_xalign(0.0);
                    v.set_selectable(true);
                    self.grid.attach(&n, 0, row, 1, 1);
                    self.grid.attach(&v, 1, row, 1, 1);
                }
            }
        }
    }

    /// The texts shown, row by row (for tests).
    pub fn texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut child = self.grid.first_child();
        while let Some(c) = child {
            if let Some(l) = c.downcast_ref::<gtk::Label>() {
                out.push(l.text().to_string());
            }
            child = c.next_sibling();
        }
        out
    }
}
