//! Just enough ELF to tell whether LD_PRELOAD can work on a program.

use std::io::Read;
use std::path::Path;

/// What kind of executable a file is.
#[derive(Debug, PartialEq, Eq)]
pub enum Linking {
    /// A dynamically linked ELF program: the preload library will be loaded.
    Dynamic,
    /// An ELF program without a program interpreter: nothing loads the preload library.
    Static,
    /// Not ELF (a script, say): its interpreter is what runs.
    Other,
}

/// Reads the ELF program headers of `path` looking for PT_INTERP.
pub fn linking(path: &Path) -> std::io::Result<Linking> {
    let mut data = Vec::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut data)?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Ok(Linking::Other);
    }
    let u16_at = |o: usize| {
        data.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(Linking::Other);
    };
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let Some(p) = data.get(phoff + i * phentsize..phoff + i * phentsize + 4) else {
            break;
        };
        if u32::from_le_bytes(p.try_into().expect("4 bytes")) == PT_INTERP {
            return Ok(Linking::Dynamic);
        }
    }
    Ok(Linking::Static)
}

/// Whether the program at `path` defines `malloc` itself (a statically linked jemalloc or
/// mimalloc, say). The program comes before any preloaded library in symbol lookup, so
/// memprof's `malloc` is then never called.
pub fn defines_malloc(path: &Path) -> bool {
    use object::{Object, ObjectSymbol};
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: the map is only read; a program changed on disk meanwhile gives wrong symbols
    // at worst (object checks every offset it reads).
    let Ok(data) = (unsafe { memmap2::Mmap::map(&f) }) else {
        return false;
    };
    let Ok(file) = object::File::parse(&*data) else {
        return false;
    };
    let defined = |s: object::Symbol| s.is_definition() && s.name() == Ok("malloc");
    file.dynamic_symbols().any(defined) || file.symbols().any(defined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_program_is_dynamic_and_a_script_is_not_elf() {
        assert_eq!(linking(Path::new("/bin/sh")).unwrap(), Linking::Dynamic);
        let dir = std::env::temp_dir().join(format!("memprof-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(linking(&script).unwrap(), Linking::Other);
        assert!(!defines_malloc(Path::new("/bin/sh")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
