//! The command line's contract: exit codes and one-line errors.

use std::os::unix::process::CommandExt;
use std::process::Command;

use memprof_tests::{memprof, Scratch};

fn run(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(memprof())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_line_error(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "expected one line: {stderr:?}");
    assert!(stderr.starts_with("memprof: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

#[test]
fn the_program_exit_status_is_passed_on() {
    let s = Scratch::new("exit3");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("exit3", &["-q"], &prog, &["exit3"]);
    assert_eq!(r.code(), Some(3));
    assert_eq!(r.stderr(), "");
}

#[test]
fn a_missing_program_exits_127() {
    let s = Scratch::new("missing");
    let (code, _, err) = run(&["run", "--", "./no-such-program"], &s.dir);
    assert_eq!(code, Some(127));
    one_line_error(&err);
    let (code, _, err) = run(&["no-such-program-anywhere-xyz"], &s.dir);
    assert_eq!(code, Some(127));
    one_line_error(&err);
}

#[test]
fn a_file_that_is_not_executable_exits_126() {
    let s = Scratch::new("noexec");
    std::fs::write(s.path("data.txt"), "hello").unwrap();
    let (code, _, err) = run(&["run", "./data.txt"], &s.dir);
    assert_eq!(code, Some(126));
    one_line_error(&err);
}

#[test]
fn a_static_program_is_refused_with_the_reason() {
    let s = Scratch::new("static");
    let src = s.path("s.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let out = s.path("static-prog");
    let ok = Command::new("gcc")
        .args(["-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "gcc -static needs libc6-dev's libc.a");
    let (code, _, err) = run(&["run", out.to_str().unwrap()], &s.dir);
    assert_eq!(code, Some(2));
    one_line_error(&err);
    assert!(err.contains("statically linked"), "{err}");
}

#[test]
fn an_unwritable_output_is_refused() {
    let s = Scratch::new("unwritable");
    let (code, _, err) = run(
        &["run", "-o", "/proc/memprof-cannot-write-here.mprof", "true"],
        &s.dir,
    );
    assert_eq!(code, Some(2));
    one_line_error(&err);
    let (code, _, err) = run(&["run", "-o", "/dev/null", "true"], &s.dir);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a regular file"), "{err}");
    one_line_error(&err);
}

#[test]
fn bad_captures_give_one_line_and_status_2() {
    let s = Scratch::new("bad");
    std::fs::write(s.path("empty.mprof"), "").unwrap();
    std::fs::write(s.path("foreign.mprof"), "this is not a capture at all").unwrap();
    let mut header = memprof_format_magic();
    header.extend_from_slice(&[9, 0, 0, 0]);
    std::fs::write(s.path("future.mprof"), &header).unwrap();
    for f in [
        "empty.mprof",
        "foreign.mprof",
        "future.mprof",
        "missing.mprof",
    ] {
        let (code, out, err) = run(&["report", f], &s.dir);
        assert_eq!(code, Some(2), "{f}");
        assert_eq!(out, "", "{f}");
        one_line_error(&err);
    }
}

fn memprof_format_magic() -> Vec<u8> {
    b"MEMPROF\0".to_vec()
}

#[test]
fn a_truncated_capture_reads_up_to_its_last_whole_record() {
    let s = Scratch::new("truncated");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("full", &[], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0));
    let bytes = std::fs::read(&r.capture).unwrap();
    // Cut inside the first chunk's records: fewer events, no error.
    let cut = s.path("cut.mprof");
    std::fs::write(&cut, &bytes[..4096 + 32 + 300]).unwrap();
    let (code, out, err) = run(&["report", "--json", "cut.mprof"], &s.dir);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["summary"]["allocations"].as_u64().unwrap() < 90);
    // The program finished, but the file says that records are missing.
    assert_eq!(v["summary"]["truncated"], true);
    let why = v["summary"]["corruption"].as_str().unwrap();
    assert!(why.contains("ends at offset 4428"), "{why}");
    let (_, text, _) = run(&["report", "cut.mprof"], &s.dir);
    assert!(text.contains("yes: records are missing"), "{text}");
}

#[test]
fn report_into_a_closed_pipe_exits_quietly() {
    let s = Scratch::new("pipe");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("p", &[], &prog, &["malloc"]);
    // The JSON writer reports a closed pipe in an error of its own.
    for options in ["", "--json --timeline=1000"] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{}' report {options} '{}' | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
                memprof().display(),
                r.capture.display()
            ))
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).is_empty(),
            "{options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{options}");
    }
}

#[test]
fn memprof_program_is_memprof_run_and_memprof_capture_is_report() {
    let s = Scratch::new("shorthand");
    let prog = s.c("hooks.c", &[]);
    let out = Command::new(memprof())
        .current_dir(&s.dir)
        .arg(&prog)
        .arg("malloc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let capture = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mprof"))
        .expect("a capture named memprof.hooks.<pid>.mprof");
    assert!(capture
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("memprof.hooks."));
    let (code, out, _) = run(&[capture.to_str().unwrap()], &s.dir);
    assert_eq!(code, Some(0));
    assert!(out.contains("allocations") && out.contains("100"), "{out}");
}

