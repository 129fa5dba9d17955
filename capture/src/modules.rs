//! The modules (executable and shared objects) the program had mapped, over time.

use memprof_format::Record;

use crate::{Capture, Stacks};

/// One mapping of a module, from when it was seen loaded to when it was unloaded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Module {
    pub path: String,
    /// Load bias: the module's addresses are `base + ELF virtual address`.
    pub base: u64,
    /// One past the highest ELF virtual address the module maps.
    pub size: u64,
    /// The GNU build-id in hex, empty if the module has none.
    pub build_id: String,
    pub loaded_ns: u64,
    pub unloaded_ns: Option<u64>,
}

impl Module {
    /// True when `ip` lies in this module's address range.
    pub fn contains(&self, ip: u64) -> bool {
        ip >= self.base && ip - self.base < self.size
    }
}

impl Capture {
    /// Every module mapping, in load order.
    pub fn modules(&self) -> Vec<Module> {
        self.stacks_and_modules().1
    }

    /// The stacks and the modules, from one pass over the records (no merge by time is
    /// needed: module records carry their times).
    pub fn stacks_and_modules(&self) -> (Stacks, Vec<Module>) {
        let mut stacks = Stacks::default();
        // (time, load or unload at base)
        let mut changes: Vec<(u64, Option<Module>, u64)> = Vec::new();
        for rec in self.descriptions() {
            match rec {
                Record::StackNode { id, parent, ip } => stacks.insert(id, parent, ip),
                Record::ModuleLoad {
                    time,
                    base,
                    size,
                    build_id,
                    path,
                } => changes.push((
                    time,
                    Some(Module {
                        path: String::from_utf8_lossy(path).into_owned(),
                        base,
                        size,
                        build_id: build_id.iter().map(|b| format!("{b:02x}")).collect(),
                        loaded_ns: self.ns(time),
                        unloaded_ns: None,
                    }),
                    base,
                )),
                Record::ModuleUnload { time, base } => changes.push((time, None, base)),
                _ => {}
            }
        }
        changes.sort_by_key(|c| c.0);
        let mut out: Vec<Module> = Vec::new();
        for (time, load, base) in changes {
            match load {
                Some(m) => out.push(m),
                None => {
                    if let Some(m) = out
                        .iter_mut()
                        .rev()
                        .find(|m| m.base == base && m.unloaded_ns.is_none())
                    {
                        m.unloaded_ns = Some(self.ns(time));
                    }
                }
            }
        }
        (stacks, out)
    }
}
