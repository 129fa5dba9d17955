//! The live view: the collector following captures, and `memprof top` in a terminal.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use memprof_capture::{Capture, EventKind, ThreadId};
use memprof_live::{ClockReading, Collector, FunctionRow, Snapshot, State};
use memprof_tests::{memprof, Scratch};

pub(crate) fn clock() -> ClockReading {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ClockReading {
        // SAFETY: rdtsc has no preconditions on x86_64.
        tsc: unsafe { core::arch::x86_64::_rdtsc() },
        mono_ns: ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
    }
}

fn row<'a>(s: &'a Snapshot, name: &str) -> &'a FunctionRow {
    s.functions
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name} in {:#?}", s.functions))
}

/// Follows the capture at `path` to its end.
fn follow_to_end(path: &std::path::Path) -> Collector {
    follow_to_end_by(path, memprof_live::POLL_BUDGET)
}

/// Follows the capture at `path` to its end, reading about `budget` bytes per poll.
fn follow_to_end_by(path: &std::path::Path, budget: usize) -> Collector {
    let mut c = Collector::open(path, Box::new(clock)).expect("open");
    c.set_poll_budget(budget);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.finished() {
        c.poll().expect("poll");
        assert!(Instant::now() < deadline, "the collector never finished");
    }
    c
}

