//! The viewer's widgets on real captures, under a display (`xvfb-run -a`): the models they
//! show against `memprof report --json` and `memprof diff --json`, a range selection and the
//! compare mode driven through the widgets' own API, errors, and the window rendered to PNG.
//!
//! `#[gtk::test]` runs every test of this binary on one GTK thread, one after another, so
//! they are modules of one test binary.

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

mod loading;
mod ranges;
mod views;
