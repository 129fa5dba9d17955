//! The viewer's widgets on real captures, under a display (`xvfb-run -a`): the models they
//! show against `memprof report --json` and `memprof diff --json`, a range selection and the
//! compare mode driven through the widgets' own API, errors, and the window rendered to PNG.
//!
//! `#[gtk::test]` runs every test of this file on one GTK thread, one after another.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;
use serde_json::Value;

use memprof_capture::Metric;
use memprof_tests::{memprof, report_json_with, Scratch};
use memprof_viewer::model::content::Shape;
use memprof_viewer::model::rows::{Column, Row};
use memprof_viewer::ui::render;
use memprof_viewer::ui::window::Viewer;

/// Runs the main loop until `done` or `limit`; returns `done()`.
fn pump_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let ctx = glib::MainContext::default();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        while ctx.pending() {
            ctx.iteration(false);
        }
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// Waits until the viewer has no job running, and GTK has drawn.
fn settle(v: &Viewer) {
    assert!(
        pump_until(Duration::from_secs(60), || !v.is_busy()),
        "the viewer is still busy"
    );
    pump_until(Duration::from_millis(100), || false);
}

fn include() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../include").to_string()
}

/// Records `phases.c`: markers "phase 2" and "phase 3"; phase 2 keeps 50 blocks of 2,000
/// bytes and makes 20 temporary ones.
fn phases(s: &Scratch) -> PathBuf {
    let prog = s.c("phases.c", &["-I", &include()]);
    let r = s.record("phases", &["-q"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.capture
}

fn opened(path: &Path) -> Rc<Viewer> {
    let v = Viewer::new(None);
    v.present();
    v.open(path);
    settle(&v);
    assert_eq!(v.error(), None);
    v
}

/// Expands every row of the call graph and returns the rows with their paths of names.
fn expanded(v: &Viewer) -> Vec<(Vec<String>, Rc<Row>)> {
    loop {
        let before = v.callgraph.sorted.n_items();
        for i in 0..before {
            if let Some(r) = v
                .callgraph
                .sorted
                .item(i)
                .and_downcast::<gtk::TreeListRow>()
            {
                r.set_expanded(true);
            }
        }
        if v.callgraph.sorted.n_items() == before {
            break;
        }
    }
    let mut path: Vec<String> = Vec::new();
    v.callgraph
        .listed()
        .into_iter()
        .map(|(depth, row)| {
            path.truncate(depth);
            path.push(row.name.clone());
            (path.clone(), row)
        })
        .collect()
}

/// The node of a `report --json --tree` tree at `path`.
fn node<'a>(tree: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(tree, |n, name| {
        n["children"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["function"] == name.as_str()))
            .unwrap_or_else(|| panic!("no {path:?} in the report's tree"))
    })
}

fn figures_match(row: &Row, json: &Value) {
    let f = &row.figures;
    let got = [
        f.allocations,
        f.bytes,
        f.peak_bytes,
        f.leaked_bytes,
        f.temporary,
    ];
    let want = [
        "allocations",
        "bytes",
        "peak_bytes",
        "leaked_bytes",
        "temporary",
    ]
    .map(|k| json[k].as_u64().unwrap());
    assert_eq!(got, want, "{}", row.name);
}

/// Checks every row of the call graph against the report's tree, and siblings' order.
fn tree_matches(v: &Viewer, tree: &Value, column: Column, descending: bool) -> usize {
    let rows = expanded(v);
    for (path, row) in &rows {
        figures_match(row, &node(tree, path)["total"]);
    }
    for w in rows.windows(2) {
        let ((pa, a), (pb, b)) = (&w[0], &w[1]);
        if pa.len() == pb.len() && pa[..pa.len() - 1] == pb[..pb.len() - 1] {
            let (x, y) = (column.value(a), column.value(b));
            assert!(if descending { x >= y } else { x <= y }, "{pa:?} {pb:?}");
        }
    }
    rows.len()
}

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

/// The figures of the whole of the analysis shown: (allocations, bytes).
fn shown_totals(v: &Viewer) -> (u64, u64) {
    let st = v.state.borrow();
    let report = st.report.as_ref().unwrap();
    let root = report.top_down.node(memprof_capture::CallTree::ROOT).total;
    (root.allocations, root.bytes)
}

