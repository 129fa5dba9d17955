//! The rows of the call graph view: a tree (top-down, bottom-up) or a flat list (functions,
//! callers, callees) of functions with their figures, sortable by any column and filtered
//! by a search text.

use std::cmp::Ordering;
use std::rc::Rc;

use memprof_capture::{
    neighbours, CallTree, DiffRow, Figures, FunctionFigures, Line, Metric, Resolver, Site,
    TreeNodeId,
};

/// How a heap changed under one row, in compare mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Live bytes before and after.
    pub before: u64,
    pub after: u64,
    /// Allocations made between the two moments and still live at the second.
    pub new_live: u64,
    /// The sum of the size of each stack's change, grown or shrunk: what the flame graph
    /// gives the row's width, as growth and shrinkage under one function do not cancel.
    pub magnitude: u64,
}

impl Change {
    pub fn delta(&self) -> i128 {
        i128::from(self.after) - i128::from(self.before)
    }

    fn add(&mut self, o: &Change) {
        self.before += o.before;
        self.after += o.after;
        self.new_live += o.new_live;
        self.magnitude += o.magnitude;
    }
}

/// One row: a function reached along one path (trees) or a function (lists).
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub name: String,
    /// Source file and line, or module, of the first stack seen through it.
    pub location: String,
    pub figures: Figures,
    /// In compare mode, the change of the heap under it.
    pub change: Option<Change>,
    pub children: Vec<Rc<Row>>,
}

/// A column of the view, and the order it sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Function,
    Allocations,
    Bytes,
    Peak,
    Leaked,
    Temporary,
    Before,
    After,
    Change,
    NewLive,
}

impl Column {
    /// The figure of `row` this column shows (0 for the function name).
    pub fn value(self, row: &Row) -> i128 {
        let f = &row.figures;
        let c = row.change.unwrap_or_default();
        match self {
            Column::Function => 0,
            Column::Allocations => f.allocations.into(),
            Column::Bytes => f.bytes.into(),
            Column::Peak => f.peak_bytes.into(),
            Column::Leaked => f.leaked_bytes.into(),
            Column::Temporary => f.temporary.into(),
            Column::Before => c.before.into(),
            Column::After => c.after.into(),
            Column::Change => c.delta(),
            Column::NewLive => c.new_live.into(),
        }
    }

    /// Orders rows the way the column sorts ascending: names alphabetically, figures from
    /// small to large (changes by their size, whichever way they went).
    pub fn compare(self, a: &Row, b: &Row) -> Ordering {
        self.compare_figure(a, b).then_with(|| a.name.cmp(&b.name))
    }

    fn compare_figure(self, a: &Row, b: &Row) -> Ordering {
        match self {
            Column::Function => a.name.cmp(&b.name),
            Column::Change => self.value(a).abs().cmp(&self.value(b).abs()),
            _ => self.value(a).cmp(&self.value(b)),
        }
    }
}

/// The column of a metric.
pub fn metric_column(metric: Metric) -> Column {
    match metric {
        Metric::Allocations => Column::Allocations,
        Metric::Bytes => Column::Bytes,
        Metric::Peak => Column::Peak,
        Metric::Leaked => Column::Leaked,
        Metric::Temporary => Column::Temporary,
    }
}

fn location(line: Option<&Line>) -> String {
    let Some(line) = line else {
        return String::new();
    };
    let short = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    match (&line.file, line.line, &line.module) {
        (Some(file), Some(n), _) => format!("{}:{n}", short(file)),
        (Some(file), None, _) => short(file),
        (None, _, Some(module)) => short(module),
        _ => String::new(),
    }
}

/// The rows of a call tree under its root, each with its children.
pub fn tree_rows(tree: &CallTree) -> Vec<Rc<Row>> {
    fn build(tree: &CallTree, id: TreeNodeId) -> Rc<Row> {
        let node = tree.node(id);
        Rc::new(Row {
            name: node.function.clone(),
            location: location(node.line.as_ref()),
            figures: node.total,
            change: None,
            children: node.children.iter().map(|&c| build(tree, c)).collect(),
        })
    }
    let root = tree.node(CallTree::ROOT);
    root.children.iter().map(|&c| build(tree, c)).collect()
}

