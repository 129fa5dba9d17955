//! Call trees and functions: the figures of the sites gathered by function along their stacks.
//!
//! Frames are gathered by [`Line::function_key`], so that a function's calls from different
//! lines, and unresolved frames of one module offset, share a node. A site's figures count
//! once in every node on its path; a function that appears twice in one stack (recursion)
//! counts that stack once in the flat list and among callers and callees.

use rustc_hash::FxHashMap as HashMap;

use crate::{Figures, Line, Metric, Resolver, Site};

/// Which way a call tree runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the outermost caller (`main`, `_start`) down to the allocating functions.
    TopDown,
    /// From the allocating functions up to their callers.
    BottomUp,
}

/// Index of a node in its [`CallTree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeNodeId(pub usize);

/// A node: one function reached along one path.
#[derive(Clone, Debug)]
pub struct TreeNode {
    /// The function (see [`Line::function_key`]); empty for the root.
    pub function: String,
    /// A line of the first stack seen through this node, for its file and module.
    pub line: Option<Line>,
    pub parent: Option<TreeNodeId>,
    pub children: Vec<TreeNodeId>,
    /// The sites whose path runs through this node.
    pub total: Figures,
    /// The sites whose innermost frame this node is: its function called the allocator
    /// itself (the last node of a path top-down, the first bottom-up).
    pub own: Figures,
}

/// The sites of an analysis as a tree of calls.
#[derive(Clone, Debug)]
pub struct CallTree {
    nodes: Vec<TreeNode>,
}

impl CallTree {
    pub const ROOT: TreeNodeId = TreeNodeId(0);

    /// Builds the tree of `sites` with their stacks resolved by `resolver`.
    pub fn build(sites: &[Site], resolver: &Resolver, direction: Direction) -> CallTree {
        let mut tree = CallTree {
            nodes: vec![TreeNode {
                function: String::new(),
                line: None,
                parent: None,
                children: Vec::new(),
                total: Figures::default(),
                own: Figures::default(),
            }],
        };
        let mut index: HashMap<(TreeNodeId, String), TreeNodeId> = HashMap::default();
        for site in sites {
            let mut lines = resolver.lines(site.stack, usize::MAX);
            if direction == Direction::TopDown {
                lines.reverse();
            }
            let mut at = Self::ROOT;
            let mut innermost = Self::ROOT;
            tree.nodes[0].total.add(&site.figures);
            for (depth, line) in lines.into_iter().enumerate() {
                let key = (at, line.function_key());
                at = match index.get(&key) {
                    Some(&child) => child,
                    None => {
                        let child = TreeNodeId(tree.nodes.len());
                        tree.nodes.push(TreeNode {
                            function: key.1.clone(),
                            line: Some(line),
                            parent: Some(at),
                            children: Vec::new(),
                            total: Figures::default(),
                            own: Figures::default(),
                        });
                        tree.nodes[at.0].children.push(child);
                        index.insert(key, child);
                        child
                    }
                };
                tree.nodes[at.0].total.add(&site.figures);
                if depth == 0 || direction == Direction::TopDown {
                    innermost = at;
                }
            }
            tree.nodes[innermost.0].own.add(&site.figures);
        }
        tree
    }

    pub fn node(&self, id: TreeNodeId) -> &TreeNode {
        &self.nodes[id.0]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a tree has its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The children of `id` with a non-zero `metric`, largest first (ties by name).
    pub fn ranked_children(&self, id: TreeNodeId, metric: Metric) -> Vec<TreeNodeId> {
        let mut v: Vec<TreeNodeId> = self.nodes[id.0]
            .children
            .iter()
            .copied()
            .filter(|c| self.nodes[c.0].total.value(metric) > 0)
            .collect();
        v.sort_by(|a, b| {
            let (a, b) = (&self.nodes[a.0], &self.nodes[b.0]);
            b.total
                .value(metric)
                .cmp(&a.total.value(metric))
                .then_with(|| a.function.cmp(&b.function))
        });
        v
    }
}

/// One function of the flat list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FunctionFigures {
    pub function: String,
    /// The sites whose stack holds the function anywhere.
    pub total: Figures,
    /// The sites whose innermost frame is the function: it called the allocator itself.
    pub own: Figures,
}

/// Every function of the sites' stacks, in no particular order.
pub fn functions(sites: &[Site], resolver: &Resolver) -> Vec<FunctionFigures> {
    let mut by_name: HashMap<String, FunctionFigures> = HashMap::default();
    for site in sites {
        let keys = keys(resolver, site);
        for (i, key) in keys.iter().enumerate() {
            let f = by_name
                .entry(key.clone())
                .or_insert_with(|| FunctionFigures {
                    function: key.clone(),
                    total: Figures::default(),
                    own: Figures::default(),
                });
            if i == 0 {
                f.own.add(&site.figures);
            }
            // Once per stack, at its innermost appearance.
            if !keys[..i].contains(key) {
                f.total.add(&site.figures);
            }
        }
    }
    by_name.into_values().collect()
}

/// The functions that call `function` (`callers`) or that it calls (`callees`), each with the
/// figures of the stacks that go through the pair, in no particular order.
pub fn neighbours(
    sites: &[Site],
    resolver: &Resolver,
    function: &str,
    callers: bool,
) -> Vec<(String, Figures)> {
    let mut by_name: HashMap<String, Figures> = HashMap::default();
    for site in sites {
        let keys = keys(resolver, site);
        let mut seen: Vec<&String> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if key != function {
                continue;
            }
            // Stacks run innermost first: the caller is the next frame, the callee the last.
            let other = if callers {
                keys.get(i + 1)
            } else {
                i.checked_sub(1).map(|j| &keys[j])
            };
            if let Some(other) = other.filter(|o| !seen.contains(o)) {
                seen.push(other);
                by_name.entry(other.clone()).or_default().add(&site.figures);
            }
        }
    }
    by_name.into_iter().collect()
}

/// The function keys of a site's stack, innermost first.
fn keys(resolver: &Resolver, site: &Site) -> Vec<String> {
    resolver
        .lines(site.stack, usize::MAX)
        .iter()
        .map(Line::function_key)
        .collect()
}
