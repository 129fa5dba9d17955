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

fn diff_json(args: &[&std::ffi::OsStr]) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(memprof())
        .arg("diff")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn diff_between_two_markers_shows_the_growth_per_stack() {
    let s = Scratch::new("diff1");
    let cap = phases(&s);
    let (code, v, err) = diff_json(&[
        cap.as_os_str(),
        "--from".as_ref(),
        "phase 2".as_ref(),
        "--to".as_ref(),
        "phase 3".as_ref(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let stacks = v["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 1, "{v:#}");
    let row = &stacks[0];
    assert_eq!(row["frames"][0]["function"], "phase2");
    assert_eq!(row["live_bytes"], serde_json::json!([0, 100_000]));
    assert_eq!(row["live_blocks"], serde_json::json!([0, 50]));
    assert_eq!(row["new_live_bytes"], 100_000);
}

#[test]
fn diff_of_two_runs_matches_stacks_by_symbol() {
    let s = Scratch::new("diff2");
    let prog = s.c("hooks.c", &[]);
    let a = s.record("a", &["-q"], &prog, &["malloc"]).capture;
    let b = s.record("b", &["-q"], &prog, &["leaks"]).capture;
    let (code, v, err) = diff_json(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    let row = &v["stacks"][0];
    assert_eq!(row["frames"][0]["function"], "leak_some", "{v:#}");
    assert_eq!(row["live_bytes"], serde_json::json!([0, 30_000]));
    // Two runs of the same thing differ in nothing.
    let a2 = s.record("a2", &["-q"], &prog, &["malloc"]).capture;
    let (_, v, _) = diff_json(&[a.as_os_str(), a2.as_os_str()]);
    assert_eq!(v["stacks"].as_array().unwrap().len(), 0, "{v:#}");
    // Different programs are refused.
    let other = phases(&s);
    let (code, _, err) = diff_json(&[a.as_os_str(), other.as_os_str()]);
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
}
