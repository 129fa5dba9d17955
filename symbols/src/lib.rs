//! Symbolization: return addresses, taken module by module, to function names (Rust and C++
//! demangled), source files and lines, inlined frames included. `memprof run` resolves them
//! while the program runs and then with the same [`Symbolizer`] after it ends, which keeps
//! what it resolved.
//!
//! DWARF comes from the module itself or from separate debug info found by build-id or
//! debuglink (as `addr2line`'s loader finds it); stripped code falls back to `.symtab` and
//! `.dynsym`. A module whose build-id differs from the one recorded was changed since the
//! run, so nothing is resolved in it rather than something wrong.
//!
//! [`symbolize`] resolves a whole capture and appends its symbol tables to it.
//!
//! ```no_run
//! let mut s = memprof_symbols::Symbolizer::default();
//! let frames = s.resolve("/usr/bin/ls", "", 0x4a10);
//! ```

#![forbid(unsafe_code)]

mod tables;

pub use tables::{symbolize, Outcome};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One function at an address; an address inside inlined code has several, innermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// Why a module's addresses could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The file is gone or unreadable.
    Missing,
    /// The file's build-id is not the one recorded: it changed since the run.
    Changed,
}

struct Module {
    loader: addr2line::Loader,
    /// Function symbols from `.symtab` and `.dynsym` as (start, end, name), sorted.
    symbols: Vec<(u64, u64, String)>,
    /// The frames of every address resolved so far: addresses resolved while the program
    /// ran are not resolved again at its end.
    resolved: HashMap<u64, Vec<Frame>>,
}

impl Module {
    /// The symbol whose extent covers `vaddr`. Unlike a nearest-preceding lookup, this never
    /// names a function the address is not in (stripped code has gaps: local functions
    /// missing from `.dynsym`).
    fn symbol(&self, vaddr: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= vaddr)
            .checked_sub(1)?;
        let (start, end, name) = &self.symbols[i];
        (vaddr >= *start && vaddr < *end).then_some(name.as_str())
    }

    /// The frames at `vaddr`, from DWARF or else the symbol table.
    fn frames(&self, vaddr: u64) -> Vec<Frame> {
        let mut frames = Vec::new();
        if let Ok(mut iter) = self.loader.find_frames(vaddr) {
            while let Ok(Some(f)) = iter.next() {
                frames.push(Frame {
                    function: f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok())
                        .map(|n| n.into_owned()),
                    file: f.location.as_ref().and_then(|l| l.file).map(str::to_string),
                    line: f.location.as_ref().and_then(|l| l.line),
                });
            }
        }
        if frames.iter().all(|f| f.function.is_none()) {
            if let Some(name) = self.symbol(vaddr) {
                let name = addr2line::demangle_auto(name.into(), None).into_owned();
                let (file, line) = frames
                    .first()
                    .map_or((None, None), |f| (f.file.clone(), f.line));
                frames = vec![Frame {
                    function: Some(name),
                    file,
                    line,
                }];
            }
        }
        frames
    }
}

/// Caches one loaded module per path, and the frames of every address it resolved.
#[derive(Default)]
pub struct Symbolizer {
    /// By path and build-id: captures of several programs can be resolved with one.
    modules: HashMap<(String, String), Result<Module, Unresolved>>,
}

impl Symbolizer {
    /// The frames at `vaddr` (an ELF virtual address: the recorded address minus the module's
    /// load bias) of the module at `path`, whose build-id was recorded as `build_id` (hex,
    /// empty if it had none). An unknown address gives no frames.
    pub fn resolve(
        &mut self,
        path: &str,
        build_id: &str,
        vaddr: u64,
    ) -> Result<Vec<Frame>, Unresolved> {
        let module = self
            .modules
            .entry((path.to_string(), build_id.to_string()))
            .or_insert_with(|| open(path, build_id));
        let m = module.as_mut().map_err(|e| *e)?;
        if let Some(frames) = m.resolved.get(&vaddr) {
            return Ok(frames.clone());
        }
        let frames = m.frames(vaddr);
        m.resolved.insert(vaddr, frames.clone());
        Ok(frames)
    }
}

fn open(path: &str, build_id: &str) -> Result<Module, Unresolved> {
    if path.is_empty() || !Path::new(path).is_file() {
        return Err(Unresolved::Missing);
    }
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).map_err(|_| Unresolved::Missing)?;
    let file = object::File::parse(&*data).map_err(|_| Unresolved::Missing)?;
    if !build_id.is_empty() {
        let actual = file.build_id().ok().flatten().map(hex).unwrap_or_default();
        if actual != build_id {
            return Err(Unresolved::Changed);
        }
    }
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            Some((
                s.address(),
                s.address() + s.size(),
                s.name().ok()?.to_string(),
            ))
        })
        .collect();
    symbols.sort();
    symbols.dedup_by_key(|s| s.0);
    // Without DWARF of its own, the module's may be in a separate debug file.
    let has_dwarf = file.section_by_name(".debug_info").is_some();
    let dwarf = match has_dwarf {
        true => None,
        false => separate_debug_file(Path::new(path), &file),
    };
    let loader = addr2line::Loader::new(dwarf.as_deref().unwrap_or(Path::new(path)))
        .map_err(|_| Unresolved::Missing)?;
    Ok(Module {
        loader,
        symbols,
        resolved: HashMap::new(),
    })
}

/// Where distributions and `objcopy --only-keep-debug` put a module's DWARF, searched as gdb
/// does: by build-id under `/usr/lib/debug/.build-id/`, then by the name in the module's
/// `.gnu_debuglink` next to it, in `.debug/` beside it, and under `/usr/lib/debug/`. A
/// debuglink file counts only when its CRC matches.
fn separate_debug_file(path: &Path, file: &object::File) -> Option<PathBuf> {
    use object::Object;
    const DEBUG_DIR: &str = "/usr/lib/debug";
    if let Some(id) = file.build_id().ok().flatten().filter(|id| id.len() > 1) {
        let hex = hex(id);
        let candidate = Path::new(DEBUG_DIR)
            .join(".build-id")
            .join(&hex[..2])
            .join(format!("{}.debug", &hex[2..]));
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let (name, crc) = file.gnu_debuglink().ok().flatten()?;
    let name = Path::new(std::str::from_utf8(name).ok()?);
    let dir = path.parent()?;
    let mut under_debug_dir = PathBuf::from(DEBUG_DIR);
    under_debug_dir.push(dir.strip_prefix("/").unwrap_or(dir));
    [
        dir.join(name),
        dir.join(".debug").join(name),
        under_debug_dir.join(name),
    ]
    .into_iter()
    .find(|c| c != path && std::fs::read(c).is_ok_and(|d| crc32(&d) == crc))
}

/// The CRC-32 (IEEE, as zlib computes it) that `.gnu_debuglink` records of its file.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> String {
        std::env::current_exe()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn crc32_is_zlib_s() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_missing_module_is_reported_as_such() {
        let mut s = Symbolizer::default();
        assert_eq!(
            s.resolve("/no/such/file", "", 0x1000),
            Err(Unresolved::Missing)
        );
    }

    #[test]
    fn a_changed_module_is_not_resolved() {
        let mut s = Symbolizer::default();
        assert_eq!(
            s.resolve(&here(), "00112233", 0x1000),
            Err(Unresolved::Changed)
        );
    }
}
