//! The heap index `memprof run` builds while the program runs is the index a replay of the
//! sealed capture builds, and the summary either counts on the way is the one a read of the
//! sealed capture gives.

use std::process::{Command, Stdio};
use std::time::Duration;

use memprof_capture::{Capture, HeapIndex, Summary};
use memprof_live::{Holdback, LiveIndex};
use memprof_tests::{memprof, summary_of, Scratch};

/// A [`LiveIndex`] of the capture at `path`, with a holdback no scheduler delay reaches, so
/// that it is never given up here.
fn follow(path: &std::path::Path) -> LiveIndex {
    let holdback = Holdback {
        alone_ns: 60_000_000_000,
        shared_ns: 60_000_000_000,
    };
    LiveIndex::open(path, Box::new(crate::live::clock), holdback).expect("open")
}

/// Records `program args` with `memprof run -q` (which builds no index) while a
/// [`LiveIndex`] follows the capture, and requires the live index and summary to be those of
/// the sealed capture; returns the capture, with the live index appended.
fn record_following(
    s: &Scratch,
    name: &str,
    program: &std::path::Path,
    args: &[&str],
) -> std::path::PathBuf {
    let capture = s.path(&format!("{name}.mprof"));
    let mut child = Command::new(memprof())
        .args(["run", "-q", "--no-symbols", "-o"])
        .arg(&capture)
        .arg("--")
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("run memprof");
    let mut live = follow(&capture);
    while child.try_wait().expect("wait").is_none() {
        live.poll().expect("poll");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(child.wait().expect("wait").success());

    let sealed = Capture::open(&capture).expect("open the capture");
    assert!(!HeapIndex::is_in(&sealed));
    let (index, summary) = live
        .finish(&sealed)
        .expect("the live index takes every record of the sealed capture");
    let read = Summary::of(&sealed);
    assert_eq!(summary, read);
    // So does the build from the sealed capture, when the live index was given up.
    assert_eq!(HeapIndex::build(&sealed).summary(), Some(&read));
    let rebuilt = s.path(&format!("{name}.rebuilt.mprof"));
    std::fs::copy(&capture, &rebuilt).expect("copy");
    index.append_to(&capture).expect("append the live index");
    let copy = Capture::open(&rebuilt).expect("open the copy");
    HeapIndex::build(&copy)
        .append_to(&rebuilt)
        .expect("append the built index");
    assert!(
        std::fs::read(&capture).unwrap() == std::fs::read(&rebuilt).unwrap(),
        "the index built during the run differs from the one built after it"
    );
    capture
}

#[test]
fn index_built_during_a_threaded_run_is_the_replay_of_its_capture() {
    let s = Scratch::new("index-handoff");
    let prog = s.c("handoff.c", &[]);
    let capture = record_following(&s, "handoff", &prog, &["100000"]);
    let summary = summary_of(&capture);
    // 200,000 handed over, 66,667 of them grown, 100,000 of the main thread's own, and
    // libc's thread set-up.
    assert!(summary.n("allocations") >= 366_667, "{summary:?}");
    assert_eq!(summary.n("allocations") - summary.n("frees"), 10);
    assert_eq!(summary.n("leaked_blocks"), 10);
    assert!(summary.n("cross_thread_frees") >= 199_990, "{summary:?}");
}

#[test]
fn index_built_during_a_run_with_address_reuse_is_the_replay_of_its_capture() {
    let s = Scratch::new("index-churn");
    let prog = s.c("churn.c", &[]);
    record_following(&s, "churn", &prog, &[]);
}

#[test]
fn summary_counted_during_a_run_has_every_figure_of_the_capture() {
    let s = Scratch::new("index-figures");
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/../include");
    let phases = s.c("phases.c", &["-I", include]);
    let capture = record_following(&s, "phases", &phases, &[]);
    let summary = summary_of(&capture);
    assert_eq!(summary.n("markers"), 2, "{summary:?}");
    assert_eq!(summary.n("temporary_allocations"), 20, "{summary:?}");
    let hooks = s.c("hooks.c", &[]);
    let modes = ["failures", "deep", "leaks", "realloc", "aligned"];
    let capture = record_following(&s, "hooks", &hooks, &modes);
    let summary = summary_of(&capture);
    assert_eq!(summary.n("failed_allocations"), 4, "{summary:?}");
    assert_eq!(summary.n("truncated_stacks"), 1, "{summary:?}");
    assert_eq!(summary.n("leaked_blocks"), 30, "{summary:?}");
}

#[test]
fn memprof_run_prints_the_figures_of_the_index_it_built_during_the_run() {
    let s = Scratch::new("index-run");
    let prog = s.c("handoff.c", &[]);
    let r = s.record("handoff", &[], &prog, &["20000"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let capture = Capture::open(&r.capture).expect("open");
    let stored = HeapIndex::of(&capture);
    assert!(stored.is_stored());
    let built = HeapIndex::build(&capture);
    assert_eq!(
        (
            stored.peak_bytes,
            stored.peak_time,
            stored.untracked_frees,
            stored.lost_frees
        ),
        (
            built.peak_bytes,
            built.peak_time,
            built.untracked_frees,
            built.lost_frees
        )
    );
    assert_eq!(stored.series, built.series);
    let printed = r.stderr();
    assert!(printed.contains("in 10 blocks"), "{printed}");
}

#[test]
fn addresses_are_resolved_while_the_program_runs() {
    let s = Scratch::new("index-ahead");
    let plugin = s.plugin("libgone.so");
    let prog = s.c("plugin_gone.c", &["-ldl"]);
    let go = s.path("go");
    let capture = s.path("gone.mprof");
    let mut child = Command::new(memprof())
        .args(["run", "-q", "--no-symbols", "-o"])
        .arg(&capture)
        .arg("--")
        .arg(&prog)
        .arg(&plugin)
        .arg(&go)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run memprof");
    let mut out = child.stdout.take().unwrap();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = [0u8; 6];
        let read = std::io::Read::read_exact(&mut out, &mut line);
        let _ = ready_tx.send(read.is_ok() && &line == b"ready\n");
    });
    let mut live = follow(&capture).resolving_symbols();
    let poll_for = |live: &mut LiveIndex, d: Duration| {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            live.poll().expect("poll");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    while ready.try_recv().is_err() {
        poll_for(&mut live, Duration::from_millis(2));
    }
    // Every record of the plugin's calls is committed: read them and resolve their addresses.
    poll_for(&mut live, Duration::from_millis(300));
    std::fs::write(&go, b"").unwrap();
    assert!(child.wait().expect("wait").success());
    assert!(!plugin.exists());

    let mut warm = live.take_symbolizer().expect("resolving");
    let sealed = Capture::open(&capture).expect("open the capture");
    let (stacks, modules) = sealed.stacks_and_modules();
    let m = modules
        .iter()
        .find(|m| m.path.ends_with("libgone.so"))
        .expect("the plugin's module");
    let ips: Vec<u64> = stacks
        .addresses()
        .into_iter()
        .filter(|&ip| m.contains(ip - 1))
        .collect();
    assert!(!ips.is_empty());
    for ip in ips {
        let vaddr = ip - 1 - m.base;
        // The file is gone: only what was read of it during the run names its code.
        assert_eq!(
            memprof_symbols::Symbolizer::default().resolve(&m.path, &m.build_id, vaddr),
            Err(memprof_symbols::Unresolved::Missing)
        );
        let frames = warm.resolve(&m.path, &m.build_id, vaddr).expect("resolved");
        assert_eq!(
            frames[0].function.as_deref(),
            Some("plugin_work"),
            "{frames:?}"
        );
    }
}
