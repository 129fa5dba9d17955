//! Recording a program before showing it: `memprof run`, the binary installed beside the
//! viewer (or on `PATH`), writes the capture.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Whether `path` is a program to record rather than a capture: an executable file that
/// does not start as a capture does.
pub fn is_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let mut head = [0u8; 8];
    let capture = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == memprof_format::MAGIC;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0 && !capture
}

/// The `memprof` binary: beside this program (or one directory up, where cargo puts it for
/// test binaries in `deps/`), else on `PATH`.
pub fn memprof() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("memprof"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("memprof"))
}

/// Runs `command` under `memprof run`, calling `alive` while it runs (it returning false
/// stops the program), and returns the capture's path.
pub fn record(command: &[OsString], alive: &dyn Fn() -> bool) -> Result<PathBuf, String> {
    let program = command.first().ok_or("no program to record")?;
    let name = Path::new(program)
        .file_name()
        .map_or("program".into(), |n| n.to_string_lossy().into_owned());
    let dir = std::env::temp_dir().join(format!("memprof-viewer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let capture = dir.join(format!("{name}.mprof"));
    let mut child = Command::new(memprof())
        .arg("run")
        .arg("-q")
        .arg("-o")
        .arg(&capture)
        .arg("--")
        .args(command)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", memprof().display()))?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if !alive() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("recording cancelled".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    }
    // The program's own exit status does not matter: its capture is what is shown.
    if capture.is_file() {
        Ok(capture)
    } else {
        Err(format!("memprof run wrote no capture for {name}"))
    }
}
