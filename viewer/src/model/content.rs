//! What the call graph and the flame graph show for the current analysis or comparison.

use std::rc::Rc;

use memprof_capture::{HeapDiff, Metric};

use super::document::{Document, Report};
use super::flame::Weight;
use super::rows::{self, metric_column, Column, Row};
use super::units;

/// How the call graph lists the functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    TopDown,
    BottomUp,
    Functions,
    Callers,
    Callees,
}

/// The shapes as the drop-down lists them.
pub const SHAPES: [(&str, Shape); 5] = [
    ("Top-down", Shape::TopDown),
    ("Bottom-up", Shape::BottomUp),
    ("Functions", Shape::Functions),
    ("Callers", Shape::Callers),
    ("Callees", Shape::Callees),
];

/// The metrics as the drop-down lists them.
pub const METRICS: [(&str, Metric); 5] = [
    ("Bytes", Metric::Bytes),
    ("Allocations", Metric::Allocations),
    ("Peak", Metric::Peak),
    ("Leaked", Metric::Leaked),
    ("Temporary", Metric::Temporary),
];

/// The call graph's rows, the column its percentages are shares of, and that column's total.
/// `focus` is the function whose callers or callees are listed.
pub fn callgraph_rows(
    document: &Document,
    report: &Report,
    diff: Option<&HeapDiff>,
    shape: Shape,
    metric: Metric,
    focus: Option<&str>,
) -> (Vec<Rc<Row>>, Column, i128) {
    if let Some(diff) = diff {
        let rows = rows::change_rows(&diff.rows, shape != Shape::BottomUp);
        let total: i128 = diff.rows.iter().map(|r| r.delta().abs()).sum();
        return (rows, Column::Change, total);
    }
    let column = metric_column(metric);
    let root = report.top_down.node(memprof_capture::CallTree::ROOT).total;
    let total = i128::from(root.value(metric));
    let rows = match (shape, focus) {
        (Shape::TopDown, _) => rows::tree_rows(&report.top_down),
        (Shape::BottomUp, _) => rows::tree_rows(&report.bottom_up),
        (Shape::Functions, _) | (Shape::Callers | Shape::Callees, None) => {
            rows::function_rows(&report.functions)
        }
        (Shape::Callers | Shape::Callees, Some(f)) => rows::neighbour_rows(
            &report.sites,
            &document.resolved.resolver(),
            f,
            shape == Shape::Callers,
        ),
    };
    (rows, column, total)
}

/// The flame graph's top-down rows and what gives them their width.
pub fn flame_rows(
    report: &Report,
    diff: Option<&HeapDiff>,
    metric: Metric,
) -> (Vec<Rc<Row>>, Weight) {
    match diff {
        Some(d) => (rows::change_rows(&d.rows, true), Weight::Change),
        None => (rows::tree_rows(&report.top_down), Weight::Metric(metric)),
    }
}

/// The status line: what is shown.
pub fn status(
    selection: Option<(u64, u64)>,
    baseline: Option<&Document>,
    document: &Document,
    compare: bool,
) -> String {
    let range = match selection {
        Some((a, b)) => format!("{} – {}", units::time(a), units::time(b)),
        None => "the whole capture".to_string(),
    };
    match (compare, baseline) {
        (true, Some(b)) => format!(
            "Comparing with the baseline {}: the heap at the end of this run minus at the end of that one",
            b.capture.path().display()
        ),
        (true, None) => format!("Comparing the heap at the two ends of {range}"),
        (false, _) => format!(
            "{} · {range} · drag on the timeline to select a range, scroll to zoom, Shift+scroll to pan",
            document.program()
        ),
    }
}
