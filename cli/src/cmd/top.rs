//! `memprof top`: `memprof run` with a live display of the heap while the program runs.

use std::io::IsTerminal;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use memprof_top::{Batch, ClockReading, Host};

use super::fail;
use super::run;
use crate::cli::TopArgs;

pub fn top(args: TopArgs) -> anyhow::Result<ExitCode> {
    if !args.batch && (!std::io::stdout().is_terminal() || !std::io::stdin().is_terminal()) {
        return fail(
            2,
            "memprof top needs a terminal (--batch prints the table as text instead)",
        );
    }
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        return fail(2, "--interval must be a positive number of seconds");
    }
    // The program's output would tear the display or mix with the table: it goes to a
    // file, named after the capture once the pid is known.
    let cwd = std::env::current_dir()?;
    let dir = match args.run.output.as_deref().and_then(|o| o.parent()) {
        Some(parent) => cwd.join(parent),
        None => cwd,
    };
    let pending = dir.join(format!(".memprof-top-{}.out", std::process::id()));
    let out = match std::fs::File::create(&pending) {
        Ok(f) => f,
        Err(e) => return fail(2, format!("cannot write {}: {e}", pending.display())),
    };
    let err = out.try_clone()?;
    let launched = run::launch(&args.run, |cmd| {
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

    // Sealing the capture as soon as the program ends tells the display so.
    let path = launched.path.clone();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        PROGRAM_ENDED.store(true, Ordering::Relaxed);
        let sealed = match &status {
            Ok(s) => run::seal(&path, s.code(), s.signal()),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        (status, sealed)
    });
    let shown = if args.batch {
        let options = Batch {
            interval: Duration::from_secs_f64(args.interval),
            rows: args.rows,
            width: 120,
            json: args.json,
        };
        memprof_top::batch(
            &launched.path,
            HOST,
            &options,
            &mut std::io::stdout().lock(),
        )
    } else {
        memprof_top::run(&launched.path, HOST)
    };
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
    run::conclude(&args.run, &launched, sealed, None)?;
    if std::fs::metadata(&output).is_ok_and(|m| m.len() > 0) {
        eprintln!("memprof: the program's output: {}", output.display());
    } else {
        let _ = std::fs::remove_file(&output);
    }
    match shown {
        // `memprof top --batch | head`: the reader has seen enough; the program's status
        // still counts.
        Err(memprof_top::Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(run::exit_status(status))
}

const HOST: Host = Host {
    clock: || ClockReading {
        tsc: run::tsc(),
        mono_ns: run::clock_ns(),
    },
    stand_back: run::idle_priority,
    stop_program: |force| run::signal_child(if force { libc::SIGKILL } else { libc::SIGTERM }),
    program_ended: || PROGRAM_ENDED.load(Ordering::Relaxed),
    wait_for_input,
};

/// Waits at most `timeout` for input on standard input (the terminal): true when there is
/// some; an error once the terminal hung up.
fn wait_for_input(timeout: Duration) -> std::io::Result<bool> {
    let gone = || std::io::Error::other("the terminal hung up");
    if run::hung_up() {
        return Err(gone());
    }
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `fd` is one valid pollfd, and the count says one.
    if unsafe { libc::poll(&mut fd, 1, ms) } < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(gone());
    }
    Ok(fd.revents & libc::POLLIN != 0)
}

/// Set by the thread that waits for the program.
static PROGRAM_ENDED: AtomicBool = AtomicBool::new(false);
