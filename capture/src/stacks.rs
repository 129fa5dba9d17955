//! The stack trie written by the recorder: each node is one return address under its parent.

use std::collections::HashMap;

use memprof_format::StackRef;

use crate::Capture;

/// Id of a trie node; its stack is its own return address followed by its parent's stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl NodeId {
    /// The empty stack.
    pub const ROOT: NodeId = NodeId(0);
}

/// Every stack of a capture.
#[derive(Default)]
pub struct Stacks {
    nodes: HashMap<NodeId, (NodeId, u64)>,
}

impl Stacks {
    /// Reads every stack node of `capture`.
    pub fn read(capture: &Capture) -> Stacks {
        capture.stacks_and_modules().0
    }

    pub(crate) fn insert(&mut self, id: u64, parent: u64, ip: u64) {
        self.nodes.insert(NodeId(id), (NodeId(parent), ip));
    }

    /// Every distinct return address of every stack.
    pub fn addresses(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.nodes.values().map(|&(_, ip)| ip).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Number of trie nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The return addresses of `stack`, innermost first. A node the capture does not define
    /// (a recording cut short at the wrong moment) ends the stack.
    pub fn frames(&self, stack: StackRef) -> impl Iterator<Item = u64> + '_ {
        let mut node = NodeId(stack.node);
        let mut left = self.nodes.len() + 1;
        std::iter::from_fn(move || {
            let &(parent, ip) = self.nodes.get(&node)?;
            left = left.checked_sub(1)?; // a cycle can only come from a corrupt file
            node = parent;
            Some(ip)
        })
    }
}
