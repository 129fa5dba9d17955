//! `memprof run`: start the program with the preload library, wait for it, seal the capture
//! and print a summary.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use memprof_capture::{Capture, Summary};
use memprof_format::header as h;

use super::fail;
use crate::cli::{RunArgs, Unwind};
use crate::elf::{self, Linking};
use crate::preload;
use memprof_capture::units;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (mut child, launched) = launch(&args, |cmd| {
        // The program gets the standard streams memprof got, closed ones included.
        let closed = crate::stdio::closed_at_start();
        if !closed.is_empty() {
            // SAFETY: the closure only calls close(2), which is async-signal-safe, on a
            // vector made before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    for &fd in &closed {
                        libc::close(fd);
                    }
                    Ok(())
                })
            };
        }
    })?;
    // The summary needs the heap index, which is built while the program runs.
    let indexing = (!args.quiet)
        .then(|| crate::indexing::Indexing::start(&launched.path, !args.no_symbols))
        .flatten();
    let status = child.wait()?;
    let sealed = seal(&launched.path, status.code(), status.signal());
    conclude(&args, &launched, sealed, indexing)?;
    Ok(exit_status(status))
}

/// A program started under the preload.
pub struct Launched {
    pub pid: u32,
    /// Its capture.
    pub path: PathBuf,
    /// The program's file name.
    pub name: String,
    started: std::time::SystemTime,
    /// The capture named with `-o`, locked for as long as this run lasts.
    _lock: Option<std::fs::File>,
    /// Signals are handled as long as the program runs.
    _signals: SignalForwarding,
}

/// Starts the program of `args` with the preload library, after `setup` had its say on the
/// command (standard streams).
pub fn launch(
    args: &RunArgs,
    setup: impl FnOnce(&mut std::process::Command),
) -> anyhow::Result<(std::process::Child, Launched)> {
    let (program, rest) = args.command.split_first().expect("clap requires a program");
    let exe = resolve(program)?;
    if elf::linking(&exe)? == Linking::Static {
        return fail(
            2,
            format!(
                "{} is statically linked: memprof records through LD_PRELOAD, which a static program never loads",
                exe.display()
            ),
        );
    }
    if elf::defines_malloc(&exe) {
        eprintln!(
            "memprof: {} has its own malloc, which comes before memprof's: its allocations will not be recorded",
            exe.display()
        );
    }
    let preload = preload::find()?;
    let name = exe
        .file_name()
        .map_or("program".into(), |n| n.to_string_lossy().into_owned());
    let (template, lock) = output_template(args.output.as_deref(), &name)?;

    let mut cmd = std::process::Command::new(&exe);
    cmd.arg0(program).args(rest);
    let ld_preload = match std::env::var_os("LD_PRELOAD") {
        Some(old) if !old.is_empty() => {
            let mut v = preload.clone().into_os_string();
            v.push(":");
            v.push(old);
            v
        }
        _ => preload.clone().into_os_string(),
    };
    cmd.env("LD_PRELOAD", ld_preload)
        .env("MEMPROF_OUT", &template)
        .env("MEMPROF_LAUNCHER", std::process::id().to_string());
    cmd.env(
        "MEMPROF_UNWIND",
        if args.unwind == Unwind::Fp {
            "fp"
        } else {
            "dwarf"
        },
    );
    cmd.env("MEMPROF_MAX_DEPTH", args.max_depth.to_string());
    for (flag, var) in [
        (args.follow_fork, "MEMPROF_FOLLOW_FORK"),
        (args.follow_exec, "MEMPROF_FOLLOW_EXEC"),
    ] {
        if flag {
            cmd.env(var, "1");
        } else {
            cmd.env_remove(var);
        }
    }
    setup(&mut cmd);
    // Before the program starts: it may be interrupted as soon as it runs (a terminal's
    // Ctrl-C, `timeout`), while this thread has not yet been scheduled again.
    let signals = SignalForwarding::install();
    // SAFETY: the closure only calls signal(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // What memprof ignores the program must not: an ignored signal stays ignored
            // across exec (handled ones go back to the default on their own).
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        })
    };

    let started = std::time::SystemTime::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return fail(code, format!("cannot run {}: {e}", exe.display()));
        }
    };
    CHILD.store(child.id() as i32, Ordering::Relaxed);
    // A request to terminate that came while the program was being started.
    let early = EARLY.swap(0, Ordering::Relaxed);
    if early != 0 {
        signal_child(early);
    }
    let path = PathBuf::from(
        template
            .to_string_lossy()
            .replace("%p", &child.id().to_string()),
    );
    let launched = Launched {
        pid: child.id(),
        path,
        name,
        started,
        _lock: lock,
        _signals: signals,
    };
    Ok((child, launched))
}

/// The exit status memprof ends with for the program's `status`.
pub fn exit_status(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => 128u8.saturating_add(sig as u8),
        _ => 1,
    })
}

