//! `memprof report`: what a capture says.

use std::io::Write;
use std::process::ExitCode;

use memprof_capture::{Capture, Summary};

use crate::cli::ReportArgs;
use crate::units;

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let capture = Capture::open(&args.capture)?;
    let summary = Summary::of(&capture);
    let mut out = std::io::stdout().lock();
    if args.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            summary: &'a Summary,
            modules: Vec<memprof_capture::Module>,
        }
        serde_json::to_writer_pretty(
            &mut out,
            &Json {
                summary: &summary,
                modules: capture.modules(),
            },
        )?;
        writeln!(out)?;
    } else {
        write_summary(&mut out, &capture, &summary)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The summary as aligned lines, shared by `report` and `run`.
pub fn write_summary(out: &mut impl Write, capture: &Capture, s: &Summary) -> std::io::Result<()> {
    let cmd = capture.command_line().join(" ");
    writeln!(
        out,
        "{:<22}{} (pid {})",
        "program",
        if cmd.is_empty() { "?" } else { &cmd },
        capture.pid()
    )?;
    writeln!(out, "{:<22}{}", "duration", units::seconds(s.duration_ns))?;
    let row = |out: &mut dyn Write, name: &str, value: String| writeln!(out, "{name:<22}{value}");
    row(out, "allocations", units::count(s.allocations))?;
    row(out, "frees", units::count(s.frees))?;
    row(
        out,
        "bytes allocated",
        format!(
            "{} ({} B)",
            units::bytes(s.bytes_allocated),
            units::count(s.bytes_allocated)
        ),
    )?;
    row(
        out,
        "peak heap",
        format!(
            "{} ({} B) at {}",
            units::bytes(s.peak_bytes),
            units::count(s.peak_bytes),
            units::seconds(s.peak_time_ns)
        ),
    )?;
    row(
        out,
        "leaked at exit",
        format!(
            "{} ({} B) in {} blocks",
            units::bytes(s.leaked_bytes),
            units::count(s.leaked_bytes),
            units::count(s.leaked_blocks)
        ),
    )?;
    row(
        out,
        "temporary allocations",
        units::count(s.temporary_allocations),
    )?;
    if s.failed_allocations > 0 {
        row(
            out,
            "failed allocations",
            units::count(s.failed_allocations),
        )?;
    }
    row(out, "threads", units::count(s.threads))?;
    if s.truncated {
        let why = match (s.signal, s.exit_code) {
            (Some(sig), _) => format!("yes: the program was killed by signal {sig}"),
            (None, Some(code)) => {
                format!("yes: the program exited ({code}) without running its exit handlers")
            }
            _ => "yes: the program did not finish".to_string(),
        };
        row(out, "cut short", why)?;
    }
    if let Some(c) = &s.corruption {
        row(out, "corruption", c.clone())?;
    }
    Ok(())
}
