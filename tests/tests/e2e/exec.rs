//! exec: the new program is recorded only with `--follow-exec`, into a capture of its own.

use memprof_tests::{memprof, summary_of, Scratch};

#[test]
fn an_execed_program_is_recorded_only_when_followed() {
    let s = Scratch::new("exec");
    let prog = s.c("exec.c", &[]);
    let hooks = s.c("hooks.c", &[]);
    let hooks_arg = hooks.to_str().unwrap();

    let r = s.record("plain", &[], &prog, &[hooks_arg, "malloc"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    // What the first program did before it exec'd; the second one is not recorded.
    r.summary()
        .expect(&[("allocations", 4), ("leaked_blocks", 4)]);
    assert_eq!(s.captures(), vec![r.capture.clone()]);

    let r = s.record(
        "followed",
        &["--follow-exec"],
        &prog,
        &[hooks_arg, "malloc"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let others = s.captures_named("memprof.hooks.");
    assert_eq!(others.len(), 1, "{others:?}");
    summary_of(&others[0]).expect(&[
        ("allocations", 100),
        ("frees", 100),
        ("bytes_allocated", 5050),
    ]);
}

#[test]
fn each_program_of_an_exec_chain_ends_by_exec_and_the_last_with_the_status() {
    let s = Scratch::new("exec-chain");
    let prog = s.c("exec.c", &[]);
    let hooks = s.c("hooks.c", &[]);
    let (prog_arg, hooks_arg) = (prog.to_str().unwrap(), hooks.to_str().unwrap());
    // exec.c execs exec.c, which execs hooks.c.
    let r = s.record(
        "chain",
        &["--follow-exec"],
        &prog,
        &[prog_arg, hooks_arg, "malloc"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let (second, last) = (
        s.captures_named("memprof.exec."),
        s.captures_named("memprof.hooks."),
    );
    assert_eq!((second.len(), last.len()), (1, 1), "{:?}", s.captures());
    for path in [&r.capture, &second[0]] {
        let summary = summary_of(path);
        assert!(summary.flag("replaced_by_exec"), "{:?}", summary.0);
        assert!(!summary.flag("truncated"), "{:?}", summary.0);
        summary.expect(&[("allocations", 4)]);
    }
    let summary = summary_of(&last[0]);
    assert!(!summary.flag("replaced_by_exec"), "{:?}", summary.0);
    assert!(!summary.flag("truncated"), "{:?}", summary.0);
    assert_eq!(summary.0["exit_code"], 0, "{:?}", summary.0);
}

#[test]
fn an_exec_chain_in_a_forked_child_is_marked_too() {
    let s = Scratch::new("exec-chain-fork");
    let prog = s.c("exec.c", &[]);
    let hooks = s.c("hooks.c", &[]);
    let script = format!(
        "'{0}' '{0}' '{1}' malloc; true",
        prog.display(),
        hooks.display()
    );
    let r = s.record(
        "shell",
        &["--follow-fork", "--follow-exec"],
        std::path::Path::new("/bin/bash"),
        &["-c", &script],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let children: Vec<_> = s
        .captures()
        .into_iter()
        .filter(|p| *p != r.capture)
        .collect();
    // The forked shell, the two exec.c programs and hooks.c, all of one process.
    assert_eq!(children.len(), 4, "{children:?}");
    for c in &children {
        let summary = summary_of(c);
        let name = c.file_name().unwrap().to_str().unwrap();
        assert!(!summary.flag("truncated"), "{name}: {:?}", summary.0);
        let last = name.starts_with("memprof.hooks.");
        assert_eq!(
            summary.flag("replaced_by_exec"),
            !last,
            "{name}: {:?}",
            summary.0
        );
    }
}

#[test]
fn a_child_that_runs_another_program_is_recorded_only_when_followed() {
    let s = Scratch::new("exec-child");
    // Each subshell forks and execs /bin/true; the captures get their default names.
    let run = |opts: &[&str]| {
        for c in s.captures() {
            std::fs::remove_file(c).unwrap();
        }
        let out = std::process::Command::new(memprof())
            .current_dir(s.path(""))
            .args(["run", "-q"])
            .args(opts)
            .args(["--", "/bin/sh", "-c", "(/bin/true); (/bin/true)"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        s.captures()
    };
    assert_eq!(run(&[]).len(), 1);
    assert_eq!(run(&["--follow-exec"]).len(), 3);
    let captures = run(&["--follow-fork"]);
    assert_eq!(captures.len(), 3, "{captures:?}");
    let children: Vec<_> = captures
        .iter()
        .map(|c| summary_of(c))
        .filter(|summary| summary.flag("replaced_by_exec"))
        .collect();
    // The forked shells went on as /bin/true, which was not followed.
    assert_eq!(children.len(), 2);
    for summary in children {
        assert!(!summary.flag("truncated"), "{:?}", summary.0);
    }
}
