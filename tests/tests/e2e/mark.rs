//! `memprof mark PID LABEL` from another process while `memprof run` records.

use std::process::Command;
use std::time::{Duration, Instant};

use memprof_tests::{memprof, memprof_ok, report_json_with, Scratch};

#[test]
fn a_marker_set_from_outside_splits_the_phases() {
    let s = Scratch::new("mark");
    let prog = s.c("waits.c", &[]);
    let (pid_file, go_file, capture) = (s.path("pid"), s.path("go"), s.path("waits.mprof"));
    let mut run = Command::new(memprof())
        .args(["run", "-q", "-o"])
        .arg(&capture)
        .arg("--")
        .arg(&prog)
        .args([&pid_file, &go_file])
        .spawn()
        .unwrap();
    // The program writes its pid once its first phase is done.
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| p.ends_with('\n'))
        {
            break pid.trim().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    memprof_ok(["mark", &pid, "second phase"]);
    std::fs::write(&go_file, "").unwrap();
    assert!(run.wait().unwrap().success());

    let j = report_json_with(&capture, &["--from", "second phase"]);
    assert_eq!(j["summary"]["markers"], 1);
    let stacks = j["stacks"].as_array().unwrap();
    let count: u64 = stacks
        .iter()
        .map(|s| s["allocations"].as_u64().unwrap())
        .sum();
    let bytes: u64 = stacks.iter().map(|s| s["bytes"].as_u64().unwrap()).sum();
    assert_eq!((count, bytes), (50, 100_000));
    assert_eq!(stacks[0]["frames"][0]["function"], "second");
    let j = report_json_with(&capture, &["--to", "second phase"]);
    let first = j["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["frames"][0]["function"] == "first")
        .expect("first's stack before the marker");
    assert_eq!(first["allocations"], 100);

    // The live view reads markers set from outside too.
    let mut live = memprof_live::Collector::open(&capture, Box::new(Default::default)).unwrap();
    while !live.finished() {
        live.poll().unwrap();
    }
    let snap = live.snapshot(None);
    assert_eq!(
        snap.last_marker.map(|m| m.0).as_deref(),
        Some("second phase")
    );
    assert_eq!(snap.thread_ids.len(), 1);
}

#[test]
fn marking_a_process_that_is_not_recorded_fails_clearly() {
    let out = Command::new(memprof())
        .args(["mark", &std::process::id().to_string(), "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not being recorded by memprof"), "{err}");
}
