//! The flame graph's layout: one rectangle per row of a top-down tree, as wide as its share
//! of the weight, its callees stacked on it. Zooming on a row makes it the full width and
//! keeps the path to it above (as full-width bars) so that the way back is visible.

use std::rc::Rc;

use memprof_capture::Metric;

use super::rows::{metric_column, Column, Row};

/// One rectangle, in fractions of the width and in levels from the top.
#[derive(Clone, Debug)]
pub struct Rect {
    pub x: f64,
    pub width: f64,
    pub depth: usize,
    pub row: Rc<Row>,
    /// The path of names from the outermost function to this one.
    pub path: Vec<String>,
    /// An ancestor of the zoomed row, drawn across the whole width.
    pub ancestor: bool,
}

/// What gives a row its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    Metric(Metric),
    /// In compare mode: how much the heap changed under the row, grown or shrunk.
    Change,
}

impl Weight {
    pub fn of(self, row: &Row) -> u64 {
        match self {
            Weight::Metric(m) => u64::try_from(metric_column(m).value(row)).unwrap_or(0),
            Weight::Change => row.change.map_or(0, |c| c.magnitude),
        }
    }
}

/// Rectangles narrower than this (a fraction of the width) are left out: they would be
/// less than a pixel wide on any screen.
const NARROWEST: f64 = 1e-4;

/// Lays out `roots` with `zoom` (a path of names from a root) as the full width.
pub fn layout(roots: &[Rc<Row>], weight: Weight, zoom: &[String]) -> Vec<Rect> {
    let mut out = Vec::new();
    // Walk down the zoom path; each step is an ancestor bar.
    let mut level: Vec<Rc<Row>> = roots.to_vec();
    let mut path = Vec::new();
    let mut depth = 0;
    for name in zoom {
        let Some(row) = level.iter().find(|r| &r.name == name).cloned() else {
            break;
        };
        path.push(name.clone());
        let last = path.len() == zoom.len();
        if !last {
            out.push(Rect {
                x: 0.0,
                width: 1.0,
                depth,
                row: row.clone(),
                path: path.clone(),
                ancestor: true,
            });
            depth += 1;
            level = row.children.clone();
        } else {
            level = vec![row];
        }
    }
    if path.len() < zoom.len() {
        // The zoomed row is gone (another range): show everything.
        out.clear();
        (level, path, depth) = (roots.to_vec(), Vec::new(), 0);
    } else {
        path.pop();
    }
    let total: u64 = level.iter().map(|r| weight.of(r)).sum();
    if total == 0 {
        return out;
    }
    place(&level, weight, total as f64, 0.0, depth, &path, &mut out);
    out
}

fn place(
    rows: &[Rc<Row>],
    weight: Weight,
    total: f64,
    mut x: f64,
    depth: usize,
    path: &[String],
    out: &mut Vec<Rect>,
) {
    let mut sorted: Vec<&Rc<Row>> = rows.iter().collect();
    // Alphabetical, like flame graphs usually are, so that a row keeps its place.
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for row in sorted {
        let width = weight.of(row) as f64 / total;
        if width < NARROWEST {
            continue;
        }
        let mut here = path.to_vec();
        here.push(row.name.clone());
        out.push(Rect {
            x,
            width,
            depth,
            row: row.clone(),
            path: here.clone(),
            ancestor: false,
        });
        place(&row.children, weight, total, x, depth + 1, &here, out);
        x += width;
    }
}

/// The rectangle at `(x, depth)`, `x` a fraction of the width.
pub fn hit(rects: &[Rect], x: f64, depth: usize) -> Option<&Rect> {
    rects
        .iter()
        .find(|r| r.depth == depth && x >= r.x && x < r.x + r.width)
}

/// How deep the layout goes.
pub fn depth(rects: &[Rect]) -> usize {
    rects.iter().map(|r| r.depth + 1).max().unwrap_or(0)
}

/// The value shown for a metric weight, for labels.
pub fn column_of(weight: Weight) -> Column {
    match weight {
        Weight::Metric(m) => metric_column(m),
        Weight::Change => Column::Change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memprof_capture::Figures;

    fn row(name: &str, bytes: u64, children: Vec<Rc<Row>>) -> Rc<Row> {
        Rc::new(Row {
            name: name.into(),
            figures: Figures {
                bytes,
                ..Figures::default()
            },
            children,
            ..Row::default()
        })
    }

    fn tree() -> Vec<Rc<Row>> {
        let b = row("b", 30, vec![]);
        let c = row("c", 10, vec![]);
        vec![row("main", 40, vec![c, b])]
    }

    #[test]
    fn widths_are_shares_and_children_sit_on_their_parent() {
        let rects = layout(&tree(), Weight::Metric(Metric::Bytes), &[]);
        let names: Vec<(&str, usize, f64, f64)> = rects
            .iter()
            .map(|r| (r.row.name.as_str(), r.depth, r.x, r.width))
            .collect();
        assert_eq!(
            names,
            [
                ("main", 0, 0.0, 1.0),
                ("b", 1, 0.0, 0.75),
                ("c", 1, 0.75, 0.25)
            ]
        );
        assert_eq!(hit(&rects, 0.8, 1).unwrap().row.name, "c");
        assert!(hit(&rects, 0.8, 2).is_none());
        assert_eq!(depth(&rects), 2);
    }

    #[test]
    fn zooming_widens_the_row_and_keeps_its_ancestors() {
        let zoom = ["main".to_string(), "c".to_string()];
        let rects = layout(&tree(), Weight::Metric(Metric::Bytes), &zoom);
        assert_eq!(rects.len(), 2);
        assert!(rects[0].ancestor && rects[0].row.name == "main");
        assert_eq!(
            (rects[1].row.name.as_str(), rects[1].depth, rects[1].width),
            ("c", 1, 1.0)
        );
        assert_eq!(rects[1].path, zoom);
        // A path that no longer exists shows everything.
        let gone = layout(&tree(), Weight::Metric(Metric::Bytes), &["x".into()]);
        assert_eq!(gone.len(), 3);
    }
}
