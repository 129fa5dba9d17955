//! The display drawn on ratatui's test backend: what a user sees after each key.

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::Terminal;

use memprof_capture::ThreadId;
use memprof_live::{FunctionRow, Snapshot, State};
use memprof_top::app::{App, Column, Request};
use memprof_top::display::{self, Shared};
use memprof_top::widgets;

fn row(name: &str, own: u64, total: u64, allocations: u64, rate: f64) -> FunctionRow {
    FunctionRow {
        name: name.into(),
        own_bytes: own,
        total_bytes: total,
        allocations,
        rate,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        command: vec!["./server".into(), "--port".into(), "80".into()],
        pid: 4242,
        state: State::Running,
        elapsed_ns: 12_345_000_000,
        time: 0,
        time_ns: 12_000_000_000,
        heap_bytes: 3_000_000,
        peak_bytes: 4_500_000,
        allocations: 120_000,
        rate: 2_500.0,
        threads: 2,
        thread_ids: vec![ThreadId(4242), ThreadId(4243)],
        thread: None,
        functions: vec![
            row("parse_request", 1_000_000, 1_000_000, 50_000, 1_000.0),
            row("cache_insert", 1_800_000, 1_800_000, 200, 10.0),
            row("main", 0, 3_000_000, 120_000, 2_500.0),
            row("log_line", 200_000, 200_000, 69_800, 1_490.0),
        ],
        corrupt_chunks: 0,
        last_marker: None,
    }
}

fn app() -> App {
    let mut app = App::default();
    app.show(snapshot());
    app
}

fn press(app: &mut App, code: KeyCode) -> Request {
    app.key(KeyEvent::from(code))
}

fn type_keys(app: &mut App, keys: &str) {
    for c in keys.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The screen as lines of text, trailing blanks cut.
fn text(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            let line: String = (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            line.trim_end().to_string()
        })
        .collect()
}

fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| widgets::draw(f, app)).unwrap();
    text(&terminal)
}

/// The function names of the table, top to bottom.
fn functions(lines: &[String]) -> Vec<String> {
    let head = lines
        .iter()
        .position(|l| l.starts_with("OWN"))
        .expect("table titles");
    lines[head + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect()
}

#[test]
fn header_tells_the_program_its_figures_and_top_three_functions() {
    let lines = screen(&app(), 100, 20);
    assert_eq!(lines[0], "./server --port 80  pid 4242  running  12.345s");
    assert_eq!(
        lines[1],
        "heap 3.0 MB  peak 4.5 MB  allocations 120,000 (2,500/s)  threads 2"
    );
    assert_eq!(
        lines[2],
        "top: cache_insert 1.8 MB · parse_request 1.0 MB · log_line 200.0 kB"
    );
    assert_eq!(lines[3], "sorted by own live  all threads");
    assert_eq!(
        lines[5],
        "1.8 MB    1.8 MB    60.0%  200           10         cache_insert"
    );
    assert_eq!(
        lines[19],
        "s sort  / filter  t thread  p pause  r reset  k stop program  h help  q quit"
    );
}

#[test]
fn s_cycles_the_sort_column() {
    let mut app = app();
    let order = |app: &App| functions(&screen(app, 100, 20));
    assert_eq!(
        order(&app),
        ["cache_insert", "parse_request", "log_line", "main"]
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, Column::Total);
    assert_eq!(
        order(&app),
        ["main", "cache_insert", "parse_request", "log_line"]
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        order(&app),
        ["main", "log_line", "parse_request", "cache_insert"]
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, Column::Rate);
    assert_eq!(
        order(&app),
        ["main", "log_line", "parse_request", "cache_insert"]
    );
    assert!(screen(&app, 100, 20)[3].starts_with("sorted by allocations/s"));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, Column::Own);
}

#[test]
fn slash_filters_by_name_until_escape() {
    let mut app = app();
    press(&mut app, KeyCode::Char('/'));
    type_keys(&mut app, "IN");
    let lines = screen(&app, 100, 20);
    assert_eq!(lines[3], "sorted by own live  all threads  filter: IN▏");
    assert_eq!(functions(&lines), ["cache_insert", "log_line", "main"]);
    assert_eq!(lines[19], "type to filter functions  Enter keep  Esc clear");
    press(&mut app, KeyCode::Backspace);
    type_keys(&mut app, "ne");
    press(&mut app, KeyCode::Enter);
    // Keys are commands again; the filter stays.
    press(&mut app, KeyCode::Char('s'));
    let lines = screen(&app, 100, 20);
    assert_eq!(lines[3], "sorted by total live  all threads  filter: Ine");
    assert_eq!(functions(&lines), ["log_line"]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(functions(&screen(&app, 100, 20)).len(), 4);
}

#[test]
fn p_freezes_the_display_while_snapshots_go_on() {
    let mut app = app();
    press(&mut app, KeyCode::Char('p'));
    let mut later = snapshot();
    later.heap_bytes = 9_000_000;
    app.show(later.clone());
    let lines = screen(&app, 100, 20);
    assert!(lines[1].starts_with("heap 3.0 MB"), "{}", lines[1]);
    assert!(lines[3].ends_with("PAUSED"), "{}", lines[3]);
    press(&mut app, KeyCode::Char('p'));
    app.show(later);
    assert!(screen(&app, 100, 20)[1].starts_with("heap 9.0 MB"));
}

#[test]
fn t_goes_through_the_threads_and_back_to_all() {
    let mut app = app();
    assert_eq!(
        press(&mut app, KeyCode::Char('t')),
        Request::Thread(Some(ThreadId(4242)))
    );
    assert_eq!(screen(&app, 100, 20)[3], "sorted by own live  thread 4242");
    // The collector's next snapshot has that thread's functions only.
    let mut theirs = snapshot();
    theirs.thread = Some(ThreadId(4242));
    theirs.functions.retain(|f| f.name != "cache_insert");
    app.show(theirs);
    assert_eq!(
        screen(&app, 100, 20)[2],
        "top of thread 4242: parse_request 1.0 MB · log_line 200.0 kB"
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('t')),
        Request::Thread(Some(ThreadId(4243)))
    );
    assert_eq!(press(&mut app, KeyCode::Char('t')), Request::Thread(None));
}

