//! The views of a whole capture against `memprof report --json`.

use super::*;

#[gtk::test]
fn the_views_show_what_the_report_says() {
    let s = Scratch::new("viewer-views");
    let cap = phases(&s);
    let v = opened(&cap);
    let json = report_json_with(
        &cap,
        &[
            "--tree", "top-down", "--depth", "100", "--top", "1000", "--sizes",
        ],
    );
    let st = v.state.borrow();
    let summary = &st.report.as_ref().unwrap().analysis.summary;
    let want = &json["summary"];
    assert_eq!(
        (
            summary.allocations,
            summary.frees,
            summary.bytes_allocated,
            summary.peak_bytes
        ),
        (170, 120, 200_200, want["peak_bytes"].as_u64().unwrap())
    );
    assert_eq!(summary.leaked_bytes, want["leaked_bytes"].as_u64().unwrap());
    drop(st);
    // The summary has a line for the thread, with its figures.
    let tid = json["threads"][0]["thread"].as_u64().unwrap();
    let texts = v.summary.texts();
    let i = texts
        .iter()
        .position(|t| *t == format!("Thread {tid}"))
        .unwrap();
    assert_eq!(
        texts[i + 1],
        "170 allocations, 200.2 kB, 100.0 kB live at the end"
    );
    // Top-down, by bytes, largest first: every row as the report's tree has it.
    let n = tree_matches(&v, &json["tree"], Column::Bytes, true);
    assert!(n >= 6, "{n} rows");
    assert!(v.callgraph.listed().iter().any(|(_, r)| r.name == "phase2"));
    // Sorted by allocations, smallest first.
    v.callgraph.sort_by(Column::Allocations, true);
    tree_matches(&v, &json["tree"], Column::Allocations, false);
    // Bottom-up: the allocating functions first.
    v.set_shape(Shape::BottomUp, None);
    v.callgraph.sort_by(Column::Bytes, false);
    let bottom = report_json_with(
        &cap,
        &["--tree", "bottom-up", "--depth", "100", "--top", "1000"],
    );
    tree_matches(&v, &bottom["tree"], Column::Bytes, true);
    let tops: Vec<String> = v
        .callgraph
        .listed()
        .iter()
        .filter(|(d, _)| *d == 0)
        .map(|(_, r)| r.name.clone())
        .collect();
    assert_eq!(tops, ["phase2", "phase1"]);
    // Search keeps the matching rows.
    v.callgraph.search.set_text("phase1");
    pump_until(Duration::from_millis(500), || false);
    let found = expanded(&v);
    assert!(found
        .iter()
        .all(|(p, _)| p.iter().any(|n| n.contains("phase1"))));
    assert_eq!(found[0].1.figures.bytes, 100_000);
    v.callgraph.search.set_text("");
    pump_until(Duration::from_millis(500), || false);
    // Callers of phase2, as `report --callers phase2` lists them.
    v.set_shape(Shape::Callers, Some("phase2"));
    let callers = report_json_with(&cap, &["--callers", "phase2"]);
    let rows = v.callgraph.listed();
    assert_eq!(rows.len(), callers["callers"].as_array().unwrap().len());
    assert_eq!(rows[0].1.name, "main");
    figures_match(&rows[0].1, &callers["callers"][0]["total"]);
    // Activating a caller lists its own callers.
    v.callgraph.view.emit_by_name::<()>("activate", &[&0u32]);
    let up = report_json_with(&cap, &["--callers", "main"]);
    let rows = v.callgraph.listed();
    assert_eq!(rows.len(), up["callers"].as_array().unwrap().len());
    assert_eq!(
        rows[0].1.name,
        up["callers"][0]["function"].as_str().unwrap()
    );
    figures_match(&rows[0].1, &up["callers"][0]["total"]);
    // The size histogram: the report's classes.
    let bars = v.histogram.bars();
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(bars.len(), sizes.len());
    for (b, s) in bars.iter().zip(sizes) {
        assert_eq!(
            (b.allocations, b.bytes),
            (
                s["allocations"].as_u64().unwrap(),
                s["bytes"].as_u64().unwrap()
            )
        );
    }
    // The flame graph: the root is the whole width; a click on a bar zooms on it.
    let rects = v.flame.rects();
    assert_eq!(
        (rects[0].row.name.as_str(), rects[0].width),
        ("_start", 1.0)
    );
    let phase1 = rects
        .iter()
        .find(|r| r.row.name == "phase1")
        .unwrap()
        .clone();
    assert!((phase1.width - 100_000.0 / 200_200.0).abs() < 1e-9);
    v.flame.zoom_to(phase1.path.clone());
    let zoomed = v.flame.rects();
    let bar = zoomed.iter().find(|r| r.row.name == "phase1").unwrap();
    assert_eq!((bar.x, bar.width), (0.0, 1.0));
    assert!(zoomed
        .iter()
        .all(|r| r.ancestor || r.path.starts_with(&phase1.path)));
    v.set_metric(Metric::Allocations);
    settle(&v);
    let by_count = v.flame.rects();
    let phase1 = by_count.iter().find(|r| r.row.name == "phase1").unwrap();
    assert_eq!(phase1.width, 1.0, "still zoomed");
    v.flame.zoom_to(Vec::new());
    let phase1 = v
        .flame
        .rects()
        .into_iter()
        .find(|r| r.row.name == "phase1")
        .unwrap();
    assert!((phase1.width - 100.0 / 170.0).abs() < 1e-9);
}
