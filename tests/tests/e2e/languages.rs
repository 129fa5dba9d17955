//! dlopen'ed code, C++ and Rust programs, checked against memcheck.

use memprof_tests::{assert_matches_memcheck, memcheck, Scratch};

#[test]
fn dlopen_and_dlclose_match_memcheck() {
    let s = Scratch::new("dlopen");
    let lib_so = s.plugin("libplugin.so");
    let prog = s.c("dlopen_main.c", &["-ldl"]);
    let arg = lib_so.to_str().unwrap();
    let r = s.record("dlopen", &[], &prog, &[arg]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    // The plugin's own calls: 3 allocations per round, two rounds, all freed.
    assert!(summary.n("allocations") >= 6);
    // Its module was seen, with the build-id gcc gave it, and its unloading (noticed at the
    // latest when the program exits).
    let plugin: Vec<_> = r
        .modules()
        .into_iter()
        .filter(|m| m["path"].as_str().unwrap().ends_with("libplugin.so"))
        .collect();
    assert!(!plugin.is_empty(), "{:?}", r.modules());
    assert!(
        plugin
            .iter()
            .all(|m| m["build_id"].as_str().unwrap().len() == 40),
        "{plugin:?}"
    );
    assert!(plugin[0]["unloaded_ns"].is_u64(), "{plugin:?}");
    assert_matches_memcheck(&summary, &memcheck(&prog, &[arg]));
}

#[test]
fn cpp_new_and_delete_match_memcheck() {
    let s = Scratch::new("cpp");
    let prog = s.compile("cpp.cpp", "g++", &["-O1", "-g"]);
    let r = s.record("cpp", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    // The one leaked Node (32 bytes) is all that remains: libstdc++'s emergency pool is
    // released at exit.
    summary.expect(&[("leaked_blocks", 1), ("leaked_bytes", 32)]);
    assert_matches_memcheck(&summary, &memcheck(&prog, &[]));
}

#[test]
fn rust_program_matches_memcheck() {
    let s = Scratch::new("rust");
    let prog = s.rust("rust.rs");
    let r = s.record("rust", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let summary = r.summary();
    // The 777 bytes leaked on purpose, and what the standard library keeps for the main
    // thread until the end.
    assert!(summary.n("leaked_bytes") >= 777);
    assert_matches_memcheck(&summary, &memcheck(&prog, &[]));
}
