//! A capture recorded without symbols is resolved when the viewer opens it, as `memprof
//! report` resolves it.

use memprof_capture::{Capture, Metric};
use memprof_tests::Scratch;
use memprof_viewer::model::document::Document;

#[test]
fn a_capture_without_symbols_is_resolved_on_opening() {
    let s = Scratch::new("viewer-symbols");
    let prog = s.c("churn.c", &[]);
    let r = s.record("churn", &["--no-symbols"], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(!Capture::open(&r.capture).unwrap().has_symbols());

    let d = Document::open(&r.capture, &mut |_| true).unwrap();
    let report = d.report(None, Metric::Bytes);
    let main = report
        .functions
        .iter()
        .find(|f| f.function == "main")
        .unwrap_or_else(|| {
            let names: Vec<_> = report.functions.iter().map(|f| &f.function).collect();
            panic!("no main among {names:?}")
        });
    assert!(main.total.bytes > 0);
    // The tables were appended: the next opening finds them.
    assert!(Capture::open(&r.capture).unwrap().has_symbols());
}
