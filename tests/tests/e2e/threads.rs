//! Threads, cross-thread frees and address reuse.

use memprof_tests::{assert_matches_memcheck, memcheck, Scratch};

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
