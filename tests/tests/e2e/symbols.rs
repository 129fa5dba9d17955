//! Stacks in reports: functions, files and lines, inlined frames, demangled names.

use std::path::Path;

use memprof_tests::{report_json_with, Scratch};
use serde_json::Value;

/// The 1-based line of the first line of `programs/<source>` containing `needle`.
fn line_of(source: &str, needle: &str) -> u64 {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("programs")
            .join(source),
    )
    .unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in source") as u64
        + 1
}

fn frames(stack: &Value) -> Vec<(String, String, u64, bool)> {
    stack["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["function"].as_str().unwrap_or("?").to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["inlined"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The frames of every stack of a report.
fn all_frames(report: &Value) -> Vec<(String, String, u64, bool)> {
    report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(frames)
        .collect()
}

#[test]
fn leaks_peak_and_temporaries_are_attributed_to_their_lines() {
    let s = Scratch::new("symbols");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &[], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let cases = [
        (
            "leaked",
            "leak_some",
            "sink = malloc(1000)",
            "leaked_bytes",
            30_000,
        ),
        (
            "peak",
            "peak",
            "held[i] = malloc(100000)",
            "peak_bytes",
            1_000_000,
        ),
        (
            "temporary",
            "temporaries",
            "sink = malloc(16)",
            "temporary",
            50,
        ),
    ];
    for (sort, function, needle, field, value) in cases {
        let v = report_json_with(&r.capture, &["--sort", sort, "--top", "1"]);
        let top = &v["stacks"][0];
        assert_eq!(top[field].as_u64(), Some(value), "{sort}: {top:#}");
        let f = frames(top);
        assert_eq!(f[0].0, function, "{sort}: {f:?}");
        assert!(f[0].1.ends_with("hooks.c"), "{f:?}");
        assert_eq!(f[0].2, line_of("hooks.c", needle), "{sort}: {f:?}");
        assert_eq!(f[1].0, "mode_leaks", "{f:?}");
        assert!(f.iter().any(|x| x.0 == "main"), "{f:?}");
    }
}

#[test]
fn no_symbols_leaves_the_names_to_the_first_analysis() {
    let s = Scratch::new("nosym");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("nosym", &["--no-symbols"], &prog, &["leaks"]);
    let capture = memprof_capture::Capture::open(&r.capture).unwrap();
    assert!(!capture.has_symbols());
    drop(capture);
    // The first report resolves the addresses and keeps the tables in the capture.
    for _ in 0..2 {
        let v = report_json_with(&r.capture, &["--sort", "leaked", "--top", "1"]);
        let frames = v["stacks"][0]["frames"].as_array().unwrap();
        assert!(
            frames.iter().any(|f| f["function"] == "mode_leaks"),
            "{frames:?}"
        );
    }
    assert!(memprof_capture::Capture::open(&r.capture)
        .unwrap()
        .has_symbols());
}

#[test]
fn cpp_names_are_demangled_with_inlined_frames() {
    let s = Scratch::new("cppsym");
    let prog = s.compile("cpp.cpp", "g++", &["-O2", "-g"]);
    let r = s.record("cpp", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let v = report_json_with(
        &r.capture,
        &["--sort", "allocations", "--top", "20", "--depth", "30"],
    );
    let all = all_frames(&v);
    assert!(
        all.iter().any(|f| f.0 == "operator new(unsigned long)"),
        "{all:?}"
    );
    assert!(
        all.iter().any(|f| f.3 && f.0.contains("std::vector<int")),
        "an inlined vector frame: {all:?}"
    );
    let main_line = line_of("cpp.cpp", "v.push_back(i)");
    assert!(
        all.iter()
            .any(|f| f.0 == "main" && f.1.ends_with("cpp.cpp") && f.2 == main_line),
        "{all:?}"
    );
}

#[test]
fn rust_names_are_demangled_with_inlined_frames() {
    let s = Scratch::new("rustsym");
    let prog = s.rust("rust.rs");
    let r = s.record("rust", &[], &prog, &[]);
    let v = report_json_with(
        &r.capture,
        &["--sort", "leaked", "--top", "5", "--depth", "40"],
    );
    let all = all_frames(&v);
    assert!(
        all.iter()
            .any(|f| f.0 == "rust::main" && f.1.ends_with("rust.rs")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .all(|f| !f.0.starts_with("_ZN") && !f.0.starts_with("_R")),
        "mangled: {all:?}"
    );
    // The leak: vec!'s allocation code (alloc::vec::from_elem and below) inlined into main,
    // at its line.
    let leak = frames(&v["stacks"][0]);
    assert_eq!(v["stacks"][0]["leaked_bytes"], 777);
    let inlined = leak.iter().position(|f| f.3 && f.0.starts_with("alloc::"));
    let main = leak.iter().position(|f| f.0 == "rust::main");
    assert!(inlined.is_some() && main.is_some(), "{leak:?}");
    assert!(inlined < main, "{leak:?}");
    let line = line_of("rust.rs", "Box::leak(vec![1u8; 777]");
    assert_eq!(leak[main.unwrap()].2, line, "{leak:?}");
}

/// Every distinct path gets its own stack with its exact count, by DWARF unwinding and by
/// frame pointers alike.
#[test]
fn sixteen_call_paths_are_sixteen_stacks_with_exact_counts() {
    let s = Scratch::new("paths");
    let prog = s.c("paths.c", &["-fno-omit-frame-pointer"]);
    let mut results = Vec::new();
    for unwind in ["dwarf", "fp"] {
        let r = s.record(unwind, &["--unwind", unwind], &prog, &[]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let v = report_json_with(
            &r.capture,
            &["--sort", "allocations", "--top", "100", "--depth", "7"],
        );
        let mut stacks: Vec<(u64, Vec<u64>)> = v["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["frames"][0]["function"] == "leaf")
            .map(|s| {
                (
                    s["allocations"].as_u64().unwrap(),
                    s["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f["address"].as_u64().unwrap() & 0xfff)
                        .collect(),
                )
            })
            .collect();
        stacks.sort();
        assert_eq!(stacks.len(), 16, "{unwind}: {stacks:?}");
        assert!(
            stacks.iter().all(|(n, _)| *n == 200),
            "{unwind}: {stacks:?}"
        );
        results.push(stacks);
    }
    assert_eq!(
        results[0], results[1],
        "DWARF and frame-pointer stacks differ"
    );
}

#[test]
fn export_writes_collapsed_stacks_and_a_flame_graph() {
    let s = Scratch::new("export");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &["-q"], &prog, &["leaks"]);
    let capture = r.capture.to_str().unwrap();
    let export = |format: &str, metric: &str| {
        let out =
            memprof_tests::memprof_ok(["export", "--format", format, "--metric", metric, capture]);
        String::from_utf8(out).unwrap()
    };
    let collapsed = export("collapsed", "leaked");
    assert_eq!(collapsed.lines().count(), 1, "{collapsed}");
    assert!(
        collapsed
            .trim_end()
            .ends_with("main;mode_leaks;leak_some 30000"),
        "{collapsed}"
    );
    let by_count = export("collapsed", "allocations");
    let total: u64 = by_count
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 90);
    let svg = export("svg", "bytes");
    assert!(
        svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("leak_some"),
        "{}",
        &svg[..200]
    );
    let json: serde_json::Value = serde_json::from_str(&export("json", "temporary")).unwrap();
    assert_eq!(json["stacks"][0]["temporary"], 50);
}

/// Debug info moved out of the executable (`objcopy --only-keep-debug`) is found through its
/// `.gnu_debuglink`, beside it or in `.debug/`; without it, `.symtab` still names functions.
#[test]
fn separate_debug_info_and_stripped_code() {
    let s = Scratch::new("debuglink");
    let prog = s.c("hooks.c", &[]);
    let objcopy = |args: &[&std::ffi::OsStr]| {
        let ok = std::process::Command::new("objcopy")
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "objcopy {args:?}");
    };
    std::fs::create_dir_all(s.path(".debug")).unwrap();
    let debug = s.path(".debug/hooks.debug");
    objcopy(&[
        "--only-keep-debug".as_ref(),
        prog.as_os_str(),
        debug.as_os_str(),
    ]);
    let stripped = s.path("hooks-stripped");
    let link = format!("--add-gnu-debuglink={}", debug.display());
    objcopy(&[
        "--strip-debug".as_ref(),
        link.as_ref(),
        prog.as_os_str(),
        stripped.as_os_str(),
    ]);
    let leak_line = line_of("hooks.c", "static void leak_some");
    let leak = |program: &std::path::Path, name: &str| {
        let r = s.record(name, &[], program, &["leaks"]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let v = report_json_with(&r.capture, &["--sort", "leaked", "--top", "1"]);
        frames(&v["stacks"][0])
    };
    let f = leak(&stripped, "linked");
    assert_eq!(f[0].0, "leak_some", "{f:?}");
    assert!(f[0].1.ends_with("hooks.c") && f[0].2 == leak_line, "{f:?}");

    // Without the debug file: function names from .symtab, no lines.
    std::fs::remove_file(&debug).unwrap();
    let f = leak(&stripped, "symtab");
    assert_eq!((f[0].0.as_str(), f[0].1.as_str()), ("main", ""), "{f:?}");
}
