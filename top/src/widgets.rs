//! Drawing the display: header, function table, key bar, help, and a note when the terminal
//! is too small to hold them.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Widget};
use ratatui::Frame;

use memprof_capture::units;
use memprof_live::{Snapshot, State};

use crate::app::{App, Column};

/// The smallest terminal the display fits in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 10;

const HEADER_LINES: u16 = 4;

/// Draws the whole display.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    render(app, area, frame.buffer_mut());
}

fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "Terminal too small ({}×{}): memprof top needs {MIN_WIDTH}×{MIN_HEIGHT}. q quits.",
            area.width, area.height
        );
        Paragraph::new(text)
            .wrap(Default::default())
            .render(area, buf);
        return;
    }
    let [head, table, keys] = Layout::vertical([
        Constraint::Length(HEADER_LINES),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match app.snapshot() {
        Some(s) if !app.unrecorded => {
            Paragraph::new(header(s, app)).render(head, buf);
            render_table(app, s, table, buf);
        }
        _ if app.unrecorded => Paragraph::new(
            "The program ended without recording anything: it did not load memprof's preload \
             library (setuid, or it cleared LD_PRELOAD?). q quits.",
        )
        .wrap(Default::default())
        .render(head, buf),
        _ => Paragraph::new("memprof top: starting…").render(head, buf),
    }
    Paragraph::new(key_bar(app)).render(keys, buf);
    if app.help {
        render_help(area, buf);
    }
}

/// The header's figures and the first `rows` rows of the table as plain text lines of
/// `width` columns, for output that is not a terminal display.
pub fn text(app: &App, width: u16, rows: u16) -> Vec<String> {
    let Some(s) = app.snapshot() else {
        return Vec::new();
    };
    let shown = (app.rows().len() as u16).min(rows);
    // The program line and figures, the top three, the titles, the rows.
    let area = Rect::new(0, 0, width, 4 + shown);
    let mut buf = Buffer::empty(area);
    let [head, table] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    Paragraph::new(header(s, app)).render(head, &mut buf);
    render_table(app, s, table, &mut buf);
    (0..area.height)
        .map(|y| {
            let line: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_string()
        })
        .collect()
}

fn header(s: &Snapshot, app: &App) -> Vec<Line<'static>> {
    let program = if s.command.is_empty() {
        "(starting)".to_string()
    } else {
        s.command.join(" ")
    };
    let state = match s.state {
        State::Starting => "starting".to_string(),
        State::Running => "running".to_string(),
        State::Exited(code) => format!("exited with {code}"),
        State::Killed(sig) => format!("killed by signal {sig}"),
        State::Ended => "ended".to_string(),
    };
    let first = Line::from(vec![
        Span::raw(program).bold(),
        Span::raw(format!(
            "  pid {}  {state}  {}",
            s.pid,
            units::duration(s.elapsed_ns)
        )),
    ]);
    let figures = Line::from(format!(
        "heap {}  peak {}  allocations {} ({}/s)  threads {}",
        units::bytes(s.heap_bytes),
        units::bytes(s.peak_bytes),
        units::count(s.allocations),
        units::count(s.rate.round() as u64),
        s.threads
    ));
    let mut top: Vec<_> = s.functions.iter().filter(|f| f.own_bytes > 0).collect();
    top.sort_by(|a, b| b.own_bytes.cmp(&a.own_bytes).then(a.name.cmp(&b.name)));
    let top: Vec<String> = top
        .iter()
        .take(3)
        .map(|f| format!("{} {}", short_name(&f.name, 30), units::bytes(f.own_bytes)))
        .collect();
    let top = match s.thread {
        None => Line::from(format!("top: {}", top.join(" · "))),
        Some(t) => Line::from(format!("top of thread {}: {}", t.0, top.join(" · "))),
    };
    let thread = match app.thread {
        None => "all threads".to_string(),
        Some(t) => format!("thread {}", t.0),
    };
    let mut status = vec![Span::raw(format!(
        "sorted by {}  {thread}",
        app.sort.title()
    ))];
    if app.editing || !app.filter.is_empty() {
        let cursor = if app.editing { "▏" } else { "" };
        status.push(Span::raw(format!("  filter: {}{cursor}", app.filter)));
    }
    if app.paused {
        status.push(Span::raw("  PAUSED").reversed());
    } else if let Some(age) = app.stale {
        status.push(Span::raw(format!(
            "  figures of {:.0}s ago: waiting for an idle CPU",
            age.as_secs_f64()
        )));
    }
    if let Some((label, ns)) = &s.last_marker {
        status.push(Span::raw(format!(
            "  marker {label:?} at {}",
            units::duration(*ns)
        )));
    }
    if s.corrupt_chunks > 0 {
        status.push(Span::raw(format!("  {} unreadable chunks", s.corrupt_chunks)).bold());
    }
    if let Some(note) = &app.note {
        status.push(Span::raw(format!("  {note}")).italic());
    }
    vec![first, figures, top, Line::from(status)]
}

