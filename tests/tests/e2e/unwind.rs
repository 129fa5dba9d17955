//! The DWARF unwinder stops at the first frame it shares with its previous walk; on a program
//! built with frame pointers, whose stacks the frame-pointer walk gets right on its own, both
//! must give the same stacks, allocation for allocation.

use std::collections::BTreeMap;

use memprof_tests::Scratch;

/// Allocations per stack, each stack as (function, line) from the innermost frame to `main`.
type Stacks = BTreeMap<Vec<(String, u64)>, u64>;

fn stacks(capture: &std::path::Path) -> Stacks {
    let out = memprof_tests::memprof_ok([
        "export".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--metric".as_ref(),
        "allocations".as_ref(),
        capture.as_os_str(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut stacks = Stacks::new();
    for s in json["stacks"].as_array().unwrap() {
        let mut frames = Vec::new();
        for f in s["frames"].as_array().unwrap() {
            let function = f["function"].as_str().unwrap_or("?").to_string();
            frames.push((function.clone(), f["line"].as_u64().unwrap_or(0)));
            if function == "main" {
                break;
            }
        }
        *stacks.entry(frames).or_default() += s["allocations"].as_u64().unwrap();
    }
    stacks
}

#[test]
fn reused_walks_give_the_stacks_frame_pointers_give() {
    let s = Scratch::new("deep");
    let prog = s.c("deep.c", &["-O2", "-fno-omit-frame-pointer"]);
    let mut results = Vec::new();
    for unwind in ["dwarf", "fp"] {
        let r = s.record(
            unwind,
            &["--unwind", unwind, "--max-depth", "400"],
            &prog,
            &[],
        );
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let summary = r.summary();
        let stacks = stacks(&r.capture);
        assert_eq!(stacks.values().sum::<u64>(), summary.n("allocations"));
        // Deeper than the walks the unwinder keeps (256 frames), and many distinct stacks.
        assert!(stacks.keys().any(|k| k.len() > 290), "{unwind}");
        assert!(stacks.len() > 500, "{unwind}: {} stacks", stacks.len());
        results.push(stacks);
    }
    assert!(
        results[0] == results[1],
        "DWARF and frame-pointer stacks differ"
    );
}

#[test]
fn stacks_that_come_back_are_told_apart_down_to_their_outermost_frame() {
    let s = Scratch::new("alternate");
    let prog = s.c("alternate.c", &["-O2", "-fno-omit-frame-pointer"]);
    let mut results = Vec::new();
    for unwind in ["dwarf", "fp"] {
        let r = s.record(unwind, &["--unwind", unwind], &prog, &[]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let stacks = stacks(&r.capture);
        // The 4 paths through alloc_here (via_a or via_b, top_a or top_b), 20,000 in all.
        let ours: Vec<_> = stacks
            .iter()
            .filter(|(k, _)| k[0].0 == "alloc_here")
            .collect();
        assert_eq!(ours.len(), 4, "{unwind}: {ours:?}");
        assert_eq!(ours.iter().map(|(_, n)| **n).sum::<u64>(), 20_000);
        for (frames, _) in &ours {
            let names: Vec<&str> = frames.iter().map(|f| f.0.as_str()).collect();
            assert_eq!(names.len(), 5, "{names:?}");
            assert!(["via_a", "via_b"].contains(&names[1]), "{names:?}");
            assert_eq!(names[2], "mid");
            assert!(["top_a", "top_b"].contains(&names[3]), "{names:?}");
            assert_eq!(names[4], "main");
        }
        results.push(stacks);
    }
    assert!(
        results[0] == results[1],
        "DWARF and frame-pointer stacks differ"
    );
}