fn diff_json(args: &[&std::ffi::OsStr]) -> Value {
    let out = std::process::Command::new(memprof())
        .args(["diff", "--json", "--depth", "100", "--top", "1000"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

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
fn a_broken_file_shows_an_error_in_the_window() {
    let s = Scratch::new("viewer-errors");
    let good = phases(&s);
    let v = Viewer::new(None);
    v.present();
    let text = s.path("notes.txt");
    std::fs::write(&text, "not a capture\n").unwrap();
    v.open(&text);
    settle(&v);
    assert!(
        v.error().unwrap().contains("is not a memprof capture"),
        "{:?}",
        v.error()
    );
    let empty = s.path("empty.mprof");
    std::fs::write(&empty, "").unwrap();
    v.open(&empty);
    settle(&v);
    assert!(v.error().unwrap().contains("is empty"), "{:?}", v.error());
    let bytes = std::fs::read(&good).unwrap();
    let cut = s.path("cut.mprof");
    std::fs::write(&cut, &bytes[..100]).unwrap();
    v.open(&cut);
    settle(&v);
    assert!(
        v.error().unwrap().contains("corrupt capture"),
        "{:?}",
        v.error()
    );
    assert!(v.state.borrow().document.is_none());
    // Records overwritten with noise: shown as far as they decode, or refused; never a crash.
    let mut noisy = bytes.clone();
    let (from, to) = (bytes.len() / 3, bytes.len() / 3 + 4096.min(bytes.len() / 3));
    for (i, b) in noisy[from..to].iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let noisy_path = s.path("noisy.mprof");
    std::fs::write(&noisy_path, &noisy).unwrap();
    v.open(&noisy_path);
    settle(&v);
    assert!(v.error().is_some() || v.state.borrow().document.is_some());
    // A good capture afterwards clears the error.
    v.open(&good);
    settle(&v);
    assert_eq!(v.error(), None);
    assert_eq!(shown_totals(&v), (170, 200_200));
}

#[gtk::test]
fn a_dropped_capture_opens() {
    let s = Scratch::new("viewer-drop");
    let cap = phases(&s);
    let v = Viewer::new(None);
    v.present();
    let files = gtk::gdk::FileList::from_array(&[gtk::gio::File::for_path(&cap)]);
    assert!(v.open_dropped(&files));
    settle(&v);
    assert_eq!(shown_totals(&v), (170, 200_200));
    let remote =
        gtk::gdk::FileList::from_array(&[gtk::gio::File::for_uri("https://example.com/x")]);
    assert!(!v.open_dropped(&remote));
}

#[gtk::test]
fn a_newer_load_replaces_the_older() {
    let s = Scratch::new("viewer-newer");
    let prog = s.c("hooks.c", &[]);
    let a = s.record("a", &["-q"], &prog, &["malloc"]).capture;
    let b = phases(&s);
    let v = Viewer::new(None);
    v.present();
    v.open(&a);
    v.open(&b);
    settle(&v);
    let st = v.state.borrow();
    assert_eq!(st.document.as_ref().unwrap().capture.path(), b.as_path());
    drop(st);
    assert_eq!(shown_totals(&v), (170, 200_200));
}

#[gtk::test]
fn a_program_is_recorded_then_shown() {
    let s = Scratch::new("viewer-record");
    let prog = s.c("phases.c", &["-I", &include()]);
    let v = Viewer::new(None);
    v.present();
    v.open(&prog);
    // Recording, then loading.
    settle(&v);
    settle(&v);
    assert_eq!(v.error(), None);
    assert_eq!(
        v.state.borrow().document.as_ref().unwrap().program(),
        "phases"
    );
    assert_eq!(shown_totals(&v), (170, 200_200));
}

#[gtk::test]
fn the_window_renders_to_png() {
    let s = Scratch::new("viewer-png");
    let cap = phases(&s);
    let v = opened(&cap);
    v.stack.set_visible_child_name("flame");
    pump_until(Duration::from_millis(300), || false);
    let texture = render::texture(&v.window).unwrap();
    let (w, h) = (texture.width() as usize, texture.height() as usize);
    assert!(w >= 800 && h >= 600, "{w}x{h}");
    let mut pixels = vec![0u8; w * h * 4];
    texture.download(&mut pixels, w * 4);
    // B, G, R, A: the heap chart's blue, and the flame graph's bars (red at full).
    let count = |f: &dyn Fn(&[u8]) -> bool| pixels.chunks(4).filter(|p| f(p)).count();
    let heap = count(&|p| p[0] > 150 && p[2] < 120 && p[1] < 160);
    let flames = count(&|p| p[2] >= 237 && p[0] < 80 && p[1] > 100);
    assert!(heap > 100, "{heap} pixels of the heap chart");
    assert!(flames > 10_000, "{flames} pixels of flame bars");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-window.png");
    render::png(&v.window, &path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
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
