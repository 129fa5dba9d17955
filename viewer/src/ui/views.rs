//! The window's widgets, laid out: the header bar with its controls, the timeline, and the
//! stack of views beneath it.

use std::rc::Rc;

use gtk::prelude::*;

use crate::model::content::{METRICS, SHAPES};
use crate::ui::callgraph::CallGraph;
use crate::ui::flame::FlameGraph;
use crate::ui::histogram::Histogram;
use crate::ui::summary::SummaryView;
use crate::ui::timeline::{Timeline, ROW};

/// The widgets the window keeps.
pub struct Parts {
    pub header: gtk::HeaderBar,
    pub content: gtk::Box,
    pub stack: gtk::Stack,
    pub timeline: Rc<Timeline>,
    pub callgraph: Rc<CallGraph>,
    pub flame: Rc<FlameGraph>,
    pub summary: SummaryView,
    pub histogram: Rc<Histogram>,
    pub shape: gtk::DropDown,
    pub metric: gtk::DropDown,
    pub compare: gtk::ToggleButton,
    pub open: gtk::Button,
    pub baseline: gtk::Button,
    pub whole: gtk::Button,
    pub progress: gtk::ProgressBar,
    pub error: gtk::Label,
    pub status: gtk::Label,
}

fn dropdown(names: &[&str], tooltip: &str) -> gtk::DropDown {
    let d = gtk::DropDown::from_strings(names);
    d.set_tooltip_text(Some(tooltip));
    d
}

pub fn build() -> Parts {
    let header = gtk::HeaderBar::new();
    let open = gtk::Button::with_label("Open…");
    open.set_tooltip_text(Some("Open a capture, or a program to record"));
    let baseline = gtk::Button::with_label("Baseline…");
    baseline.set_tooltip_text(Some("Open another capture of the program to compare with"));
    header.pack_start(&open);
    header.pack_start(&baseline);
    let shape = dropdown(
        &SHAPES.iter().map(|s| s.0).collect::<Vec<_>>(),
        "How the call graph lists functions",
    );
    let metric = dropdown(
        &METRICS.iter().map(|m| m.0).collect::<Vec<_>>(),
        "The figure of the percentages and the flame graph's widths",
    );
    let compare = gtk::ToggleButton::with_label("Compare");
    compare.set_tooltip_text(Some(
        "The heap difference between the two ends of the selection, or against the baseline",
    ));
    let whole = gtk::Button::with_label("Whole capture");
    whole.set_tooltip_text(Some("Clear the selection"));
    header.pack_end(&compare);
    header.pack_end(&metric);
    header.pack_end(&shape);
    header.pack_end(&whole);

    let stack = gtk::Stack::new();
    let summary = SummaryView::new();
    let callgraph = CallGraph::new();
    let flame = FlameGraph::new();
    let histogram = Histogram::new();
    stack.add_titled(&summary.widget, Some("summary"), "Summary");
    stack.add_titled(&callgraph.widget, Some("callgraph"), "Call graph");
    stack.add_titled(&flame.widget, Some("flame"), "Flame graph");
    stack.add_titled(&histogram.widget, Some("sizes"), "Sizes");
    stack.set_visible_child_name("callgraph");
    let switcher = gtk::StackSwitcher::new();
    switcher.set_stack(Some(&stack));
    header.set_title_widget(Some(&switcher));

    let timeline = Timeline::new();
    let timeline_scroll = gtk::ScrolledWindow::builder()
        .child(&timeline.area)
        .hscrollbar_policy(gtk::PolicyType::Never)
        .min_content_height((ROW * 6.0) as i32)
        .build();
    let paned = gtk::Paned::new(gtk::Orientation::Vertical);
    paned.set_start_child(Some(&timeline_scroll));
    paned.set_end_child(Some(&stack));
    paned.set_resize_start_child(false);
    paned.set_shrink_start_child(false);
    paned.set_vexpand(true);

    let progress = gtk::ProgressBar::new();
    progress.set_visible(false);
    let error = gtk::Label::new(None);
    error.add_css_class("error");
    error.set_wrap(true);
    error.set_xalign(0.0);
    error.set_margin_start(12);
    error.set_margin_top(6);
    error.set_margin_bottom(6);
    error.set_visible(false);
    let status = gtk::Label::new(Some("Open a capture (Ctrl+O), or drop one here"));
    status.set_xalign(0.0);
    status.add_css_class("dim-label");
    status.set_margin_start(12);
    status.set_margin_top(4);
    status.set_margin_bottom(4);
    status.set_ellipsize(gtk::pango::EllipsizeMode::End);

    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&progress);
    content.append(&error);
    content.append(&paned);
    content.append(&status);
    Parts {
        header,
        content,
        stack,
        timeline,
        callgraph,
        flame,
        summary,
        histogram,
        shape,
        metric,
        compare,
        open,
        baseline,
        whole,
        progress,
        error,
        status,
    }
}
