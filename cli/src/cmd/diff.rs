//! `memprof diff`: how the heap differs between two captures of one program, or between two
//! moments of one capture, call stack by call stack.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use memprof_capture::{Capture, Range, Site};

use super::fail;
use crate::cli::DiffArgs;
use memprof_capture::units;
use memprof_capture::{Line, Resolved};

/// Figures of one call stack on both sides.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Row {
    allocations: [u64; 2],
    bytes: [u64; 2],
    live_bytes: [u64; 2],
    live_blocks: [u64; 2],
    /// Allocations made between the two moments and still live at the second (one-capture
    /// form only).
    new_live_bytes: u64,
    new_live_blocks: u64,
    frames: Vec<Line>,
}

impl Row {
    fn delta(&self) -> i128 {
        i128::from(self.live_bytes[1]) - i128::from(self.live_bytes[0])
    }
}

/// A call stack as both captures can name it (see [`Line::function_key`]).
fn key(lines: &[Line]) -> Vec<String> {
    lines.iter().map(Line::function_key).collect()
}

/// Adds `sites` of one side to `rows`, keyed by symbolic stack.
fn add(
    rows: &mut HashMap<Vec<String>, Row>,
    capture: &Capture,
    sites: &[Site],
    side: usize,
    new: bool,
) {
    let resolved = Resolved::of(capture);
    let resolver = resolved.resolver();
    for s in sites {
        let lines = resolver.lines(s.stack, usize::MAX);
        let row = rows.entry(key(&lines)).or_default();
        if new {
            row.new_live_bytes += s.figures.leaked_bytes;
            row.new_live_blocks += s.figures.leaked_blocks;
        } else {
            row.allocations[side] += s.figures.allocations;
            row.bytes[side] += s.figures.bytes;
            row.live_bytes[side] += s.figures.leaked_bytes;
            row.live_blocks[side] += s.figures.leaked_blocks;
        }
        if row.frames.is_empty() {
            row.frames = lines;
        }
    }
}

fn program(c: &Capture) -> String {
    let cmd = c.command_line();
    let argv0 = cmd.first().map(String::as_str).unwrap_or("?");
    argv0.rsplit('/').next().unwrap_or(argv0).to_string()
}

pub fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    if args.range.at.is_some() {
        return fail(
            2,
            "diff compares two moments: give --from and --to, not --at",
        );
    }
    let a = crate::symbolize::open_indexed(&args.a)?;
    let mut rows: HashMap<Vec<String>, Row> = HashMap::new();
    let (sa, sb);
    match &args.b {
        Some(b_path) => {
            if args.range.from.is_some() || args.range.to.is_some() {
                return fail(
                    2,
                    "give either two captures or one capture with --from and --to",
                );
            }
            let b = crate::symbolize::open_indexed(b_path)?;
            if program(&a) != program(&b) {
                return fail(
                    2,
                    format!(
                        "{} records {} but {} records {}: compare runs of one program",
                        args.a.display(),
                        program(&a),
                        b_path.display(),
                        program(&b)
                    ),
                );
            }
            let analysis_a = memprof_capture::analyze(&a, Range::ALL);
            let (summary_a, sites_a) = (analysis_a.summary, analysis_a.sites);
            let analysis_b = memprof_capture::analyze(&b, Range::ALL);
            let (summary_b, sites_b) = (analysis_b.summary, analysis_b.sites);
            add(&mut rows, &a, &sites_a, 0, false);
            add(&mut rows, &b, &sites_b, 1, false);
            (sa, sb) = (summary_a, summary_b);
        }
        None => {
            let (Some(from), Some(to)) = (&args.range.from, &args.range.to) else {
                return fail(
                    2,
                    "with one capture, give --from and --to (times or marker labels)",
                );
            };
            let t1 = crate::timespec::range(&a, Some(from), None, None)?;
            let t2 = crate::timespec::range(&a, Some(to), None, None)?;
            let between = crate::timespec::range(&a, None, Some(from), Some(to))?;
            let first = memprof_capture::analyze(&a, t1);
            let (summary, at1) = (first.summary, first.sites);
            let at2 = memprof_capture::analyze(&a, t2).sites;
            let new = memprof_capture::analyze(&a, between).sites;
            add(&mut rows, &a, &at1, 0, false);
            add(&mut rows, &a, &at2, 1, false);
            add(&mut rows, &a, &new, 1, true);
            (sa, sb) = (summary.clone(), summary);
        }
    }
    let mut rows: Vec<Row> = rows
        .into_values()
        .filter(|r| r.delta() != 0 || r.new_live_bytes != 0)
        .collect();
    rows.sort_by(|x, y| {
        y.delta()
            .abs()
            .cmp(&x.delta().abs())
            .then(y.new_live_bytes.cmp(&x.new_live_bytes))
    });
    rows.truncate(args.top);
    for r in &mut rows {
        r.frames.truncate(args.depth);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "a": sa, "b": sb, "stacks": rows }),
        )?;
        writeln!(out)?;
    } else {
        let one = args.b.is_none();
        let delta_total = rows.iter().map(Row::delta).sum::<i128>();
        writeln!(
            out,
            "{} call stacks whose live heap changed (total {} B):",
            rows.len(),
            signed(delta_total)
        )?;
        writeln!(
            out,
            "{:>4} {:>14} {:>14} {:>14} {:>16}",
            "#",
            if one { "live before" } else { "live in A" },
            if one { "live after" } else { "live in B" },
            "change",
            if one { "new, still live" } else { "" }
        )?;
        for (i, r) in rows.iter().enumerate() {
            let new = if one {
                units::bytes(r.new_live_bytes)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{:>4} {:>14} {:>14} {:>14} {:>16}",
                i + 1,
                units::bytes(r.live_bytes[0]),
                units::bytes(r.live_bytes[1]),
                signed(r.delta()),
                new
            )?;
            for l in &r.frames {
                writeln!(out, "{:>6}{l}", "")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn signed(v: i128) -> String {
    let mag = units::count(v.unsigned_abs() as u64);
    if v < 0 {
        format!("-{mag}")
    } else {
        format!("+{mag}")
    }
}