/// After the program ended and its capture was sealed: resolves symbols and prints the
/// summary, as `args` ask.
pub fn conclude(
    args: &RunArgs,
    launched: &Launched,
    sealed: std::io::Result<bool>,
    indexing: Option<crate::indexing::Indexing>,
) -> anyhow::Result<()> {
    let path = &launched.path;
    match sealed {
        Ok(true) => {
            let children = if args.follow_fork || args.follow_exec {
                child_captures(path, launched.started)
            } else {
                vec![]
            };
            if args.follow_exec {
                super::chains::seal(path, &children);
            }
            // The summary needs the heap index: the one built during the run, or one built
            // now; either counts the summary on the way. Having it first copies the stack and
            // module records beside it, which spares symbolization a pass over every record.
            // A summary still to be read (the capture could not be indexed here, or some of
            // its records do not decode) is read while symbols are resolved: it reads the
            // capture as it was before their tables are appended.
            let (capture, counted, symbolizer) = if args.quiet {
                (None, None, None)
            } else {
                let made = indexing.map(|i| i.finish(path)).unwrap_or_default();
                let (capture, built) = crate::symbolize::open_indexed(path)?;
                (Some(capture), made.summary.or(built), made.symbolizer)
            };
            let summary = std::thread::scope(|scope| {
                let symbols = (!args.no_symbols).then(|| {
                    scope.spawn(|| {
                        let mut symbolizer = symbolizer.unwrap_or_default();
                        for p in std::iter::once(path).chain(&children) {
                            crate::symbolize::symbolize_telling(p, &mut symbolizer);
                        }
                    })
                });
                let summary = counted.or_else(|| capture.as_ref().map(Summary::of));
                if let Some(s) = symbols {
                    s.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                }
                summary
            });
            if let (Some(capture), Some(summary)) = (&capture, &summary) {
                print_summary(path, capture, summary)?;
                if summary.replaced_by_exec && !args.follow_exec {
                    // A wrapper script or a launcher (a pyenv shim, `env`) was recorded, and
                    // the program it ran was not.
                    eprintln!(
                        "memprof: {} went on as another program, which was not recorded: add --follow-exec to record it",
                        launched.name
                    );
                }
                for c in &children {
                    eprintln!("memprof: a child's capture: {}", c.display());
                }
            }
        }
        Ok(false) => eprintln!(
            "memprof: {} recorded nothing: the program did not load the preload library (setuid, or it cleared LD_PRELOAD?)",
            launched.name
        ),
        Err(e) => eprintln!("memprof: cannot finish {}: {e}", path.display()),
    }
    Ok(())
}

/// The captures that followed children wrote beside `main` during this run.
fn child_captures(main: &Path, started: std::time::SystemTime) -> Vec<PathBuf> {
    let dir = main.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p != main && p.extension().is_some_and(|e| e == "mprof"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("memprof."))
        })
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.created().or(m.modified()))
                .is_ok_and(|t| t >= started)
        })
        .filter(|p| super::is_capture(p))
        .collect();
    found.sort();
    found
}

/// Finds the program like a shell would.
fn resolve(program: &OsString) -> anyhow::Result<PathBuf> {
    let p = Path::new(program);
    let candidates: Vec<PathBuf> =
        if p.components().count() > 1 || program.to_string_lossy().contains('/') {
            vec![p.to_path_buf()]
        } else {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(p))
                .collect()
        };
    let mut not_executable = None;
    for c in candidates {
        let Ok(meta) = std::fs::metadata(&c) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(c);
        }
        not_executable.get_or_insert(c);
    }
    match not_executable {
        Some(c) => fail(126, format!("{} is not executable", c.display())),
        None => fail(127, format!("program not found: {}", p.display())),
    }
}

/// The value of `MEMPROF_OUT`: the path given, created empty now so that an unwritable
/// location fails before the program starts, or `memprof.<name>.%p.mprof` in the working
/// directory, where the preload puts the pid in place of `%p`. A path given is locked
/// (`flock`) until the run ends, so that a second run given the same path is refused instead
/// of emptying the file under the first one's program.
fn output_template(
    output: Option<&Path>,
    name: &str,
) -> anyhow::Result<(OsString, Option<std::fs::File>)> {
    let cwd = std::env::current_dir()?;
    match output {
        Some(p) => {
            let p = cwd.join(p);
            // A capture is a memory-mapped file: /dev/null or a pipe cannot hold one.
            if std::fs::metadata(&p).is_ok_and(|m| !m.is_file()) {
                return fail(
                    2,
                    format!(
                        "cannot write the capture {}: not a regular file",
                        p.display()
                    ),
                );
            }
            let file = match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
            {
                Ok(f) => f,
                Err(e) => return fail(2, format!("cannot write the capture {}: {e}", p.display())),
            };
            if !lock(&file) {
                return fail(
                    2,
                    format!(
                        "{} is the capture of another memprof run still going on: choose another -o",
                        p.display()
                    ),
                );
            }
            if let Err(e) = file.set_len(0) {
                return fail(2, format!("cannot write the capture {}: {e}", p.display()));
            }
            Ok((p.into_os_string(), Some(file)))
        }
        None => {
            let probe = cwd.join(format!(".memprof-probe-{}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
            {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                }
                Err(e) => {
                    return fail(
                        2,
                        format!(
                            "cannot write a capture in {}: {e} (use -o PATH)",
                            cwd.display()
                        ),
                    )
                }
            }
            Ok((
                cwd.join(format!("memprof.{name}.%p.mprof"))
                    .into_os_string(),
                None,
            ))
        }
    }
}

/// Takes an exclusive lock on `file` without waiting; false when another process holds one.
fn lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor the caller keeps open; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EWOULDBLOCK)
}

