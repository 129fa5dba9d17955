//! Finding `libmemprof_preload.so`.

use std::path::{Path, PathBuf};

const NAME: &str = "libmemprof_preload.so";

/// The preload library: `$MEMPROF_PRELOAD`, else next to the `memprof` executable (a cargo
/// build tree), else the installed locations relative to it.
pub fn find() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("MEMPROF_PRELOAD") {
        let p = PathBuf::from(p);
        anyhow::ensure!(
            p.is_file(),
            "MEMPROF_PRELOAD names {}, which does not exist",
            p.display()
        );
        return Ok(absolute(&p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [
        dir.join(NAME),
        dir.join("../lib/memprof").join(NAME),
        dir.join("../lib").join(NAME),
        dir.join("../lib/x86_64-linux-gnu/memprof").join(NAME),
        dir.join("../lib64/memprof").join(NAME),
    ];
    candidates.iter().find(|c| c.is_file()).map(|c| absolute(c)).ok_or_else(|| {
        anyhow::anyhow!(
            "cannot find {NAME} next to {} or in ../lib/memprof; build it with `cargo build` or set MEMPROF_PRELOAD",
            exe.display()
        )
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
