//! Batch mode: the display's figures and table printed at intervals, as text or as one JSON
//! object per line, for scripts and logs.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use memprof_live::Collector;

use crate::app::App;
use crate::{widgets, Error, Host};

/// How long to wait, after the last record, for the exit status in the header.
const SEAL_WAIT: Duration = Duration::from_secs(1);

/// How batch mode prints.
#[derive(Clone, Debug)]
pub struct Batch {
    pub interval: Duration,
    /// Table rows per print.
    pub rows: u16,
    /// Text width.
    pub width: u16,
    pub json: bool,
}

/// Follows the capture at `capture` until its program ends, printing the figures and table
/// to `out` every `options.interval` and once more at the end.
pub fn batch(
    capture: &Path,
    host: Host,
    options: &Batch,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut collector = Collector::open(capture, Box::new(host.clock))?;
    (host.stand_back)();
    let mut next = Instant::now() + options.interval;
    let mut drained: Option<Instant> = None;
    loop {
        let read = collector.poll()?;
        // Once every record is in, wait a moment for `memprof` to write how the program
        // ended into the header.
        if collector.finished() {
            drained.get_or_insert_with(Instant::now);
        }
        let done = drained.is_some_and(|t| sealed(&collector) || t.elapsed() >= SEAL_WAIT);
        if done || Instant::now() >= next {
            next += options.interval;
            let mut app = App::default();
            app.show(collector.snapshot(None));
            print(&app, options, out).map_err(Error::Output)?;
            if done {
                return Ok(());
            }
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn sealed(collector: &Collector) -> bool {
    let r = collector.recording();
    r.exit_code.is_some() || r.signal.is_some()
}

fn print(app: &App, options: &Batch, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(snapshot) = app.snapshot() else {
        return Ok(());
    };
    if options.json {
        let mut s = snapshot.clone();
        s.functions = app
            .rows()
            .into_iter()
            .take(options.rows as usize)
            .cloned()
            .collect();
        serde_json::to_writer(&mut *out, &s)?;
        writeln!(out)?;
    } else {
        for line in widgets::text(app, options.width, options.rows) {
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
    }
    out.flush()
}
