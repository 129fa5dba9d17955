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

use crate::modules::Modules;

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

#[derive(Default)]
pub(crate) struct Names {
    nodes: FxHashMap<u64, (u64, u64)>,
    modules: Modules,
    symbolizer: Symbolizer,
    addresses: FxHashMap<u64, Arc<[FuncId]>>,
    stacks: FxHashMap<u64, Arc<StackFunctions>>,
    names: Vec<String>,
    /// Per function: part of the allocator, a language runtime or a standard library.
    runtime: Vec<bool>,
    ids: FxHashMap<String, FuncId>,
}

impl Names {
    pub fn stack_node(&mut self, id: u64, parent: u64, ip: u64) {
        self.nodes.insert(id, (parent, ip));
    }

    pub fn module_load(&mut self, path: &[u8], build_id: &[u8], base: u64, size: u64) {
        self.modules.load(path, build_id, base, size);
    }

    pub fn module_unload(&mut self, base: u64) {
        // Stacks already resolved keep their names.
        self.modules.unload(base);
    }

    pub fn name(&self, id: FuncId) -> &str {
        &self.names[id.0 as usize]
    }

    fn intern(&mut self, key: String, runtime: bool) -> FuncId {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = FuncId(self.names.len() as u32);
        self.names.push(key.clone());
        self.runtime.push(runtime);
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
                    all.push(self.intern(key, false));
                }
            }
            at = parent;
        }
        // The program's function that asked for the memory, past the allocator and the
        // library code it went through (`operator new`, `Vec::push`, `strdup`).
        let own = match all
            .iter()
            .find(|f| !self.runtime[f.0 as usize])
            .or(all.first())
        {
            Some(&f) => f,
            None => self.intern("[unknown]".into(), false),
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
        let (m, vaddr) = self.modules.holding(ip)?;
        let (path, build_id, offset) = (m.path.clone(), m.build_id.clone(), ip - m.base);
        let system = system_library(&path);
        let frames = self
            .symbolizer
            .resolve(&path, &build_id, vaddr)
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
            .map(|l| {
                let key = l.function_key();
                let runtime = system || runtime_function(&key);
                self.intern(key, runtime)
            })
            .collect();
        self.addresses.insert(ip, ids.clone());
        Some(ids)
    }
}

/// The C and C++ runtime libraries and the dynamic loader, by file name.
fn system_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    [
        "libc.so",
        "libc-",
        "libstdc++.so",
        "libc++.so",
        "libc++abi.so",
        "libgcc_s.so",
        "libm.so",
        "libpthread.so",
        "libdl.so",
        "ld-linux",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Functions of the allocator and of the Rust and C++ standard libraries, which stand between
/// the program's code and `malloc`.
fn runtime_function(name: &str) -> bool {
    const PREFIXES: [&str; 13] = [
        "operator new",
        "operator delete",
        "std::",
        "__gnu_cxx::",
        "alloc::",
        "core::",
        "<alloc::",
        "<core::",
        "<std::",
        "__rust_",
        "__rdl_",
        "__rg_",
        "hashbrown::",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || matches!(name, "malloc" | "calloc" | "realloc" | "free")
        || std_trait_impl(name)
}

/// `<T as Trait>::method` where `T` is a primitive or standard type (`<u8 as
/// alloc::vec::spec_from_elem::SpecFromElem>::from_elem`), not the program's own.
fn std_trait_impl(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('<') else {
        return false;
    };
    let Some((ty, _)) = inner.split_once(" as ") else {
        return false;
    };
    let ty = ty.trim_start_matches(['&', '*']).trim_start_matches("mut ");
    let ty = ty.trim_start_matches("const ");
    ty.starts_with(['[', '('])
        || ty
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_functions_are_told_from_the_program_s() {
        for name in [
            "operator new(unsigned long)",
            "std::__new_allocator<int>::allocate(unsigned long, void const*)",
            "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>",
            "alloc::raw_vec::RawVecInner<A>::finish_grow",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "__rust_alloc",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "<[T] as alloc::slice::hack::ConvertVec>::to_vec",
            "<&str as alloc::string::ToString>::to_string",
        ] {
            assert!(runtime_function(name), "{name}");
        }
        for name in [
            "main",
            "parse_request",
            "myapp::cache::Cache::insert",
            "<myapp::Node as core::clone::Clone>::clone",
            "Cache::put(std::string const&)",
        ] {
            assert!(!runtime_function(name), "{name}");
        }
        assert!(system_library("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(system_library("/lib64/ld-linux-x86-64.so.2"));
        assert!(system_library("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
        assert!(!system_library(
            "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
        ));
        assert!(!system_library("/home/me/app"));
    }
}
