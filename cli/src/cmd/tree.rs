//! `memprof report --tree`, `--callers` and `--callees`: the call stacks gathered by function.

use std::io::Write;

use memprof_capture::{
    functions, neighbours, CallTree, Direction, Figures, Metric, Resolver, Site, TreeNodeId,
};
use serde_json::{json, Value};

use super::report::{columns, header, metric_name, sizes, value_text};
use crate::cli::TreeKind;

/// The heading of the sizes column, as wide as the column.
const SIZES: &str = "     min / avg / max size";
const SW: usize = SIZES.len();

/// What to show, and how much of it.
pub struct View<'a> {
    pub kind: Shape<'a>,
    pub metric: Metric,
    /// The figure that is 100 %.
    pub total: u64,
    pub ranged: bool,
    /// Tree levels shown.
    pub depth: usize,
    /// Rows shown (children per node, in a tree).
    pub top: usize,
}

/// The shape of the view.
pub enum Shape<'a> {
    Tree(TreeKind),
    Callers(&'a str),
    Callees(&'a str),
}

pub fn write(
    out: &mut impl Write,
    view: &View,
    sites: &[Site],
    resolver: &Resolver,
) -> std::io::Result<()> {
    let by = metric_name(view.metric);
    writeln!(out)?;
    match view.kind {
        Shape::Tree(TreeKind::Functions) => {
            writeln!(
                out,
                "Functions by {by} (with their callees; self: by themselves):"
            )?;
            writeln!(
                out,
                "{}  {:>10}  {SIZES}  function",
                header(view.ranged),
                "self"
            )?;
            for f in ranked_functions(sites, resolver, view) {
                let own = value_text(view.metric, f.own.value(view.metric));
                let row = columns(&f.total, view.metric, view.total);
                let sizes = sizes(&f.total);
                writeln!(out, "{row}  {own:>10}  {sizes:>SW$}  {}", f.function)?;
            }
        }
        Shape::Tree(kind) => {
            let tree = CallTree::build(sites, resolver, direction(kind));
            let name = if kind == TreeKind::TopDown {
                "top-down"
            } else {
                "bottom-up"
            };
            writeln!(out, "Call tree ({name}) by {by}:")?;
            writeln!(out, "{}  {SIZES}  function", header(view.ranged))?;
            write_node(out, &tree, CallTree::ROOT, 0, view)?;
        }
        Shape::Callers(f) | Shape::Callees(f) => {
            let callers = matches!(view.kind, Shape::Callers(_));
            let rows = ranked_neighbours(sites, resolver, f, callers, view);
            let what = if callers {
                "Callers of"
            } else {
                "Functions called by"
            };
            if rows.is_empty() {
                writeln!(out, "{what} {f}: none with any {by}")?;
                return Ok(());
            }
            writeln!(out, "{what} {f} by {by}:")?;
            writeln!(out, "{}  {SIZES}  function", header(view.ranged))?;
            for (name, figures) in rows {
                let row = columns(&figures, view.metric, view.total);
                writeln!(out, "{row}  {:>SW$}  {name}", sizes(&figures))?;
            }
        }
    }
    Ok(())
}

fn write_node(
    out: &mut impl Write,
    tree: &CallTree,
    id: TreeNodeId,
    level: usize,
    view: &View,
) -> std::io::Result<()> {
    if level >= view.depth {
        return Ok(());
    }
    for child in tree
        .ranked_children(id, view.metric)
        .into_iter()
        .take(view.top)
    {
        let node = tree.node(child);
        let row = columns(&node.total, view.metric, view.total);
        let sizes = sizes(&node.total);
        let indent = level * 2;
        writeln!(out, "{row}  {sizes:>SW$}  {:indent$}{}", "", node.function)?;
        write_node(out, tree, child, level + 1, view)?;
    }
    Ok(())
}

/// The same view as JSON: `tree` (nested nodes), `functions`, `callers` or `callees`.
pub fn json(view: &View, sites: &[Site], resolver: &Resolver) -> (&'static str, Value) {
    match view.kind {
        Shape::Tree(TreeKind::Functions) => {
            let rows = ranked_functions(sites, resolver, view);
            ("functions", json!(rows))
        }
        Shape::Tree(kind) => {
            let tree = CallTree::build(sites, resolver, direction(kind));
            ("tree", node_json(&tree, CallTree::ROOT, 0, view))
        }
        Shape::Callers(f) | Shape::Callees(f) => {
            let callers = matches!(view.kind, Shape::Callers(_));
            let rows: Vec<Value> = ranked_neighbours(sites, resolver, f, callers, view)
                .into_iter()
                .map(|(function, figures)| json!({ "function": function, "total": figures }))
                .collect();
            (if callers { "callers" } else { "callees" }, json!(rows))
        }
    }
}

fn node_json(tree: &CallTree, id: TreeNodeId, level: usize, view: &View) -> Value {
    let children: Vec<Value> = if level < view.depth {
        let ranked = tree.ranked_children(id, view.metric);
        ranked
            .into_iter()
            .take(view.top)
            .map(|c| node_json(tree, c, level + 1, view))
            .collect()
    } else {
        Vec::new()
    };
    let node = tree.node(id);
    json!({
        "function": node.function,
        "file": node.line.as_ref().and_then(|l| l.file.clone()),
        "module": node.line.as_ref().and_then(|l| l.module.clone()),
        "total": node.total,
        "own": node.own,
        "children": children,
    })
}

fn direction(kind: TreeKind) -> Direction {
    match kind {
        TreeKind::BottomUp => Direction::BottomUp,
        _ => Direction::TopDown,
    }
}

fn ranked_functions(
    sites: &[Site],
    resolver: &Resolver,
    view: &View,
) -> Vec<memprof_capture::FunctionFigures> {
    let mut rows = functions(sites, resolver);
    rows.retain(|f| f.total.value(view.metric) > 0);
    rows.sort_by(|a, b| {
        let (va, vb) = (a.total.value(view.metric), b.total.value(view.metric));
        vb.cmp(&va).then_with(|| a.function.cmp(&b.function))
    });
    rows.truncate(view.top);
    rows
}

fn ranked_neighbours(
    sites: &[Site],
    resolver: &Resolver,
    function: &str,
    callers: bool,
    view: &View,
) -> Vec<(String, Figures)> {
    let mut rows = neighbours(sites, resolver, function, callers);
    rows.retain(|(_, f)| f.value(view.metric) > 0);
    rows.sort_by(|a, b| {
        let (va, vb) = (a.1.value(view.metric), b.1.value(view.metric));
        vb.cmp(&va).then_with(|| a.0.cmp(&b.0))
    });
    rows.truncate(view.top);
    rows
}
