//! Damaged captures: whatever the viewer's loading and analyses make of them, they must not
//! panic (the viewer is built with `panic = "abort"`, so a panic would close the window).

use memprof_capture::{Metric, ThreadActivity};
use memprof_tests::Scratch;
use memprof_viewer::model::document::Document;

#[test]
fn noise_anywhere_in_a_capture_never_panics_the_analyses() {
    let s = Scratch::new("viewer-corrupt");
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/../include");
    let prog = s.c("threads.c", &["-I", include]);
    let r = s.record("threads", &[], &prog, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let good = std::fs::read(&r.capture).unwrap();
    let path = s.path("noisy.mprof");
    let (mut opened, mut refused) = (0, 0);
    for k in 0..40usize {
        let mut bytes = good.clone();
        let at = k * (bytes.len() / 40);
        let end = (at + 64).min(bytes.len());
        for (i, b) in bytes[at..end].iter_mut().enumerate() {
            *b = ((i + k) * 131 % 251) as u8;
        }
        std::fs::write(&path, &bytes).unwrap();
        match Document::open(&path, &mut |_| true) {
            Ok(d) => {
                opened += 1;
                let report = d.report(None, Metric::Bytes);
                let end = report.analysis.summary.duration_ns;
                d.report(Some((end / 4, end / 2)), Metric::Peak);
                d.compare_times(end / 4, end / 2, &report.analysis.summary);
                ThreadActivity::of(&d.capture, d.range(None), 100);
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert_eq!(opened + refused, 40);
    assert!(
        opened > 0,
        "noise in the records still leaves a capture to read"
    );
}
