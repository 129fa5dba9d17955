//! The modules a program has mapped, as the records of its capture tell them while it runs.

/// One mapped module.
pub(crate) struct Module {
    pub path: String,
    /// The GNU build-id in hex, as the symbolizer takes it.
    pub build_id: String,
    /// Load bias.
    pub base: u64,
    /// One past the highest ELF virtual address it maps.
    pub size: u64,
}

/// The modules mapped now, in load order.
#[derive(Default)]
pub(crate) struct Modules(Vec<Module>);

impl Modules {
    pub fn load(&mut self, path: &[u8], build_id: &[u8], base: u64, size: u64) {
        self.0.push(Module {
            path: String::from_utf8_lossy(path).into_owned(),
            build_id: build_id.iter().map(|b| format!("{b:02x}")).collect(),
            base,
            size,
        });
    }

    pub fn unload(&mut self, base: u64) {
        // The range may be reused by a module loaded later.
        if let Some(i) = self.0.iter().rposition(|m| m.base == base) {
            self.0.remove(i);
        }
    }

    /// The module holding the call instruction before return address `ip`, with the ELF
    /// virtual address of that instruction.
    pub fn holding(&self, ip: u64) -> Option<(&Module, u64)> {
        let at = ip.saturating_sub(1);
        let m = self
            .0
            .iter()
            .rfind(|m| at >= m.base && at - m.base < m.size)?;
        Some((m, at - m.base))
    }
}