/// Records how the program ended in the capture's header. False when the program never
/// claimed the capture.
pub fn seal(path: &Path, code: Option<i32>, signal: Option<i32>) -> std::io::Result<bool> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut magic = [0u8; 8];
    if file.metadata()?.len() < memprof_format::HEADER_SIZE as u64
        || file.read_exact_at(&mut magic, 0).is_err()
    {
        return Ok(false);
    }
    if magic != memprof_format::MAGIC {
        return Ok(false);
    }
    let mut flags = [0u8; 4];
    file.read_exact_at(&mut flags, h::FLAGS as u64)?;
    let mut flags = u32::from_le_bytes(flags);
    if let Some(code) = code {
        flags |= h::flags::EXIT_KNOWN;
        file.write_all_at(&code.to_le_bytes(), h::EXIT_CODE as u64)?;
    }
    if let Some(sig) = signal {
        flags |= h::flags::KILLED;
        file.write_all_at(&sig.to_le_bytes(), h::EXIT_SIGNAL as u64)?;
    }
    if flags & h::flags::EXITED == 0 {
        // It ended without running its exit handlers: now is when, as near as can be told.
        // Killed, it lost what it would have done; `_exit` or exec end it completely.
        if signal.is_some() {
            flags |= h::flags::CUT_SHORT;
        }
        let mono = clock_ns();
        let tsc = tsc();
        file.write_all_at(&mono.to_le_bytes(), h::END_MONO_NS as u64)?;
        file.write_all_at(&tsc.to_le_bytes(), h::END_TSC as u64)?;
    }
    file.write_all_at(&flags.to_le_bytes(), h::FLAGS as u64)?;
    Ok(true)
}

fn print_summary(path: &Path, capture: &Capture, summary: &Summary) -> anyhow::Result<()> {
    // With the symbol tables appended since `capture` was opened.
    let size = std::fs::metadata(path).map_or(capture.len(), |m| m.len());
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "memprof: wrote {} ({})",
        path.display(),
        units::bytes(size)
    )?;
    super::report::write_summary(&mut err, capture, summary)?;
    let events = summary.allocations + summary.frees;
    // Below that the fixed header and chunk sizes dominate.
    if events >= 100_000 {
        writeln!(
            err,
            "{:<22}{:.1} bytes per event",
            "capture size",
            size as f64 / events as f64
        )?;
    }
    Ok(())
}

pub(crate) fn clock_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(crate) fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions and exists on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Sends `sig` to the program started last.
pub fn signal_child(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The running child, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Set when the terminal hung up (SIGHUP), for a display to end.
static HUNG_UP: AtomicBool = AtomicBool::new(false);

/// True once memprof got SIGHUP while the program ran.
pub fn hung_up() -> bool {
    HUNG_UP.load(Ordering::Relaxed)
}

extern "C" fn forward(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        HUNG_UP.store(true, Ordering::Relaxed);
    }
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    } else {
        EARLY.store(sig, Ordering::Relaxed);
    }
}

/// A signal to pass on that came before the program had started.
static EARLY: AtomicI32 = AtomicI32::new(0);

/// While the program runs, terminal signals reach it directly (it shares our process
/// group), so memprof ignores them instead of dying first; termination requests sent to
/// memprof alone are passed on. `SIGINT` and `SIGQUIT` are not: one sent to the process
/// group (by the terminal, `timeout -s INT`, `kill -INT -PGID`) would then reach the program
/// twice, which many programs take as a demand to quit at once.
pub struct SignalForwarding;

impl SignalForwarding {
    pub fn install() -> SignalForwarding {
        // SAFETY: installing SIG_IGN or an async-signal-safe handler.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
            libc::signal(libc::SIGHUP, forward as *const () as libc::sighandler_t);
        }
        SignalForwarding
    }
}

impl Drop for SignalForwarding {
    fn drop(&mut self) {
        // SAFETY: restoring the default dispositions.
        unsafe {
            for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Puts the calling thread in `SCHED_IDLE`: it runs only when a CPU would otherwise idle.
/// What follows the capture then never slows the program; when the program keeps every CPU
/// busy, it falls behind and catches up when it can.
pub(crate) fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

/// Puts thread `tid` of this process back in the normal scheduling class.
pub(crate) fn normal_priority(tid: libc::pid_t) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; a thread id that has exited makes the call
    // fail with ESRCH and change nothing.
    unsafe { libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) };
}

/// The calling thread's kernel id.
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