#[test]
fn thresholds_fail_the_report_with_a_clear_message() {
    let s = Scratch::new("thresholds");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &["-q"], &prog, &["leaks"]);
    let cap = r.capture.to_str().unwrap();
    // 30,000 B leaked, 1,030,000 B peak.
    let (code, _, _) = run(
        &[
            "report",
            "--fail-if-leaked",
            "30000",
            "--fail-if-peak",
            "1.1MB",
            cap,
        ],
        &s.dir,
    );
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&["report", "--fail-if-leaked", "29999", cap], &s.dir);
    assert_eq!(code, Some(1));
    one_line_error(&err);
    assert!(err.contains("leaked 30,000 B"), "{err}");
    let (code, _, err) = run(&["report", "--json", "--fail-if-peak", "1MiB", cap], &s.dir);
    assert_eq!(code, Some(0), "1 MiB is more than 1,030,000 B: {err}");
    let (code, _, err) = run(&["report", "--fail-if-peak", "1MB", cap], &s.dir);
    assert_eq!(code, Some(1));
    assert!(err.contains("peaked at 1,030,000 B"), "{err}");
    let (code, _, err) = run(&["report", "--fail-if-peak", "lots", cap], &s.dir);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_program_with_its_own_malloc_is_said_to_be_out_of_reach() {
    let s = Scratch::new("own-malloc");
    let prog = s.c("own_malloc.c", &[]);
    let r = s.record("own", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(r.stderr().contains("has its own malloc"), "{}", r.stderr());
    // A program that uses glibc's is not warned about.
    let hooks = s.c("hooks.c", &[]);
    let r = s.record("glibc", &[], &hooks, &["malloc"]);
    assert!(!r.stderr().contains("its own malloc"), "{}", r.stderr());
}

#[test]
fn an_interrupt_to_the_process_group_reaches_the_program_once() {
    let s = Scratch::new("interrupt");
    let prog = s.c("interrupt.c", &[]);
    let mut child = Command::new(memprof())
        .args(["run", "-q", "-o"])
        .arg(s.path("i.mprof"))
        .arg("--")
        .arg(&prog)
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Once the program has its handler, interrupt the group, as a terminal or `timeout -s
    // INT` does: memprof stays, and does not pass a second one on.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "interrupted 1 time(s)\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_capture_another_run_is_writing_is_refused() {
    let s = Scratch::new("cli-busy");
    let prog = s.c("waits.c", &[]);
    let (pid_file, go_file) = (s.path("pid"), s.path("go"));
    let mut first = Command::new(memprof())
        .current_dir(s.path(""))
        .args(["run", "-q", "-o", "busy.mprof", "--"])
        .arg(&prog)
        .args([&pid_file, &go_file])
        .spawn()
        .unwrap();
    // The first program is recording once it wrote its pid.
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')) {
        assert!(start.elapsed().as_secs() < 60, "the program never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (code, _, err) = run(&["run", "-o", "busy.mprof", "--", "true"], &s.path(""));
    assert_eq!(code, Some(2), "{err}");
    one_line_error(&err);
    assert!(err.contains("another memprof run"), "{err}");

    std::fs::write(&go_file, "").unwrap();
    assert!(first.wait().unwrap().success());
    let summary = memprof_tests::summary_of(&s.path("busy.mprof"));
    // Its 150 blocks, and the FILE it wrote its pid with.
    summary.expect(&[("allocations", 152), ("frees", 2), ("leaked_blocks", 150)]);
    // Once the run is over, the path is free again.
    let (code, _, err) = run(
        &["run", "-q", "-o", "busy.mprof", "--", "true"],
        &s.path(""),
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn report_options_read_as_written() {
    let s = Scratch::new("cli-options");
    let (code, _, err) = run(&["run", "-q", "-o", "t.mprof", "--", "ls"], &s.dir);
    assert_eq!(code, Some(0), "{err}");
    // An optional column count does not swallow the capture.
    for args in [
        &["report", "--timeline", "t.mprof"][..],
        &["report", "--timeline=20", "t.mprof"],
        &["report", "--at", "start", "t.mprof"],
    ] {
        let (code, out, err) = run(args, &s.dir);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.starts_with("program"), "{args:?}: {out}");
    }
    for args in [
        &["report", "--depth", "0", "t.mprof"][..],
        &["report", "--timeline=0", "t.mprof"],
    ] {
        let (code, _, err) = run(args, &s.dir);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("at least 1"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_standard_stream_stays_closed_for_the_program() {
    let s = Scratch::new("cli-closed");
    let code = |command: &mut Command| {
        // SAFETY: close(2) in the child before exec, async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::close(1);
                Ok(())
            })
        };
        command.current_dir(&s.dir).status().unwrap().code()
    };
    // echo fails on a closed stdout.
    let native = code(Command::new("sh").args(["-c", "echo hi"]));
    assert_eq!(native, Some(1));
    let recorded = code(
        Command::new(memprof()).args(["run", "-q", "-o", "c.mprof", "--", "sh", "-c", "echo hi"]),
    );
    assert_eq!(recorded, native);
}

#[test]
fn a_program_that_execs_another_says_how_to_record_that_one() {
    let s = Scratch::new("cli-exec-hint");
    let (code, _, err) = run(
        &["run", "-o", "e.mprof", "--", "sh", "-c", "exec true"],
        &s.dir,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("add --follow-exec"), "{err}");
    let (code, _, err) = run(
        &[
            "run",
            "--follow-exec",
            "-o",
            "f.mprof",
            "--",
            "sh",
            "-c",
            "exec true",
        ],
        &s.dir,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("add --follow-exec"), "{err}");
}
