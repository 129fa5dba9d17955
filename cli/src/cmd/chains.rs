//! Under `--follow-exec`, a process leaves one capture per program it ran. Each exec'd
//! program marks the capture it finds claimed by its own pid as ended by exec, but that is
//! only ever the first one, named by `memprof run`; the others are told apart here, after
//! the run, by their headers: the same pid, the later ones claimed by an exec'd program (not
//! forked from a parent).

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memprof_capture::Capture;
use memprof_format::header as h;

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
    let Ok(first) = Capture::open(main) else {
        return;
    };
    let status = (first.exit_code(), first.signal());
    // Per pid, (start, path, made by a fork).
    let mut by_pid: BTreeMap<u32, Vec<(u64, &Path, bool)>> = BTreeMap::new();
    for p in std::iter::once(main).chain(children.iter().map(PathBuf::as_path)) {
        if let Ok(c) = Capture::open(p) {
            let forked = c.forked_from().is_some();
            by_pid
                .entry(c.pid())
                .or_default()
                .push((c.start_unix_ns(), p, forked));
        }
    }
    for (pid, mut captures) in by_pid {
        captures.sort_by_key(|c| c.0);
        // A capture made by a fork starts the chain of another process that had the pid.
        let starts: Vec<usize> = (0..captures.len())
            .filter(|&i| i == 0 || captures[i].2)
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
            let ours = pid == first.pid() && chain.iter().any(|(_, p, _)| *p == main);
            if ours && *last != main {
                let _ = super::run::seal(last, status.0, status.1);
            }
        }
    }
}
