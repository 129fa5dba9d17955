//! The text report, pinned: its layout is what people read and paste.

use std::process::Command;

use memprof_tests::{memprof, Scratch};

/// The report with what changes from run to run (paths, pids, times) taken out.
fn normalized(report: &str) -> String {
    report
        .lines()
        .filter(|l| !l.starts_with("program") && !l.starts_with("duration"))
        .map(|l| match l.find(" at ") {
            Some(i) if l.starts_with("peak heap") => format!("{} at <time>", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn report_of_known_leaks_peak_and_temporaries() {
    let s = Scratch::new("snapshot");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &[], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0));
    for sort in ["leaked", "peak", "temporary", "bytes"] {
        let out = Command::new(memprof())
            .args(["report", "--sort", sort, "--top", "3", "--depth", "2"])
            .arg(&r.capture)
            .output()
            .unwrap();
        assert!(out.status.success());
        insta::assert_snapshot!(
            format!("report_leaks_by_{sort}"),
            normalized(&String::from_utf8_lossy(&out.stdout))
        );
    }
}

#[test]
fn call_tree_of_known_leaks() {
    let s = Scratch::new("tree-snapshot");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &[], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0));
    let out = Command::new(memprof())
        .args(["report", "--tree", "bottom-up", "--sort", "bytes"])
        .args(["--top", "3", "--depth", "2"])
        .arg(&r.capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(
        "tree_bottom_up_by_bytes",
        normalized(&String::from_utf8_lossy(&out.stdout))
    );
}
