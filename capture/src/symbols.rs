//! The symbol tables stored in a capture: what each recorded return address resolved to.

use std::collections::HashMap;
use std::path::Path;

use memprof_format::{module_status, Record};

use crate::{Capture, Error};

/// A resolved function at an address; inlined code has several, innermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SymbolFrame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// Every address the capture's symbol tables resolve.
#[derive(Default)]
pub struct Symbols {
    frames: HashMap<u64, Vec<SymbolFrame>>,
    status: HashMap<u64, u64>,
}

impl Symbols {
    /// Reads the symbol tables of `capture` (empty if it was recorded with `--no-symbols`).
    pub fn read(capture: &Capture) -> Symbols {
        let mut strings: HashMap<u64, String> = HashMap::new();
        let mut s = Symbols::default();
        let mut raw = Vec::new();
        for rec in capture.symbol_records() {
            match rec {
                Record::SymbolString { id, text } => {
                    strings.insert(id, String::from_utf8_lossy(text).into_owned());
                }
                Record::SymbolFrame {
                    ip,
                    depth,
                    function,
                    file,
                    line,
                } => raw.push((ip, depth, function, file, line)),
                Record::ModuleStatus { base, status } => {
                    s.status.insert(base, status);
                }
                _ => {}
            }
        }
        raw.sort_by_key(|r| (r.0, r.1));
        for (ip, _, function, file, line) in raw {
            s.frames.entry(ip).or_default().push(SymbolFrame {
                function: strings.get(&function).cloned(),
                file: strings.get(&file).cloned(),
                line: u32::try_from(line).ok().filter(|&l| l != 0),
            });
        }
        s
    }

    /// The frames of return address `ip`, innermost first; empty if unresolved.
    pub fn frames(&self, ip: u64) -> &[SymbolFrame] {
        self.frames.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Whether the capture holds symbol tables at all.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.status.is_empty()
    }

    /// How the module loaded at `base` was symbolized ([`module_status`]), if it was tried.
    pub fn module_status(&self, base: u64) -> Option<u64> {
        self.status.get(&base).copied()
    }
}

/// Builds the records of a symbol table: strings are interned.
#[derive(Default)]
pub struct SymbolTableBuilder {
    strings: HashMap<String, u64>,
    records: Vec<OwnedRecord>,
}

enum OwnedRecord {
    String(u64, String),
    Frame {
        ip: u64,
        depth: u64,
        function: u64,
        file: u64,
        line: u64,
    },
    Status {
        base: u64,
        status: u64,
    },
}

impl SymbolTableBuilder {
    fn string(&mut self, s: Option<&str>) -> u64 {
        let Some(s) = s else { return 0 };
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let id = self.strings.len() as u64 + 1;
        self.strings.insert(s.to_string(), id);
        self.records.push(OwnedRecord::String(id, s.to_string()));
        id
    }

    /// Adds the frames of return address `ip`, innermost first.
    pub fn frames(&mut self, ip: u64, frames: &[SymbolFrame]) {
        for (depth, f) in frames.iter().enumerate() {
            let function = self.string(f.function.as_deref());
            let file = self.string(f.file.as_deref());
            let line = u64::from(f.line.unwrap_or(0));
            self.records.push(OwnedRecord::Frame {
                ip,
                depth: depth as u64,
                function,
                file,
                line,
            });
        }
    }

    /// Records how the module at `base` was symbolized.
    pub fn module_status(&mut self, base: u64, status: u64) {
        debug_assert!(status <= module_status::SKIPPED);
        self.records.push(OwnedRecord::Status { base, status });
    }

    /// Appends the table to the capture at `path` as chunks of its own.
    pub fn append_to(&self, path: &Path) -> Result<(), Error> {
        let records = self.records.iter().map(|r| match r {
            OwnedRecord::String(id, s) => Record::SymbolString {
                id: *id,
                text: s.as_bytes(),
            },
            &OwnedRecord::Frame {
                ip,
                depth,
                function,
                file,
                line,
            } => Record::SymbolFrame {
                ip,
                depth,
                function,
                file,
                line,
            },
            &OwnedRecord::Status { base, status } => Record::ModuleStatus { base, status },
        });
        crate::tables::append_records(path, records)
    }
}
