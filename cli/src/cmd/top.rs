//! `memprof top`: `memprof run` with a live display of the heap while the program runs.

use std::io::IsTerminal;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, Stdio};

use memprof_top::ClockReading;

use super::fail;
use super::run::{self, SignalForwarding};
use crate::cli::RunArgs;

pub fn top(args: RunArgs) -> anyhow::Result<ExitCode> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return fail(
            2,
            "memprof top needs a terminal (use memprof run to record without one)",
        );
    }
    // The program's output would tear the display: it goes to a file, named after the
    // capture once the pid is known.
    let cwd = std::env::current_dir()?;
    let pending = cwd.join(format!(".memprof-top-{}.out", std::process::id()));
    let out = match std::fs::File::create(&pending) {
        Ok(f) => f,
        Err(e) => return fail(2, format!("cannot write {}: {e}", pending.display())),
    };
    let err = out.try_clone()?;
    let launched = run::launch(&args, |cmd| {
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    });
    let (mut child, launched) = match launched {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(e);
        }
    };
    let output = launched.path.with_extension("out");
    if std::fs::rename(&pending, &output).is_err() {
        let _ = std::fs::remove_file(&pending);
    }
    let _signals = SignalForwarding::install();

    // Sealing the capture as soon as the program ends tells the display so.
    let path = launched.path.clone();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let sealed = status
            .as_ref()
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
            .and_then(|s| run::seal(&path, s.code(), s.signal()));
        (status, sealed)
    });
    let shown = memprof_top::run(&launched.path, clock, &mut || {
        run::signal_child(libc::SIGTERM)
    });
    if !waiter.is_finished() {
        eprintln!(
            "memprof: {} (pid {}) runs on; its capture {} is finished when it ends",
            launched.name,
            launched.pid,
            launched.path.display()
        );
    }
    let (status, sealed) = waiter.join().expect("the waiting thread does not panic");
    let status = status?;
    run::conclude(&args, &launched, sealed)?;
    if output.exists() && std::fs::metadata(&output).is_ok_and(|m| m.len() > 0) {
        eprintln!("memprof: the program's output: {}", output.display());
    } else {
        let _ = std::fs::remove_file(&output);
    }
    if let Err(e) = shown {
        return fail(2, format!("memprof top: {e}"));
    }
    Ok(run::exit_status(status))
}

fn clock() -> ClockReading {
    ClockReading {
        tsc: run::tsc(),
        mono_ns: run::clock_ns(),
    }
}
