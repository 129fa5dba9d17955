//! `memprof view [CAPTURE]`: opens the capture in `memprof-viewer`, the GTK viewer installed
//! beside `memprof` (or on `PATH`).

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use super::fail;
use crate::cli::ViewArgs;

/// The viewer binary: beside this one, else on `PATH`.
fn viewer() -> PathBuf {
    installed().unwrap_or_else(|| PathBuf::from("memprof-viewer"))
}

/// The viewer binary beside this one or on `PATH`, if there is one.
fn installed() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("memprof-viewer")));
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("memprof-viewer"))
        .collect::<Vec<_>>();
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

/// Whether `memprof CAPTURE` should open the viewer rather than print the report: someone at
/// a terminal, with a display to open a window on, and the viewer installed. Output to a pipe
/// or a file, or no display, gets the report.
pub fn wanted() -> bool {
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    display && std::io::stdout().is_terminal() && installed().is_some()
}

pub fn view(args: ViewArgs) -> anyhow::Result<ExitCode> {
    let viewer = viewer();
    // Only returns if the viewer could not be started.
    let error = Command::new(&viewer).args(&args.capture).exec();
    fail(
        2,
        format!(
            "cannot start {}: {error} (build it with `cargo build --release -p memprof-viewer`, or install memprof with meson)",
            viewer.display()
        ),
    )
}
