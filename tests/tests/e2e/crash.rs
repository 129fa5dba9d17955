//! A program killed or crashing keeps every record made before.

use memprof_tests::Scratch;

fn crash(how: &str, code: i32) {
    let s = Scratch::new(how);
    let prog = s.c("crash.c", &[]);
    let r = s.record(how, &[], &prog, &[how]);
    assert_eq!(r.code(), Some(code), "{}", r.stderr());
    let summary = r.summary();
    summary.expect(&[
        ("allocations", 10_000),
        ("leaked_blocks", 10_000),
        ("leaked_bytes", 1_000_000),
    ]);
    assert!(
        summary.flag("truncated"),
        "a capture of a program that died must say it was cut short"
    );
}

#[test]
fn sigkill_keeps_every_record() {
    crash("kill", 137);
}

#[test]
fn abort_keeps_every_record() {
    crash("abort", 134);
}

#[test]
fn sigsegv_keeps_every_record() {
    crash("segv", 139);
}

#[test]
fn underscore_exit_is_complete_but_skips_exit_handlers() {
    let s = Scratch::new("uexit");
    let prog = s.c("crash.c", &[]);
    let r = s.record("uexit", &[], &prog, &["_exit"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    summary.expect(&[("allocations", 10_000), ("leaked_blocks", 10_000)]);
    assert!(!summary.flag("truncated"));
}