#[test]
fn live_table_of_a_recorded_run_matches_the_report() {
    let s = Scratch::new("live-holders");
    let prog = s.c("holders.c", &[]);
    let r = s.record("holders", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    let mut c = follow_to_end(&r.capture);
    let snap = c.snapshot(None);
    assert_eq!(snap.state, State::Exited(0));
    assert_eq!(snap.allocations, summary.n("allocations"));
    assert_eq!(snap.heap_bytes, summary.n("leaked_bytes"));
    assert_eq!(snap.peak_bytes, summary.n("peak_bytes"));
    assert_eq!(snap.thread_ids.len(), 2);

    let own = |name: &str| row(&snap, name).own_bytes;
    assert_eq!(own("hold_small"), 10_000);
    assert_eq!(own("make"), 300_000);
    assert_eq!(own("hold_large"), 0);
    assert_eq!(row(&snap, "hold_large").total_bytes, 300_000);
    assert_eq!(row(&snap, "hold_large").allocations, 3);
    // Four of its five blocks were freed by the worker thread.
    assert_eq!(own("drop_later"), 500);
    assert_eq!(row(&snap, "drop_later").allocations, 5);
    assert_eq!(own("worker"), 448);
    assert!(row(&snap, "main").total_bytes >= 310_500);

    let worker: ThreadId = snap.thread_ids[1];
    let theirs = c.snapshot(Some(worker));
    assert_eq!(theirs.thread, Some(worker));
    assert_eq!(row(&theirs, "worker").own_bytes, 448);
    assert_eq!(row(&theirs, "worker").allocations, 7);
    assert!(theirs.functions.iter().all(|r| r.name != "hold_small"));
    // The header stays the program's.
    assert_eq!(theirs.heap_bytes, snap.heap_bytes);

    c.reset();
    let after = c.snapshot(None);
    assert_eq!((after.allocations, after.peak_bytes), (0, after.heap_bytes));
    assert_eq!(row(&after, "make").own_bytes, 300_000);
    assert_eq!(row(&after, "make").allocations, 0);
}

/// Runs that fill many chunks, per thread (with addresses reused all the time) and in many
/// threads: the finished table must still agree with the report to the byte.
#[test]
fn live_figures_of_many_chunks_and_threads_match_the_report() {
    let s = Scratch::new("live-chunks");
    let churn = s.c("churn.c", &[]);
    let stress = s.c("stress.c", &[]);
    for (name, prog, args) in [
        ("churn", &churn, &[][..]),
        ("threads", &stress, &["threads"]),
    ] {
        let r = s.record(name, &["-q"], prog, args);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let summary = r.summary();
        // All at once, and a chunk or so per poll, as a collector that fell behind reads.
        for budget in [memprof_live::POLL_BUDGET, 1] {
            let mut c = follow_to_end_by(&r.capture, budget);
            let snap = c.snapshot(None);
            let what = format!("{name}, {budget} bytes per poll");
            assert_eq!(snap.allocations, summary.n("allocations"), "{what}");
            assert_eq!(snap.heap_bytes, summary.n("leaked_bytes"), "{what}");
            assert_eq!(snap.peak_bytes, summary.n("peak_bytes"), "{what}");
            assert_eq!(c.untracked_frees(), summary.n("untracked_frees"), "{what}");
            assert_eq!(snap.thread_ids.len() as u64, summary.n("threads"), "{what}");
        }
    }
}

/// The live heap and allocation count at each moment the collector reported while the
/// program ran equal a replay of the finished capture up to that moment.
#[test]
fn live_figures_match_the_capture_at_the_same_moments() {
    let s = Scratch::new("live-grows");
    let prog = s.c("grows.c", &[]);
    let capture = s.path("grows.mprof");
    let mut child = Command::new(memprof())
        .args(["run", "-q", "-o"])
        .arg(&capture)
        .arg("--")
        .arg(&prog)
        .stdout(Stdio::null())
        .spawn()
        .expect("memprof run");
    let mut c = Collector::open(&capture, Box::new(clock)).expect("open");
    let mut moments: Vec<(u64, u64, u64)> = Vec::new();
    while !c.finished() {
        c.poll().expect("poll");
        let snap = c.snapshot(None);
        if snap.state == State::Running && snap.allocations > 0 {
            moments.push((snap.time, snap.heap_bytes, snap.allocations));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().expect("wait").success());
    moments.dedup();
    let during: Vec<_> = moments.iter().filter(|m| m.2 < 150).collect();
    assert!(
        during.len() >= 5,
        "too few moments while the program ran: {moments:?}"
    );

    let capture = Capture::open(&capture).expect("capture");
    let mut live: HashMap<u64, u64> = HashMap::new();
    let (mut heap, mut allocations) = (0u64, 0u64);
    let mut events = capture.events().peekable();
    for &(time, live_heap, live_allocations) in &moments {
        while let Some(e) = events.next_if(|e| e.time <= time) {
            match e.kind {
                EventKind::Alloc { size, addr, .. } => {
                    allocations += 1;
                    heap += size;
                    live.insert(addr, size);
                }
                EventKind::Free { addr } => heap -= live.remove(&addr).unwrap_or(0),
                _ => {}
            }
        }
        assert_eq!(
            (live_heap, live_allocations),
            (heap, allocations),
            "at record time {time}"
        );
    }
}

/// `memprof top` in a real pseudo-terminal: the table while the program runs, the final
/// table after it ended, then `q` and the summary of `memprof run`.
#[test]
fn memprof_top_shows_the_program_and_then_its_summary() {
    let s = Scratch::new("live-top");
    let prog = s.c("grows.c", &[]);
    let capture = s.path("grows.mprof");
    let command = format!(
        "stty rows 30 cols 110; exec {} top -o {} -- {}",
        memprof().display(),
        capture.display(),
        prog.display()
    );
    let mut script = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .current_dir(&s.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("TERM", "xterm")
        .spawn()
        .expect("script (util-linux)");
    // Read the screen as it is drawn; quit once it shows the program's end.
    let mut stdout = script.stdout.take().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let screen = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // What a terminal of that size shows after the bytes written so far.
    let shown = || {
        let mut terminal = vt100::Parser::new(30, 110, 0);
        terminal.process(&screen.lock().unwrap());
        terminal.screen().contents()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let now = shown();
        if now
            .lines()
            .next()
            .is_some_and(|l| l.contains("exited with 0"))
        {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the display never showed the end: {now}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = last.lines().collect();
    assert!(
        lines[1].starts_with("heap 100.0 kB  peak 101.0 kB  allocations 150 ("),
        "{last}"
    );
    assert_eq!(lines[2], "top: keep 100.0 kB", "{last}");
    assert!(lines[4].starts_with("OWN"), "{last}");
    assert!(
        lines[5].starts_with("100.0 kB  100.0 kB  100.0% 150") && lines[5].ends_with(" keep"),
        "{last}"
    );
    assert_eq!(
        lines.last().unwrap().trim_end(),
        "s sort  / filter  t thread  p pause  r reset  k stop program  h help  q quit",
        "{last}"
    );
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"q").unwrap();
    drop(stdin);
    let status = script.wait().expect("script");
    reader.join().unwrap();
    let out = screen.lock().unwrap().clone();
    let screen = String::from_utf8_lossy(&out);
    assert!(status.success(), "{screen}");
    // After the display, the summary of `memprof run`.
    let summary = screen.rsplit("wrote").next().unwrap();
    assert!(summary.contains("allocations           150"), "{screen}");
    assert!(
        summary.contains("leaked at exit        100.0 kB"),
        "{screen}"
    );
}

#[test]
fn batch_mode_prints_the_table_until_the_program_ends() {
    let s = Scratch::new("live-batch");
    let prog = s.c("grows.c", &[]);
    let top = |format: &[&str]| {
        let out = Command::new(memprof())
            .current_dir(&s.dir)
            .args(["top", "--batch", "--interval", "0.2", "--rows", "3", "-q"])
            .args(format)
            .arg("--")
            .arg(&prog)
            .output()
            .expect("memprof top");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };

    let json = top(&["--json"]);
    let prints: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    // How many prints come while the program runs depends on idle CPU (the collector runs
    // on nothing else); the last one comes after it ended.
    assert!(!prints.is_empty(), "{json}");
    for pair in prints.windows(2) {
        assert!(pair[0]["time_ns"].as_u64() <= pair[1]["time_ns"].as_u64());
        assert!(pair[0]["allocations"].as_u64() <= pair[1]["allocations"].as_u64());
    }
    let last = prints.last().unwrap();
    assert_eq!(last["state"], serde_json::json!({"exited": 0}));
    assert_eq!(last["heap_bytes"], 100_000);
    assert_eq!(last["allocations"], 150);
    let functions = last["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 3);
    assert_eq!(functions[0]["name"], "keep");
    assert_eq!(functions[0]["own_bytes"], 100_000);
    assert_eq!(functions[0]["allocations"], 150);

    let text = top(&[]);
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let lines: Vec<&str> = last.lines().collect();
    assert!(lines[0].contains("exited with 0"), "{text}");
    assert!(
        lines[1].starts_with("heap 100.0 kB  peak 101.0 kB  allocations 150 ("),
        "{text}"
    );
    assert_eq!(lines[2], "top: keep 100.0 kB");
    assert!(lines[3].starts_with("OWN"), "{text}");
    assert!(
        lines[4].starts_with("100.0 kB  100.0 kB  100.0% 150") && lines[4].ends_with(" keep"),
        "{text}"
    );
    assert_eq!(lines.len(), 7, "{text}");
}

/// A function's own memory is what the program's code asked for: the allocator and the
/// standard library between it and `malloc` count in their totals only.
#[test]
fn own_memory_is_the_program_s_function_not_the_allocator_s() {
    let s = Scratch::new("live-languages");
    let cpp = s.compile("cpp.cpp", "g++", &["-O1", "-g"]);
    let rust = s.rust("rust.rs");
    for (name, prog, allocator, program) in [
        ("cpp", &cpp, "operator new(unsigned long)", "main"),
        ("rust", &rust, "alloc::alloc::alloc", "rust::main"),
    ] {
        let r = s.record(name, &["-q"], prog, &[]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let snap = follow_to_end(&r.capture).snapshot(None);
        let allocator = row(&snap, allocator);
        assert_eq!(allocator.own_bytes, 0, "{name}");
        assert!(allocator.allocations > 100, "{name}");
        let program = row(&snap, program);
        assert!(program.own_bytes > 0, "{name}: {:#?}", snap.functions);
        assert!(
            snap.functions
                .iter()
                .filter(|f| f.own_bytes > 0)
                .all(|f| !f.name.starts_with("std::") && !f.name.starts_with("<alloc::")),
            "{name}: {:#?}",
            snap.functions
        );
    }
}

#[test]
fn batch_mode_tells_a_crash_and_exits_with_the_program_s_status() {
    let s = Scratch::new("live-crash");
    let prog = s.c("crash.c", &[]);
    let out = Command::new(memprof())
        .current_dir(&s.dir)
        .args(["top", "--batch", "--rows", "1", "-q", "--"])
        .arg(&prog)
        .arg("segv")
        .output()
        .expect("memprof top");
    assert_eq!(out.status.code(), Some(128 + 11));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        last.lines().next().unwrap().contains("killed by signal 11"),
        "{text}"
    );
    assert!(
        last.lines()
            .nth(1)
            .unwrap()
            .starts_with("heap 1.0 MB  peak 1.0 MB  allocations 10,000"),
        "{text}"
    );
}

#[test]
fn a_corrupt_chunk_is_counted_and_left() {
    let s = Scratch::new("live-corrupt");
    let prog = s.c("holders.c", &[]);
    let r = s.record("holders", &["-q"], &prog, &[]);
    let mut bytes = std::fs::read(&r.capture).unwrap();
    // The first record of the first chunk (after the 4 KiB header and the chunk's header)
    // gets a tag no record has.
    bytes[4096 + 32] = 0xff;
    std::fs::write(&r.capture, &bytes).unwrap();
    let snap = follow_to_end(&r.capture).snapshot(None);
    assert_eq!(snap.corrupt_chunks, 1);
}

#[test]
fn the_latest_marker_is_shown_with_its_time() {
    let s = Scratch::new("live-markers");
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/../include");
    let prog = s.c("phases.c", &["-I", include]);
    let r = s.record("phases", &["-q"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let snap = follow_to_end(&r.capture).snapshot(None);
    let (label, ns) = snap.last_marker.expect("a marker");
    assert_eq!(label, "phase 3");
    assert!(ns <= snap.time_ns, "{ns} > {}", snap.time_ns);
    // Markers are not threads.
    assert_eq!(snap.thread_ids.len(), 1);
}

/// The terminal going away (SIGHUP, as when ssh or tmux closes it) ends the display instead
/// of leaving memprof spinning on a dead terminal.
#[test]
fn memprof_top_ends_when_its_terminal_hangs_up() {
    let s = Scratch::new("live-hangup");
    let prog = s.c("grows.c", &[]);
    let capture = s.path("grows.mprof");
    let command = format!(
        "stty rows 30 cols 110; exec {} top -o {} -- {} 100000",
        memprof().display(),
        capture.display(),
        prog.display()
    );
    let mut script = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let mut stdout = script.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("OWN") {
        let n = std::io::Read::read(&mut stdout, &mut buf).expect("the display");
        assert!(n > 0, "the display never came");
        seen.extend_from_slice(&buf[..n]);
    }
    // The pseudo-terminal's other end closes: a hangup for everything on it.
    script.kill().unwrap();
    script.wait().unwrap();
    let needle = capture.to_string_lossy().into_owned();
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains(&needle) && c.contains("top")
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while running() {
        assert!(
            Instant::now() < deadline,
            "memprof top outlived its terminal"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
