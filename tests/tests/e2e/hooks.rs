//! Each allocator entry point, with exact counts.

use memprof_tests::{assert_matches_memcheck, memcheck, memprof_ok, report_json_with, Scratch};

fn record_mode(mode: &str) -> memprof_tests::Summary {
    let s = Scratch::new(mode);
    let prog = s.c("hooks.c", &[]);
    let r = s.record(mode, &[], &prog, &[mode]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.summary()
}

#[test]
fn malloc_and_free() {
    record_mode("malloc").expect(&[
        ("allocations", 100),
        ("frees", 100),
        ("bytes_allocated", 5050),
        ("peak_bytes", 5050),
        ("leaked_bytes", 0),
        ("leaked_blocks", 0),
        ("temporary_allocations", 1),
        ("failed_allocations", 0),
        ("threads", 1),
    ]);
}

#[test]
fn calloc_counts_nmemb_times_size() {
    record_mode("calloc").expect(&[
        ("allocations", 1),
        ("frees", 0),
        ("bytes_allocated", 63),
        ("leaked_bytes", 63),
        ("leaked_blocks", 1),
    ]);
}

#[test]
fn realloc_in_all_its_cases() {
    // realloc(NULL, 10), grow to 1000, shrink to 5, realloc(p, 0).
    record_mode("realloc").expect(&[
        ("allocations", 3),
        ("frees", 3),
        ("bytes_allocated", 1015),
        ("peak_bytes", 1000),
        ("leaked_blocks", 0),
        ("temporary_allocations", 3),
    ]);
}

#[test]
fn aligned_and_page_allocations() {
    record_mode("aligned").expect(&[
        ("allocations", 6),
        ("frees", 6),
        ("bytes_allocated", 578),
        ("leaked_blocks", 0),
        ("failed_allocations", 0),
    ]);
}

#[test]
fn failed_allocations_are_not_allocations() {
    record_mode("failures").expect(&[
        ("allocations", 0),
        ("frees", 0),
        ("bytes_allocated", 0),
        ("failed_allocations", 4),
    ]);
}

#[test]
fn leaks_peak_and_temporaries() {
    record_mode("leaks").expect(&[
        ("allocations", 90),
        ("frees", 60),
        ("bytes_allocated", 1_030_800),
        ("leaked_bytes", 30_000),
        ("leaked_blocks", 30),
        ("peak_bytes", 1_030_000),
        ("temporary_allocations", 51),
    ]);
}

#[test]
fn a_stack_deeper_than_max_depth_is_recorded() {
    let s = Scratch::new("deep");
    let prog = s.c("hooks.c", &[]);
    for depth in ["8", "1000"] {
        let r = s.record(
            &format!("deep{depth}"),
            &["--max-depth", depth],
            &prog,
            &["deep"],
        );
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let cut = u64::from(depth == "8");
        r.summary().expect(&[
            ("allocations", 1),
            ("frees", 1),
            ("temporary_allocations", 1),
            ("truncated_stacks", cut),
        ]);
        // The stack says so itself, in JSON and in the text.
        let j = report_json_with(&r.capture, &["--depth", depth]);
        assert_eq!(j["stacks"][0]["truncated_stacks"], cut);
        assert_eq!(
            j["stacks"][0]["frames"].as_array().unwrap().len() <= 8,
            depth == "8"
        );
        let text = memprof_ok(["report", r.capture.to_str().unwrap()]);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.contains("cut at --max-depth"), depth == "8", "{text}");
    }
}

#[test]
fn frame_pointer_mode_records_the_same_counts() {
    let s = Scratch::new("fp");
    let prog = s.c("hooks.c", &["-fno-omit-frame-pointer"]);
    let r = s.record("fp", &["--unwind", "fp"], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.summary()
        .expect(&[("allocations", 90), ("frees", 60), ("leaked_bytes", 30_000)]);
}

/// Not "aligned": valgrind 3.19 does not see glibc 2.36's aligned_alloc, valloc and pvalloc,
/// so its own figures are off there.
#[test]
fn every_mode_matches_memcheck() {
    let s = Scratch::new("memcheck");
    let prog = s.c("hooks.c", &[]);
    for mode in ["malloc", "calloc", "realloc", "leaks"] {
        let r = s.record(mode, &[], &prog, &[mode]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        assert_matches_memcheck(&r.summary(), &memcheck(&prog, &[mode]));
    }
}
