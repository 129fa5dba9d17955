//! Under `--follow-exec`, a process leaves one capture per program it ran. Each exec'd
//! program marks the capture it finds claimed by its own pid as ended by exec, but that is
//! only ever the first one, named by `memprof run`; the others are told apart here, after
//! the run, by their headers: the same pid, the later ones claimed by an exec'd program (no
//! parent to have been forked from).

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memprof_format::header as h;

/// What a capture's header says about its process.
struct Head {
    pid: u32,
    start: u64,
    forked_from: u32,
    flags: u32,
    code: u32,
    signal: u32,
}

fn head(path: &Path) -> Option<Head> {
    let mut b = [0u8; h::CMDLINE];
    std::fs::File::open(path)
        .ok()?
        .read_exact_at(&mut b, 0)
        .ok()?;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    Some(Head {
        pid: u32_at(h::PID),
        start: u64_at(h::START_MONO_NS),
        forked_from: u32_at(h::FORKED_FROM),
        flags: u32_at(h::FLAGS),
        code: u32_at(h::EXIT_CODE),
        signal: u32_at(h::EXIT_SIGNAL),
    })
}

fn add_flags(path: &Path, bits: u32) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, h::FLAGS as u64)?;
    let flags = u32::from_le_bytes(b) | bits;
    f.write_all_at(&flags.to_le_bytes(), h::FLAGS as u64)
}

/// Marks every capture of `main` and `children` that a later program of its process
/// replaced as ended by exec; the last program of `main`'s process gets the exit status
/// that [`super::run::seal`] gave `main`.
pub fn seal(main: &Path, children: &[PathBuf]) {
    let Some(main_head) = head(main) else {
        return;
    };
    let mut by_pid: BTreeMap<u32, Vec<(u64, &Path, Head)>> = BTreeMap::new();
    for p in std::iter::once(main).chain(children.iter().map(PathBuf::as_path)) {
        if let Some(hd) = head(p) {
            by_pid.entry(hd.pid).or_default().push((hd.start, p, hd));
        }
    }
    for (pid, mut captures) in by_pid {
        captures.sort_by_key(|c| c.0);
        // A capture made by a fork starts the chain of another process that had the pid.
        let starts: Vec<usize> = (0..captures.len())
            .filter(|&i| i == 0 || captures[i].2.forked_from != 0)
            .chain([captures.len()])
            .collect();
        for w in starts.windows(2) {
            let chain = &captures[w[0]..w[1]];
            let Some(((_, last, _), replaced)) = chain.split_last() else {
                continue;
            };
            for (_, p, _) in replaced {
                let _ = add_flags(p, h::flags::EXECED);
            }
            let ours = pid == main_head.pid && chain.iter().any(|(_, p, _)| *p == main);
            if ours && *last != main {
                let known = |bit: u32, v: u32| (main_head.flags & bit != 0).then_some(v as i32);
                let _ = super::run::seal(
                    last,
                    known(h::flags::EXIT_KNOWN, main_head.code),
                    known(h::flags::KILLED, main_head.signal),
                );
            }
        }
    }
}
