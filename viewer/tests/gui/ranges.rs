//! A selected range, compare mode, a baseline capture and zooming.

use super::*;

#[gtk::test]
fn a_selected_range_restricts_every_view_and_compare_shows_its_change() {
    let s = Scratch::new("viewer-range");
    let cap = phases(&s);
    let v = opened(&cap);
    assert_eq!(shown_totals(&v), (170, 200_200));
    let document = v.state.borrow().document.clone().unwrap();
    let at = |label: &str| document.markers.iter().find(|m| m.0 == label).unwrap().1;
    let (t2, t3) = (at("phase 2"), at("phase 3"));
    // Drag from one marker to the other, through the timeline's own API.
    let view = v.timeline.view();
    v.timeline.select(view.x_of(t2), view.x_of(t3));
    settle(&v);
    let (a, b) = v.state.borrow().selection.unwrap();
    assert!(
        a.abs_diff(t2) <= 1 && b.abs_diff(t3) <= 1,
        "{a} {b} {t2} {t3}"
    );
    // Phase 2 alone: 50 blocks of 2,000 bytes and 20 temporary ones of 10.
    assert_eq!(shown_totals(&v), (70, 100_200));
    let range = ["--from", "phase 2", "--to", "phase 3"];
    let mut options = range.to_vec();
    options.extend([
        "--tree", "top-down", "--depth", "100", "--top", "1000", "--sizes",
    ]);
    let json = report_json_with(&cap, &options);
    tree_matches(&v, &json["tree"], Column::Bytes, true);
    let classes: Vec<(u64, u64)> = json["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["allocations"].as_u64().unwrap(),
                c["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let bars: Vec<(u64, u64)> = v
        .histogram
        .bars()
        .iter()
        .map(|b| (b.allocations, b.bytes))
        .collect();
    assert_eq!(bars, classes);
    assert_eq!(bars, [(20, 200), (50, 100_000)]);
    let names: Vec<String> = v.flame.rects().iter().map(|r| r.row.name.clone()).collect();
    assert!(names.contains(&"phase2".into()) && !names.contains(&"phase1".into()));
    assert!(v
        .summary
        .texts()
        .iter()
        .any(|t| t.starts_with("Selected range")));

    // Compare: the heap at the end of the selection minus at its start.
    v.set_compare(true);
    settle(&v);
    assert!(v.compare.is_active());
    let diff = diff_json(&[
        cap.as_os_str(),
        "--from".as_ref(),
        "phase 2".as_ref(),
        "--to".as_ref(),
        "phase 3".as_ref(),
    ]);
    let stacks = diff["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 1, "{diff:#}");
    v.set_shape(Shape::BottomUp, None);
    let rows: Vec<_> = v
        .callgraph
        .listed()
        .into_iter()
        .filter(|r| r.0 == 0)
        .collect();
    assert_eq!(rows.len(), 1);
    let change = rows[0].1.change.unwrap();
    assert_eq!(
        rows[0].1.name,
        stacks[0]["frames"][0]["function"].as_str().unwrap()
    );
    assert_eq!(
        (change.before, change.after, change.new_live),
        (
            stacks[0]["live_bytes"][0].as_u64().unwrap(),
            stacks[0]["live_bytes"][1].as_u64().unwrap(),
            stacks[0]["new_live_bytes"].as_u64().unwrap()
        )
    );
    assert_eq!(
        (change.before, change.after, change.new_live),
        (0, 100_000, 100_000)
    );
    // The flame graph shows the same change, top-down.
    let rects = v.flame.rects();
    assert_eq!(rects[0].width, 1.0);
    let leaf = rects.iter().find(|r| r.row.name == "phase2").unwrap();
    assert_eq!(leaf.row.change.unwrap().delta(), 100_000);
    // Leaving compare mode and clearing the selection shows the whole capture again.
    v.set_compare(false);
    settle(&v);
    v.timeline.select(0.5, 0.5);
    settle(&v);
    assert_eq!(v.state.borrow().selection, None);
    assert_eq!(shown_totals(&v), (170, 200_200));
    assert!(v.callgraph.listed().iter().all(|(_, r)| r.change.is_none()));
}

#[gtk::test]
fn a_baseline_capture_compares_two_runs() {
    let s = Scratch::new("viewer-baseline");
    let prog = s.c("hooks.c", &[]);
    let a = s.record("a", &["-q"], &prog, &["malloc"]).capture;
    let b = s.record("b", &["-q"], &prog, &["leaks"]).capture;
    let v = opened(&b);
    v.open_baseline(&a);
    settle(&v);
    assert!(v.compare.is_active());
    let diff = diff_json(&[a.as_os_str(), b.as_os_str()]);
    v.set_shape(Shape::BottomUp, None);
    let rows = v.callgraph.listed();
    let stacks = diff["stacks"].as_array().unwrap();
    assert_eq!(rows[0].1.name, "leak_some");
    assert_eq!(stacks[0]["frames"][0]["function"], "leak_some");
    let want: i128 = stacks
        .iter()
        .filter(|s| s["frames"][0]["function"] == "leak_some")
        .map(|s| {
            i128::from(s["live_bytes"][1].as_u64().unwrap())
                - i128::from(s["live_bytes"][0].as_u64().unwrap())
        })
        .sum();
    assert_eq!(rows[0].1.change.unwrap().delta(), want);
    assert_eq!(want, 30_000);
}

#[gtk::test]
fn zooming_counts_the_threads_again_for_the_visible_span() {
    let s = Scratch::new("viewer-zoom");
    let prog = s.c("threads.c", &[]);
    let r = s.record("threads", &["-q"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let v = opened(&r.capture);
    let (whole, exact) = v.timeline.thread_counts();
    assert!(!exact);
    assert_eq!(whole.len(), 5, "main and 4 workers");
    let total: u64 = whole.iter().flat_map(|t| &t.1).sum();
    assert_eq!(total, shown_totals(&v).0);
    // The first half, counted again.
    v.timeline.zoom(0.5, 0.0);
    assert!(pump_until(Duration::from_secs(20), || v
        .timeline
        .thread_counts()
        .1));
    let view = v.timeline.view();
    assert_eq!(view.from, 0);
    let json = report_json_with(&r.capture, &["--to", &format!("{}ns", view.to)]);
    let (zoomed, _) = v.timeline.thread_counts();
    assert!(zoomed.iter().flat_map(|t| &t.1).sum::<u64>() > 0);
    for (thread, counts) in &zoomed {
        let want = json["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["thread"] == thread.0)
            .unwrap()["allocations"]
            .as_u64()
            .unwrap();
        assert_eq!(counts.iter().sum::<u64>(), want, "thread {}", thread.0);
    }
}
