//! Signal handlers that allocate, frees in thread-exit destructors, thousands of threads,
//! posix_spawn: no crash, no deadlock, and the counts memcheck gives.

use memprof_tests::{assert_matches_memcheck, memcheck, Scratch};

fn record(mode: &str) -> (Scratch, std::path::PathBuf, memprof_tests::Summary) {
    let s = Scratch::new(mode);
    let prog = s.c("stress.c", &[]);
    let r = s.record(mode, &["-q"], &prog, &[mode]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    (s, prog, summary)
}

#[test]
fn allocating_signal_handlers_are_recorded_without_deadlock() {
    let (_s, _, summary) = record("signal");
    let allocations = summary.n("allocations");
    // The loop's own, plus one per signal handled.
    assert!(allocations > 300_000, "{allocations}");
    summary.expect(&[("frees", allocations), ("leaked_blocks", 0)]);
}

#[test]
fn frees_in_thread_exit_destructors_are_recorded() {
    let (_s, prog, summary) = record("tls");
    summary.expect(&[("leaked_blocks", 0), ("threads", 11)]);
    assert_matches_memcheck(&summary, &memcheck(&prog, &["tls"]));
}

#[test]
fn two_thousand_short_threads() {
    let (s, prog, summary) = record("threads");
    summary.expect(&[("threads", 2001), ("leaked_blocks", 0)]);
    assert_matches_memcheck(&summary, &memcheck(&prog, &["threads"]));
    // A thread's chunk costs disk only for what it wrote.
    let used = std::process::Command::new("du")
        .arg("-k")
        .arg(s.path("threads.mprof"))
        .output()
        .unwrap();
    let kib: u64 = String::from_utf8_lossy(&used.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(kib < 40_000, "{kib} KiB on disk for 2,001 threads");
}

#[test]
fn posix_spawn_children_are_not_recorded_into_the_parent() {
    let (s, prog, summary) = record("spawn");
    assert_matches_memcheck(&summary, &memcheck(&prog, &["spawn"]));
    let captures = std::fs::read_dir(&s.dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "mprof")
        })
        .count();
    assert_eq!(captures, 1);
}

#[test]
fn a_program_closing_every_descriptor_keeps_its_files_and_its_records() {
    let s = Scratch::new("fds");
    let prog = s.c("fds.c", &[]);
    let own = s.path("own.txt");
    let r = s.record("fds", &[], &prog, &["close", own.to_str().unwrap()]);
    // Exit 0: the file it opened as descriptor 3 holds only what it wrote.
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(std::fs::read(&own).unwrap(), b"only this\n");
    // Its records span many chunks, claimed after the capture's descriptor was closed.
    let summary = r.summary();
    summary.expect(&[
        ("allocations", 50_000),
        ("frees", 49_000),
        ("leaked_blocks", 1_000),
    ]);
    assert!(!summary.flag("truncated"));
}

#[test]
fn records_that_cannot_be_written_are_said_to_be_lost() {
    let s = Scratch::new("fds-moved");
    let prog = s.c("fds.c", &[]);
    let (own, capture, moved) = (s.path("own.txt"), s.path("m.mprof"), s.path("moved.mprof"));
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_string();
    // The program moves its capture away, then closes its descriptor: the capture cannot be
    // opened again to grow.
    let r = s.record(
        "m",
        &[],
        &prog,
        &["close", &arg(&own), &arg(&capture), &arg(&moved)],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = memprof_tests::summary_of(&moved);
    assert!(summary.flag("truncated"), "{:?}", summary.0);
    let why = summary.0["corruption"].as_str().unwrap_or_default();
    assert!(why.contains("records were lost"), "{why}");
    assert!(summary.n("allocations") < 50_000);
}

#[test]
fn a_shell_redirecting_the_capture_s_descriptor_number_keeps_its_output_and_the_capture() {
    let s = Scratch::new("fds-shell");
    let own = s.path("own.txt");
    // The script takes the number memprof's descriptor has, as a script that picks a number
    // of its own may, and writes through it while it allocates.
    let script = format!(
        r#"for f in /proc/$$/fd/*; do
             case $(readlink "$f") in *.mprof) n=${{f##*/}};; esac
           done
           [ -n "$n" ] || exit 3
           eval "exec $n>'{own}'"
           echo one >&$n
           for i in $(seq 1 20000); do a[$i]=$i; done
           echo two >&$n"#,
        own = own.display()
    );
    let r = s.record(
        "shell",
        &[],
        std::path::Path::new("/bin/bash"),
        &["-c", &script],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "one\ntwo\n");
    let summary = r.summary();
    assert!(summary.n("allocations") > 20_000, "{:?}", summary.0);
    assert!(!summary.flag("truncated"), "{:?}", summary.0);
}