fn render_table(app: &App, s: &Snapshot, area: Rect, buf: &mut Buffer) {
    let rows = app.rows();
    // One line for the column titles.
    let visible = area.height.saturating_sub(1) as usize;
    let scroll = app.scroll.min(rows.len().saturating_sub(visible));
    let heap = s.heap_bytes.max(1) as f64;
    let body = rows.iter().skip(scroll).take(visible).map(|r| {
        Row::new(vec![
            Cell::from(units::bytes(r.own_bytes)),
            Cell::from(units::bytes(r.total_bytes)),
            Cell::from(format!("{:.1}%", r.total_bytes as f64 * 100.0 / heap)),
            Cell::from(units::count(r.allocations)),
            Cell::from(units::count(r.rate.round() as u64)),
            Cell::from(r.name.clone()),
        ])
    });
    let title = |c: Option<Column>, text: &'static str| {
        let cell = Cell::from(text);
        if c == Some(app.sort) {
            cell.style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            cell
        }
    };
    let titles = Row::new(vec![
        title(Some(Column::Own), "OWN"),
        title(Some(Column::Total), "TOTAL"),
        title(None, "%HEAP"),
        title(Some(Column::Allocations), "ALLOCS"),
        title(Some(Column::Rate), "ALLOCS/S"),
        title(None, "FUNCTION"),
    ])
    .bold();
    let widths = [
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(13),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    Widget::render(
        Table::new(body, widths).header(titles).column_spacing(1),
        area,
        buf,
    );
}

fn key_bar(app: &App) -> Line<'static> {
    if app.editing {
        return Line::from("type to filter functions  Enter keep  Esc clear");
    }
    Line::from("s sort  / filter  t thread  p pause  r reset  k stop program  h help  q quit")
        .reversed()
}

const HELP: &[(&str, &str)] = &[
    (
        "s",
        "sort by the next column: own, total, allocations, allocations/s",
    ),
    (
        "/",
        "filter functions by name (Enter keeps it, Esc clears it)",
    ),
    ("t", "show all threads, then each thread in turn"),
    ("p", "pause the display (recording goes on)"),
    ("r", "reset allocation counts, rates and the peak"),
    (
        "k",
        "stop the program (SIGTERM; again: SIGKILL); the final table stays",
    ),
    ("↑ ↓", "scroll"),
    ("q", "quit the display; the program runs on to its end"),
    ("", ""),
    ("OWN", "live bytes the function allocated itself"),
    ("TOTAL", "live bytes it and what it called allocated"),
    ("ALLOCS", "allocations by it and what it called"),
];

fn render_help(area: Rect, buf: &mut Buffer) {
    let width = area.width.min(76);
    let height = (HELP.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::raw(format!("{k:>6}  ")).bold(),
                Span::raw(*what),
            ])
        })
        .collect();
    Clear.render(rect, buf);
    Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" help "))
        .render(rect, buf);
}

/// `name` cut to `max` characters.
fn short_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}
