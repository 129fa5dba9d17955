//! The application: the command line, and the screenshot mode that renders each view.
//!
//! ```text
//! memprof-viewer [CAPTURE]                     show a capture (or choose one)
//! memprof-viewer PROGRAM [ARGS...]             record PROGRAM with memprof run, then show it
//! memprof-viewer --baseline BASE CAPTURE       compare CAPTURE with BASE
//! memprof-viewer --screenshot DIR CAPTURE      render every view to DIR/*.png and quit
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;

use crate::model::content::Shape;
use crate::ui::render;
use crate::ui::window::Viewer;

/// What the command line asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// A capture, or a program and its arguments.
    pub command: Vec<OsString>,
    pub baseline: Option<PathBuf>,
    pub screenshots: Option<PathBuf>,
    /// Print how long the first view and a range's analysis and comparison take, then quit.
    pub timings: bool,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
        let mut out = Args::default();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            if !out.command.is_empty() {
                out.command.push(a);
                continue;
            }
            match a.to_str() {
                Some("--baseline") => {
                    out.baseline = Some(args.next().ok_or("--baseline needs a capture")?.into())
                }
                Some("--screenshot") => {
                    out.screenshots =
                        Some(args.next().ok_or("--screenshot needs a directory")?.into())
                }
                Some("--timings") => out.timings = true,
                Some("--") => out.command.extend(args.by_ref()),
                Some("-h" | "--help") => return Err(HELP.into()),
                Some(s) if s.starts_with('-') => return Err(format!("unknown option {s}\n{HELP}")),
                _ => out.command.push(a),
            }
        }
        Ok(out)
    }
}

const HELP: &str =
    "usage: memprof-viewer [--baseline BASE] [--screenshot DIR] [--timings] [CAPTURE | PROGRAM [ARGS...]]";

/// Runs the application; returns the exit status.
pub fn run(args: Args) -> glib::ExitCode {
    let app = gtk::Application::builder()
        .application_id(crate::APP_ID)
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    let args = Rc::new(std::cell::RefCell::new(Some(args)));
    app.connect_activate(move |app| {
        let Some(args) = args.borrow_mut().take() else {
            return;
        };
        let viewer = Viewer::new(Some(app));
        viewer.present();
        start(&viewer, args, app);
    });
    // GTK gets no arguments: they are this program's.
    app.run_with_args::<&str>(&[])
}

fn start(viewer: &Rc<Viewer>, args: Args, app: &gtk::Application) {
    let started = Instant::now();
    match args.command.len() {
        0 => {}
        1 => viewer.open(std::path::Path::new(&args.command[0])),
        _ => viewer.record(args.command.clone()),
    }
    if let Some(b) = args.baseline.clone() {
        // After the capture: a newer job would cancel the older.
        let viewer = viewer.clone();
        glib::spawn_future_local(async move {
            if settle(&viewer).await.is_ok() {
                viewer.open_baseline(&b);
            }
        });
    }
    if args.timings {
        let (viewer, app) = (viewer.clone(), app.clone());
        glib::spawn_future_local(async move {
            if let Err(e) = timings(&viewer, started).await {
                eprintln!("memprof-viewer: {e}");
            }
            app.quit();
        });
    }
    if let Some(dir) = args.screenshots {
        let (viewer, app) = (viewer.clone(), app.clone());
        glib::spawn_future_local(async move {
            if let Err(e) = screenshots(&viewer, &dir).await {
                eprintln!("memprof-viewer: {e}");
            }
            app.quit();
        });
    }
}

/// Waits until the viewer has no job running (and GTK has drawn the result).
pub async fn settle(viewer: &Viewer) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(120);
    // A job may be about to start: give the main loop a turn first.
    glib::timeout_future(Duration::from_millis(50)).await;
    while viewer.is_busy() {
        if Instant::now() > end {
            return Err("the analysis took more than two minutes".into());
        }
        glib::timeout_future(Duration::from_millis(20)).await;
    }
    glib::timeout_future(Duration::from_millis(300)).await;
    match viewer.error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Waits for the running job, polling often, and returns when it ended.