#[test]
fn r_k_and_q_are_requests() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('r')), Request::Reset);
    assert!(screen(&app, 100, 20)[3].ends_with("counts, rates and peak reset"));
    assert_eq!(
        press(&mut app, KeyCode::Char('k')),
        Request::StopProgram { force: false }
    );
    assert!(screen(&app, 100, 20)[3].ends_with("stopping the program (k again kills it)"));
    assert_eq!(
        press(&mut app, KeyCode::Char('k')),
        Request::StopProgram { force: true }
    );
    assert_eq!(press(&mut app, KeyCode::Char('q')), Request::Quit);
}

#[test]
fn h_shows_help_until_a_key() {
    let mut app = app();
    press(&mut app, KeyCode::Char('h'));
    let lines = screen(&app, 100, 20);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("s  sort by the next column")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("┌ help ")));
    assert_eq!(press(&mut app, KeyCode::Char('s')), Request::None);
    assert_eq!(app.sort, Column::Own, "the key only closed the help");
    assert!(!screen(&app, 100, 20).iter().any(|l| l.contains("┌ help ")));
}

#[test]
fn a_small_terminal_says_so_and_a_larger_one_draws_again() {
    let app = app();
    let mut terminal = Terminal::new(TestBackend::new(40, 8)).unwrap();
    terminal.draw(|f| widgets::draw(f, &app)).unwrap();
    let lines = text(&terminal);
    assert_eq!(lines[0], "Terminal too small (40×8): memprof top");
    assert_eq!(lines[1], "needs 60×10. q quits.");
    terminal.backend_mut().resize(100, 20);
    terminal.draw(|f| widgets::draw(f, &app)).unwrap();
    assert_eq!(functions(&text(&terminal))[0], "cache_insert");
}

#[test]
fn the_display_loop_draws_published_snapshots_and_obeys_keys() {
    let shared = Shared::default();
    shared.publish(snapshot());
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    let mut keys = vec![
        None,
        Some(KeyCode::Char('s')),
        Some(KeyCode::Char('k')),
        None,
        Some(KeyCode::Char('q')),
    ]
    .into_iter();
    let mut next = |_: Duration| Ok(keys.next().flatten().map(|k| Event::Key(k.into())));
    let mut stops = Vec::new();
    let app = display::run(
        &mut terminal,
        &shared,
        &mut next,
        &mut |force| stops.push(force),
        &|| false,
    )
    .unwrap();
    assert_eq!(app.sort, Column::Total);
    assert_eq!(stops, [false]);
    let lines = text(&terminal);
    assert_eq!(functions(&lines)[0], "main");
    assert!(lines[3].ends_with("k again kills it)"), "{}", lines[3]);
}

#[test]
fn figures_the_collector_could_not_refresh_say_how_old_they_are() {
    let mut app = app();
    app.stale = Some(Duration::from_millis(3_200));
    assert_eq!(
        screen(&app, 100, 20)[3],
        "sorted by own live  all threads  figures of 3s ago: waiting for an idle CPU"
    );
}

#[test]
fn a_program_that_never_recorded_is_said_so() {
    let shared = Shared::default();
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    let mut keys = vec![None, Some(KeyCode::Char('q'))].into_iter();
    let mut next = |_: Duration| Ok(keys.next().flatten().map(|k| Event::Key(k.into())));
    let app = display::run(&mut terminal, &shared, &mut next, &mut |_| {}, &|| true).unwrap();
    assert!(app.unrecorded);
    let lines = text(&terminal);
    assert_eq!(
        lines[0],
        "The program ended without recording anything: it did not load memprof's preload library (setuid, or"
    );
    assert_eq!(lines[1], "it cleared LD_PRELOAD?). q quits.");
}

#[test]
fn the_latest_marker_is_in_the_status_line() {
    let mut s = snapshot();
    s.last_marker = Some(("serve".into(), 2_500_000_000));
    let mut app = App::default();
    app.show(s);
    assert_eq!(
        screen(&app, 100, 20)[3],
        "sorted by own live  all threads  marker \"serve\" at 2.500s"
    );
}
