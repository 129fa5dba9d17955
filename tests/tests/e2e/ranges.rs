//! Markers and time ranges in reports.

use std::process::Command;

use memprof_tests::{memprof, report_json_with, Scratch};

fn phases(s: &Scratch) -> std::path::PathBuf {
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/../include");
    let prog = s.c("phases.c", &["-I", include]);
    let r = s.record("phases", &["-q"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.capture
}

fn top(v: &serde_json::Value) -> (&str, u64, u64, u64) {
    let s = &v["stacks"][0];
    (
        s["frames"][0]["function"].as_str().unwrap_or("?"),
        s["allocations"].as_u64().unwrap(),
        s["bytes"].as_u64().unwrap(),
        s["leaked_bytes"].as_u64().unwrap(),
    )
}

#[test]
fn markers_bound_the_growth_between_them() {
    let s = Scratch::new("ranges");
    let cap = phases(&s);
    let whole = report_json_with(&cap, &[]);
    assert_eq!(whole["summary"]["markers"], 2);
    // Between the markers: phase 2 alone, 100,000 bytes still live at "phase 3".
    let v = report_json_with(
        &cap,
        &["--from", "phase 2", "--to", "phase 3", "--sort", "leaked"],
    );
    assert_eq!(top(&v), ("phase2", 50, 100_000, 100_000), "{v:#}");
    let v = report_json_with(
        &cap,
        &[
            "--from",
            "phase 2",
            "--to",
            "phase 3",
            "--sort",
            "allocations",
        ],
    );
    let total: u64 = v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["allocations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 70);
    // The heap at "phase 2": phase 1's blocks.
    let v = report_json_with(&cap, &["--at", "phase 2", "--sort", "leaked"]);
    assert_eq!(top(&v), ("phase1", 100, 100_000, 100_000), "{v:#}");
    // From "phase 3" to the end nothing new is allocated; at the end only phase 2's blocks
    // are leaked.
    let v = report_json_with(&cap, &["--sort", "leaked"]);
    assert_eq!(top(&v), ("phase2", 50, 100_000, 100_000));
    assert_eq!(v["summary"]["leaked_bytes"], 100_000);
}

#[test]
fn unknown_markers_and_times_past_the_end_are_refused() {
    let s = Scratch::new("badrange");
    let cap = phases(&s);
    for args in [
        &["--at", "phase 9"][..],
        &["--from", "100s"],
        &["--from", "phase 3", "--to", "phase 2"],
    ] {
        let out = Command::new(memprof())
            .arg("report")
            .args(args)
            .arg(&cap)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("memprof: "), "{err}");
    }
    let out = Command::new(memprof())
        .args(["report", "--at", "phase 9"])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("phase 2, phase 3"));
}
