//! Call stacks to function names while the program runs, from its modules on disk.
//!
//! The stack trie and the module list arrive as records; each return address is resolved
//! once (DWARF with inlined frames, or the symbol table) and each stack's functions are
//! cached. A stack whose nodes or modules have not all been read yet is resolved again later
//! rather than cached half-known.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use memprof_capture::Line;
use memprof_symbols::Symbolizer;

/// Index of a function name (a [`Line::function_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub u32);

/// The functions of one call stack.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StackFunctions {
    /// The function that called the allocator (innermost, inlined ones included).
    pub own: FuncId,
    /// Every function on the stack, once each.
    pub all: Vec<FuncId>,
}

struct Module {
    path: String,
    build_id: String,
    base: u64,
    size: u64,
}

#[derive(Default)]
pub(crate) struct Names {
    nodes: FxHashMap<u64, (u64, u64)>,
    modules: Vec<Module>,
    symbolizer: Symbolizer,
    addresses: FxHashMap<u64, Arc<[FuncId]>>,
    stacks: FxHashMap<u64, Arc<StackFunctions>>,
    names: Vec<String>,
    ids: FxHashMap<String, FuncId>,
}

impl Names {
    pub fn stack_node(&mut self, id: u64, parent: u64, ip: u64) {
        self.nodes.insert(id, (parent, ip));
    }

    pub fn module_load(&mut self, path: &[u8], build_id: &[u8], base: u64, size: u64) {
        self.modules.push(Module {
            path: String::from_utf8_lossy(path).into_owned(),
            build_id: build_id.iter().map(|b| format!("{b:02x}")).collect(),
            base,
            size,
        });
    }

    pub fn module_unload(&mut self, base: u64) {
        // Stacks already resolved keep their names; the range may be reused by another.
        if let Some(i) = self.modules.iter().rposition(|m| m.base == base) {
            self.modules.remove(i);
        }
    }

    pub fn name(&self, id: FuncId) -> &str {
        &self.names[id.0 as usize]
    }

    fn intern(&mut self, key: String) -> FuncId {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = FuncId(self.names.len() as u32);
        self.names.push(key.clone());
        self.ids.insert(key, id);
        id
    }

    /// The functions of the stack ending at trie node `node`.
    pub fn stack(&mut self, node: u64) -> Arc<StackFunctions> {
        if let Some(s) = self.stacks.get(&node) {
            return s.clone();
        }
        let mut all: Vec<FuncId> = Vec::new();
        let mut complete = true;
        let mut at = node;
        let mut left = self.nodes.len() + 1;
        while at != 0 && left > 0 {
            left -= 1;
            let Some(&(parent, ip)) = self.nodes.get(&at) else {
                complete = false;
                break;
            };
            match self.address(ip) {
                Some(funcs) => all.extend_from_slice(&funcs),
                None => {
                    complete = false;
                    let key = format!("{ip:#x}");
                    all.push(self.intern(key));
                }
            }
            at = parent;
        }
        let own = match all.first() {
            Some(&f) => f,
            None => self.intern("[unknown]".into()),
        };
        let mut seen = rustc_hash::FxHashSet::default();
        all.retain(|f| seen.insert(*f));
        let s = Arc::new(StackFunctions { own, all });
        if complete {
            self.stacks.insert(node, s.clone());
        }
        s
    }

    /// The functions at return address `ip`, innermost first; `None` while no known module
    /// holds it.
    fn address(&mut self, ip: u64) -> Option<Arc<[FuncId]>> {
        if let Some(f) = self.addresses.get(&ip) {
            return Some(f.clone());
        }
        // The call instruction is before the return address.
        let at = ip.saturating_sub(1);
        let m = self
            .modules
            .iter()
            .rfind(|m| at >= m.base && at - m.base < m.size)?;
        let (path, build_id, offset) = (m.path.clone(), m.build_id.clone(), ip - m.base);
        let frames = self
            .symbolizer
            .resolve(&path, &build_id, at - m.base)
            .unwrap_or_default();
        let lines: Vec<Line> = if frames.is_empty() {
            vec![Line {
                function: None,
                file: None,
                line: None,
                module: Some(path),
                address: ip,
                inlined: false,
                offset: Some(offset),
            }]
        } else {
            frames
                .into_iter()
                .map(|f| Line {
                    function: f.function,
                    file: f.file,
                    line: f.line,
                    module: None,
                    address: ip,
                    inlined: false,
                    offset: None,
                })
                .collect()
        };
        let ids: Arc<[FuncId]> = lines
            .iter()
            .map(|l| self.intern(l.function_key()))
            .collect();
        self.addresses.insert(ip, ids.clone());
        Some(ids)
    }
}
