//! Opening: errors, dropped files, newer loads, programs to record; and rendering to PNG.

use super::*;

#[gtk::test]
fn a_broken_file_shows_an_error_in_the_window() {
    let s = Scratch::new("viewer-errors");
    let good = phases(&s);
    let v = Viewer::new(None);
    v.present();
    v.open(&s.path("missing.mprof"));
    settle(&v);
    assert!(
        v.error().unwrap().starts_with("cannot read"),
        "{:?}",
        v.error()
    );
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
fn a_capture_without_an_index_is_indexed_once() {
    let s = Scratch::new("viewer-index");
    let prog = s.c("phases.c", &["-I", &include()]);
    // Recorded with -q: no summary, so no heap index yet.
    let r = s.record("bare", &["-q"], &prog, &[]);
    let bare = memprof_capture::Capture::open(&r.capture).unwrap();
    assert!(!memprof_capture::HeapIndex::is_in(&bare));
    drop(bare);
    let v = opened(&r.capture);
    assert_eq!(shown_totals(&v), (170, 200_200));
    let indexed = memprof_capture::Capture::open(&r.capture).unwrap();
    assert!(memprof_capture::HeapIndex::is_in(&indexed));
}