/// The flat list of functions, with what they and their callees allocated.
pub fn function_rows(functions: &[FunctionFigures]) -> Vec<Rc<Row>> {
    functions
        .iter()
        .map(|f| {
            Rc::new(Row {
                name: f.function.clone(),
                figures: f.total,
                ..Row::default()
            })
        })
        .collect()
}

/// The callers (or callees) of `function`, each with the figures of the stacks through it.
pub fn neighbour_rows(
    sites: &[Site],
    resolver: &Resolver,
    function: &str,
    callers: bool,
) -> Vec<Rc<Row>> {
    neighbours(sites, resolver, function, callers)
        .into_iter()
        .map(|(name, figures)| {
            Rc::new(Row {
                name,
                figures,
                ..Row::default()
            })
        })
        .collect()
}

/// The rows of a heap difference as a call tree from the outermost caller down (`top_down`)
/// or from the allocating functions up.
pub fn change_rows(diff: &[DiffRow], top_down: bool) -> Vec<Rc<Row>> {
    /// A tree under construction.
    #[derive(Default)]
    struct Node {
        row: Row,
        children: Vec<Node>,
    }
    let mut root = Node::default();
    for d in diff {
        let change = Change {
            before: d.live_bytes[0],
            after: d.live_bytes[1],
            new_live: d.new_live_bytes,
            magnitude: u64::try_from(d.delta().unsigned_abs()).unwrap_or(u64::MAX),
        };
        let mut at = &mut root;
        let frames: Vec<&Line> = if top_down {
            d.frames.iter().rev().collect()
        } else {
            d.frames.iter().collect()
        };
        for line in frames {
            let key = line.function_key();
            let i = match at.children.iter().position(|c| c.row.name == key) {
                Some(i) => i,
                None => {
                    at.children.push(Node {
                        row: Row {
                            name: key,
                            location: location(Some(line)),
                            change: Some(Change::default()),
                            ..Row::default()
                        },
                        children: Vec::new(),
                    });
                    at.children.len() - 1
                }
            };
            at = &mut at.children[i];
            at.row
                .change
                .get_or_insert_with(Change::default)
                .add(&change);
        }
    }
    fn finish(node: Node) -> Rc<Row> {
        let mut row = node.row;
        row.children = node.children.into_iter().map(finish).collect();
        Rc::new(row)
    }
    root.children.into_iter().map(finish).collect()
}

/// The rows (and, in trees, their descendants) whose function contains `needle` (ignoring
/// case), with the rows on the path to them; all rows when `needle` is empty.
pub fn filter(rows: &[Rc<Row>], needle: &str) -> Vec<Rc<Row>> {
    if needle.is_empty() {
        return rows.to_vec();
    }
    let needle = needle.to_lowercase();
    fn keep(row: &Rc<Row>, needle: &str) -> Option<Rc<Row>> {
        if row.name.to_lowercase().contains(needle) {
            return Some(row.clone());
        }
        let children: Vec<Rc<Row>> = row
            .children
            .iter()
            .filter_map(|c| keep(c, needle))
            .collect();
        (!children.is_empty()).then(|| {
            Rc::new(Row {
                children,
                ..(**row).clone()
            })
        })
    }
    rows.iter().filter_map(|r| keep(r, &needle)).collect()
}

/// Sorts `rows` by `column`, largest first unless `ascending`; ties by name, A to Z (the
/// order of `memprof report`).
pub fn sort(rows: &mut [Rc<Row>], column: Column, ascending: bool) {
    rows.sort_by(|a, b| {
        let o = column.compare_figure(a, b);
        let o = if ascending { o } else { o.reverse() };
        o.then_with(|| a.name.cmp(&b.name))
    });
}
