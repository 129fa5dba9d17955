//! The modules (executable and shared objects) the program had mapped, over time.

use crate::{Capture, EventKind};

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
        let mut out: Vec<Module> = Vec::new();
        for e in self.events() {
            match e.kind {
                EventKind::ModuleLoad {
                    base,
                    size,
                    build_id,
                    path,
                } => out.push(Module {
                    path: String::from_utf8_lossy(path).into_owned(),
                    base,
                    size,
                    build_id: build_id.iter().map(|b| format!("{b:02x}")).collect(),
                    loaded_ns: self.ns(e.time),
                    unloaded_ns: None,
                }),
                EventKind::ModuleUnload { base } => {
                    if let Some(m) = out
                        .iter_mut()
                        .rev()
                        .find(|m| m.base == base && m.unloaded_ns.is_none())
                    {
                        m.unloaded_ns = Some(self.ns(e.time));
                    }
                }
                _ => {}
            }
        }
        out
    }
}
