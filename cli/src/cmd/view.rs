//! `memprof view CAPTURE`: opens the capture in `memprof-viewer`, the GTK viewer installed
//! beside `memprof` (or on `PATH`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use super::fail;
use crate::cli::ViewArgs;

/// The viewer binary: beside this one, else on `PATH`.
fn viewer() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("memprof-viewer")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("memprof-viewer"))
}

pub fn view(args: ViewArgs) -> anyhow::Result<ExitCode> {
    let viewer = viewer();
    // Only returns if the viewer could not be started.
    let error = Command::new(&viewer).arg(&args.capture).exec();
    fail(
        2,
        format!(
            "cannot start {}: {error} (is the viewer installed?)",
            viewer.display()
        ),
    )
}