async fn finished(viewer: &Viewer) -> Result<Instant, String> {
    while viewer.is_busy() {
        glib::timeout_future(Duration::from_millis(1)).await;
    }
    let done = Instant::now();
    match viewer.error() {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// Prints how long the first view took from `started`, then a range's analysis, then the
/// comparison of its two ends (the middle half of the capture, then the second quarter).
async fn timings(viewer: &Rc<Viewer>, started: Instant) -> Result<(), String> {
    let first = finished(viewer).await?;
    let events = viewer.state.borrow().report.as_ref().map_or(0, |r| {
        let s = &r.analysis.summary;
        s.allocations + s.frees
    });
    println!("events: {events}");
    println!("first view: {} ms", (first - started).as_millis());
    settle(viewer).await?;
    // Drawing the timeline (every row, one value range per pixel column), the median of 9.
    let mut draws: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            render::texture(&viewer.timeline.area).map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    draws.sort();
    println!("timeline draw: {:.1} ms", draws[4].as_secs_f64() * 1e3);
    let t = Instant::now();
    viewer.timeline.select(0.25, 0.75);
    let done = finished(viewer).await?;
    println!("range: {} ms", (done - t).as_millis());
    viewer.set_compare(true);
    settle(viewer).await?;
    let diff = || viewer.state.borrow().diff.as_ref().map(Arc::as_ptr);
    let before = diff();
    let t = Instant::now();
    viewer.timeline.select(0.25, 0.5);
    // The comparison is shown first; the range's analysis follows.
    while diff() == before {
        glib::timeout_future(Duration::from_millis(1)).await;
    }
    println!("range diff: {} ms", t.elapsed().as_millis());
    let done = finished(viewer).await?;
    println!(
        "range diff, then its analysis: {} ms",
        (done - t).as_millis()
    );
    Ok(())
}

/// Renders each view to `dir`: summary, call graph, flame graph, sizes, then a selected
/// range and the comparison of its two ends.
async fn screenshots(viewer: &Rc<Viewer>, dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    settle(viewer).await?;
    let shot = |name: &str| render::png(&viewer.window, &dir.join(format!("{name}.png")));
    for (page, name) in [
        ("summary", "summary"),
        ("callgraph", "callgraph"),
        ("flame", "flamegraph"),
        ("sizes", "sizes"),
    ] {
        viewer.stack.set_visible_child_name(page);
        settle(viewer).await?;
        shot(name)?;
    }
    viewer.set_shape(Shape::BottomUp, None);
    viewer.stack.set_visible_child_name("callgraph");
    settle(viewer).await?;
    shot("bottom-up")?;
    viewer.set_shape(Shape::TopDown, None);
    // The middle half of the capture.
    viewer.timeline.select(0.25, 0.75);
    settle(viewer).await?;
    viewer.stack.set_visible_child_name("summary");
    settle(viewer).await?;
    shot("range")?;
    // Compare from the last marker but one to the end (where a program usually releases
    // what it built), or across the middle half.
    let view = viewer.timeline.view();
    let markers: Vec<u64> = match &viewer.state.borrow().document {
        Some(d) => d.markers.iter().map(|m| m.1).collect(),
        None => Vec::new(),
    };
    if markers.len() >= 2 {
        viewer
            .timeline
            .select(view.x_of(markers[markers.len() - 2]), 1.0);
        settle(viewer).await?;
    }
    viewer.set_compare(true);
    settle(viewer).await?;
    viewer.set_shape(Shape::BottomUp, None);
    viewer.stack.set_visible_child_name("callgraph");
    settle(viewer).await?;
    shot("compare-callgraph")?;
    viewer.stack.set_visible_child_name("flame");
    settle(viewer).await?;
    shot("compare-flamegraph")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_come_before_the_capture_or_program() {
        let a = parse(&["--screenshot", "docs", "x.mprof"]).unwrap();
        assert_eq!(a.screenshots, Some("docs".into()));
        assert_eq!(a.command, ["x.mprof"]);
        let a = parse(&["./prog", "--baseline", "b"]).unwrap();
        assert_eq!(a.command, ["./prog", "--baseline", "b"]);
        assert_eq!(a.baseline, None);
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--baseline"]).is_err());
    }
}
