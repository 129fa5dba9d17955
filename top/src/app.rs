//! What the display shows and how keys change it: sorting, filtering, the thread shown,
//! pausing, scrolling and help. No terminal here.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use memprof_capture::ThreadId;
use memprof_live::{FunctionRow, Snapshot};

/// The figure the table is sorted by, largest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Column {
    #[default]
    Own,
    Total,
    Allocations,
    Rate,
}

impl Column {
    /// The next column `s` sorts by.
    pub fn next(self) -> Column {
        match self {
            Column::Own => Column::Total,
            Column::Total => Column::Allocations,
            Column::Allocations => Column::Rate,
            Column::Rate => Column::Own,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Column::Own => "own live",
            Column::Total => "total live",
            Column::Allocations => "allocations",
            Column::Rate => "allocations/s",
        }
    }

    fn value(self, row: &FunctionRow) -> f64 {
        match self {
            Column::Own => row.own_bytes as f64,
            Column::Total => row.total_bytes as f64,
            Column::Allocations => row.allocations as f64,
            Column::Rate => row.rate,
        }
    }
}

/// What a key asks of whoever runs the display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    None,
    /// Start counts, rates and the peak afresh.
    Reset,
    /// Show this thread's functions only (`None`: all threads).
    Thread(Option<ThreadId>),
    /// Stop the program: SIGTERM, or SIGKILL when `force`d (asked again); the display stays.
    StopProgram {
        force: bool,
    },
    /// Leave the display; the program runs on to its end.
    Quit,
}

/// The display's state.
#[derive(Debug, Default)]
pub struct App {
    shown: Option<Snapshot>,
    pub sort: Column,
    pub filter: String,
    /// Keys go to the filter.
    pub editing: bool,
    /// The display is frozen (recording goes on).
    pub paused: bool,
    pub thread: Option<ThreadId>,
    pub help: bool,
    /// The first table row shown.
    pub scroll: usize,
    /// A note shown until the next key.
    pub note: Option<String>,
    /// The program ended without writing its capture.
    pub unrecorded: bool,
    /// Times the user asked to stop the program.
    stops: u32,
    /// How old the shown figures are, when the collector could not keep up (the program
    /// keeps every CPU busy, and the collector only runs on an idle one).
    pub stale: Option<std::time::Duration>,
}

impl App {
    /// Shows `snapshot`, unless the display is paused.
    pub fn show(&mut self, snapshot: Snapshot) {
        if !self.paused || self.shown.is_none() {
            self.shown = Some(snapshot);
        }
    }

    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.shown.as_ref()
    }

    /// The table: the shown functions that match the filter, sorted.
    pub fn rows(&self) -> Vec<&FunctionRow> {
        let Some(s) = &self.shown else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&FunctionRow> = s
            .functions
            .iter()
            .filter(|r| needle.is_empty() || r.name.to_lowercase().contains(&needle))
            .collect();
        let sort = self.sort;
        rows.sort_by(|a, b| {
            sort.value(b)
                .total_cmp(&sort.value(a))
                .then_with(|| b.total_bytes.cmp(&a.total_bytes))
                .then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    /// Handles one key press.
    pub fn key(&mut self, key: KeyEvent) -> Request {
        self.note = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Request::Quit;
        }
        if self.editing {
            match key.code {
                KeyCode::Enter => self.editing = false,
                KeyCode::Esc => {
                    self.editing = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.scroll = 0;
            return Request::None;
        }
        if self.help {
            // Any key closes the help; `q` still quits.
            self.help = false;
            return if key.code == KeyCode::Char('q') {
                Request::Quit
            } else {
                Request::None
            };
        }
        match key.code {
            KeyCode::Char('q') => return Request::Quit,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('h') | KeyCode::Char('?') => self.help = true,
            KeyCode::Char('r') => {
                self.note = Some("counts, rates and peak reset".into());
                return Request::Reset;
            }
            KeyCode::Char('k') => {
                self.stops += 1;
                let force = self.stops > 1;
                self.note = Some(if force {
                    "killing the program".into()
                } else {
                    "stopping the program (k again kills it)".into()
                });
                return Request::StopProgram { force };
            }
            KeyCode::Char('t') => {
                self.thread = self.next_thread();
                self.scroll = 0;
                return Request::Thread(self.thread);
            }
            KeyCode::Down => self.scroll = self.scroll.saturating_add(1),
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Home => self.scroll = 0,
            _ => {}
        }
        Request::None
    }

    /// All threads, then each thread seen in turn.
    fn next_thread(&self) -> Option<ThreadId> {
        let ids = self.shown.as_ref().map_or(&[][..], |s| &s.thread_ids[..]);
        match self.thread {
            None => ids.first().copied(),
            Some(t) => {
                let i = ids.iter().position(|&x| x == t);
                i.and_then(|i| ids.get(i + 1)).copied()
            }
        }
    }
}
