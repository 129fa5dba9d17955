//! `report --tree`, `--callers` and `--callees`: figures gathered by function.

use memprof_tests::{report_json_with, Recording, Scratch};
use serde_json::Value;

/// hooks.c's known leaks, peak and temporaries, recorded.
fn leaks(name: &str) -> (Scratch, Recording) {
    let s = Scratch::new(name);
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &[], &prog, &["leaks"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    (s, r)
}

fn find<'a>(rows: &'a Value, function: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == function)
        .unwrap_or_else(|| panic!("no {function} in {rows:#}"))
}

#[test]
fn trees_functions_and_callers_name_the_leaks_peak_and_temporaries() {
    let (_s, r) = leaks("trees");

    // Bottom-up: the allocating function first, its caller under it.
    let j = report_json_with(&r.capture, &["--tree", "bottom-up", "--sort", "leaked"]);
    let tree = &j["tree"];
    assert_eq!(tree["total"]["leaked_bytes"], 30_000);
    let leak = &tree["children"][0];
    assert_eq!(leak["function"], "leak_some");
    assert_eq!(leak["total"]["leaked_blocks"], 30);
    assert_eq!(leak["own"]["leaked_bytes"], 30_000);
    let caller = &leak["children"][0];
    assert_eq!(caller["function"], "mode_leaks");
    assert_eq!(caller["total"]["leaked_bytes"], 30_000);
    assert!(j.get("stacks").is_none());

    // Top-down: everything runs through main; what main's callees did adds up under it.
    let j = report_json_with(&r.capture, &["--tree", "top-down", "--depth", "64"]);
    fn main_node(v: &Value) -> Option<&Value> {
        if v["function"] == "main" {
            return Some(v);
        }
        v["children"].as_array()?.iter().find_map(main_node)
    }
    let main = main_node(&j["tree"]).expect("main in the top-down tree");
    let modes = find(&main["children"], "mode_leaks");
    assert_eq!(modes["total"]["allocations"], 90);
    assert_eq!(modes["total"]["bytes"], 1_030_800);
    for (f, bytes) in [
        ("leak_some", 30_000),
        ("temporaries", 800),
        ("peak", 1_000_000),
    ] {
        assert_eq!(find(&modes["children"], f)["total"]["bytes"], bytes, "{f}");
    }

    // The flat list: own figures are what a function allocated itself.
    let j = report_json_with(&r.capture, &["--tree", "functions", "--sort", "temporary"]);
    let t = find(&j["functions"], "temporaries");
    assert_eq!(t["own"]["temporary"], 50);
    assert_eq!(t["total"]["allocations"], 50);
    let m = find(&j["functions"], "mode_leaks");
    assert_eq!(m["own"]["allocations"], 0);
    // And the last of peak()'s blocks, freed with no allocation after it.
    assert_eq!(m["total"]["temporary"], 51);

    // Callers and callees, by the peak.
    let j = report_json_with(&r.capture, &["--callers", "peak", "--sort", "peak"]);
    let c = find(&j["callers"], "mode_leaks");
    assert_eq!(c["total"]["peak_bytes"], 1_000_000);
    let j = report_json_with(&r.capture, &["--callees", "mode_leaks", "--sort", "peak"]);
    // The leaked blocks were live at the peak too; the temporaries were not.
    let callees: Vec<(&str, u64)> = j["callees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["function"].as_str().unwrap(),
                c["total"]["peak_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(callees, [("peak", 1_000_000), ("leak_some", 30_000)]);
}

#[test]
fn request_sizes_and_a_search_by_name() {
    let (_s, r) = leaks("sizes");
    let j = report_json_with(&r.capture, &[]);
    let sizes: Vec<(u64, u64, u64)> = j["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |f: &str| c[f].as_u64().unwrap();
            (n("from"), n("allocations"), n("bytes"))
        })
        .collect();
    // 50 of 16 bytes, 30 of 1000, 10 of 100,000.
    assert_eq!(
        sizes,
        [(16, 50, 800), (512, 30, 30_000), (65_536, 10, 1_000_000)]
    );

    let j = report_json_with(&r.capture, &["--match", "leak_so", "--sort", "allocations"]);
    let stacks = j["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 1, "{stacks:#?}");
    assert_eq!(stacks[0]["allocations"], 30);
    let j = report_json_with(&r.capture, &["--match", "hooks.c"]);
    assert_eq!(j["stacks"].as_array().unwrap().len(), 3);
    let j = report_json_with(&r.capture, &["--match", "no such function"]);
    assert!(j["stacks"].as_array().unwrap().is_empty());
}

#[test]
fn the_timeline_adds_up_to_the_summary() {
    let (_s, r) = leaks("timeline");
    let j = report_json_with(&r.capture, &["--timeline=50"]);
    let columns = j["timeline"].as_array().unwrap();
    assert!(
        !columns.is_empty() && columns.len() <= 50,
        "{}",
        columns.len()
    );
    let n = |c: &Value, f: &str| c[f].as_u64().unwrap();
    let summary = &j["summary"];
    let allocations: u64 = columns.iter().map(|c| n(c, "allocations")).sum();
    assert_eq!(allocations, n(summary, "allocations"));
    let bytes: u64 = columns.iter().map(|c| n(c, "bytes")).sum();
    assert_eq!(bytes, n(summary, "bytes_allocated"));
    let highest = columns.iter().map(|c| n(c, "max")).max().unwrap();
    assert_eq!(highest, n(summary, "peak_bytes"));
    assert_eq!(
        n(columns.last().unwrap(), "last"),
        n(summary, "leaked_bytes")
    );
    // Columns follow each other.
    for pair in columns.windows(2) {
        assert_eq!(n(&pair[0], "to_ns"), n(&pair[1], "from_ns"));
    }
}
