//! Threads, cross-thread frees and address reuse.

use memprof_tests::{assert_matches_memcheck, memcheck, report_json_with, Scratch};
use serde_json::Value;

#[test]
fn threads_with_cross_thread_frees_match_memcheck() {
    let s = Scratch::new("threads");
    let prog = s.c("threads.c", &[]);
    let r = s.record("threads", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    summary.expect(&[("threads", 5), ("leaked_blocks", 0)]);
    // 6000 by the program, plus what glibc allocates for each thread it creates.
    assert!(summary.n("allocations") >= 6000);
    assert_matches_memcheck(&summary, &memcheck(&prog, &[]));
}

#[test]
fn repeated_runs_of_a_threaded_program_agree() {
    let s = Scratch::new("threads-repeat");
    let prog = s.c("threads.c", &[]);
    let first = s.record("a", &[], &prog, &[]).summary();
    for i in 0..3 {
        let again = s.record(&format!("b{i}"), &[], &prog, &[]).summary();
        for f in [
            "allocations",
            "frees",
            "bytes_allocated",
            "leaked_blocks",
            "untracked_frees",
        ] {
            assert_eq!(first.n(f), again.n(f), "{f} differs between runs");
        }
    }
}

#[test]
fn per_thread_figures_and_one_thread_s_stacks() {
    let s = Scratch::new("threads-split");
    let prog = s.c("threads.c", &[]);
    let r = s.record("threads", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let j = report_json_with(&r.capture, &[]);
    let threads = j["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 5);
    // Each worker allocates 1000 blocks that the next worker frees, then 500 of its own.
    let workers: Vec<&Value> = threads
        .iter()
        .filter(|t| t["allocations"].as_u64() == Some(1500))
        .collect();
    assert_eq!(workers.len(), 4, "{threads:#?}");
    for w in &workers {
        assert_eq!(w["freed_by_other_threads"], 1000);
        assert_eq!(w["temporary"], 500);
        assert_eq!(w["leaked_blocks"], 0);
    }
    let by_others: u64 = threads
        .iter()
        .map(|t| t["freed_by_other_threads"].as_u64().unwrap())
        .sum();
    assert_eq!(j["summary"]["cross_thread_frees"].as_u64(), Some(by_others));
    assert!(by_others >= 4000);

    // One worker's stacks: all its allocations, in the worker function.
    let tid = workers[0]["thread"].to_string();
    let j = report_json_with(&r.capture, &["--thread", &tid, "--sort", "allocations"]);
    assert_eq!(j["thread"].to_string(), tid);
    let stacks = j["stacks"].as_array().unwrap();
    let total: u64 = stacks
        .iter()
        .map(|s| s["allocations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1500);
    assert!(stacks
        .iter()
        .all(|s| s["frames"][0]["function"] == "worker"));
}

#[test]
fn an_unknown_thread_is_refused_with_the_known_ones() {
    let s = Scratch::new("threads-unknown");
    let prog = s.c("threads.c", &[]);
    let r = s.record("threads", &[], &prog, &[]);
    let out = std::process::Command::new(memprof_tests::memprof())
        .args(["report", "--thread", "1"])
        .arg(&r.capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("memprof: no thread 1 in ") && err.contains("its threads: "),
        "{err}"
    );
}

#[test]
fn a_thread_whose_first_allocation_is_inside_pthread_getattr_np() {
    let s = Scratch::new("threads-getattr");
    let prog = s.c("getattr.c", &[]);
    let r = s.record("getattr", &[], &prog, &[]);
    // A deadlock ends with the program's alarm (142).
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let j = report_json_with(&r.capture, &["--sort", "allocations", "--top", "50"]);
    assert_eq!(j["summary"]["threads"], 5);
    assert_eq!(j["summary"]["leaked_blocks"], 0);
    // The workers' own blocks, unwound out to the thread's first frame.
    let ours: Vec<&Value> = j["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["frames"][0]["function"] == "worker")
        .collect();
    assert_eq!(ours.len(), 1, "{:#}", j["stacks"]);
    assert_eq!(ours[0]["allocations"], 4);
    assert_eq!(ours[0]["bytes"], 400);
    let functions: Vec<&str> = ours[0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(functions[..2], ["worker", "start_thread"], "{functions:?}");
}
