//! fork: the child never writes into its parent's capture; `--follow-fork` gives it its own.

use memprof_tests::{summary_of, Scratch};

fn child_captures(s: &Scratch, parent: &std::path::Path) -> Vec<std::path::PathBuf> {
    s.captures().into_iter().filter(|p| p != parent).collect()
}

#[test]
fn an_unfollowed_child_records_nothing() {
    let s = Scratch::new("fork");
    let prog = s.c("fork.c", &[]);
    let r = s.record("parent", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.summary().expect(&[
        ("allocations", 15),
        ("frees", 10),
        ("leaked_blocks", 5),
        ("leaked_bytes", 100),
    ]);
    assert!(child_captures(&s, &r.capture).is_empty());
}

#[test]
fn a_followed_child_gets_its_own_capture() {
    let s = Scratch::new("fork-follow");
    let prog = s.c("fork.c", &[]);
    let r = s.record("parent", &["--follow-fork"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.summary().expect(&[
        ("allocations", 15),
        ("leaked_blocks", 5),
        ("leaked_bytes", 100),
    ]);
    let children = child_captures(&s, &r.capture);
    assert_eq!(children.len(), 1, "{children:?}");
    let name = children[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with("memprof.fork.") && name.ends_with(".mprof"),
        "{name}"
    );
    summary_of(&children[0]).expect(&[
        ("allocations", 7),
        ("leaked_blocks", 7),
        ("leaked_bytes", 231),
    ]);
}

#[test]
fn a_followed_child_s_capture_tells_how_it_exited() {
    let s = Scratch::new("fork-exit");
    let prog = s.c("fork.c", &[]);
    for (how, code) in [("exit", 3), ("_exit", 5), ("return", 7)] {
        let r = s.record(how, &["--follow-fork"], &prog, &[how, &code.to_string()]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let children = s.captures_named("memprof.");
        assert_eq!(children.len(), 1, "{children:?}");
        let child = summary_of(&children[0]);
        assert_eq!(child.0["exit_code"], code, "{how}: {:?}", child.0);
        // `_exit` runs no exit handler, but the capture is whole.
        assert!(!child.flag("truncated"), "{how}: {:?}", child.0);
        std::fs::remove_file(&children[0]).unwrap();
    }
}
