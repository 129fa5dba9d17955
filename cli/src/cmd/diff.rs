//! `memprof diff`: how the heap differs between two captures of one program, or between two
//! moments of one capture, call stack by call stack.

use std::io::Write;
use std::process::ExitCode;

use memprof_capture::{Capture, HeapDiff};

use super::fail;
use crate::cli::DiffArgs;
use memprof_capture::units;

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
    let a = crate::symbolize::open_for_analysis(&args.a)?;
    let diff = match &args.b {
        Some(b_path) => {
            if args.range.from.is_some() || args.range.to.is_some() {
                return fail(
                    2,
                    "give either two captures or one capture with --from and --to",
                );
            }
            let b = crate::symbolize::open_for_analysis(b_path)?;
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
            HeapDiff::of_captures(&a, &b)
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
            // Checks that the range is not empty.
            crate::timespec::range(&a, None, Some(from), Some(to))?;
            HeapDiff::of_times(&a, t1.to, t2.to)
        }
    };
    let [sa, sb] = diff.summaries;
    let mut rows = diff.rows;
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
        let delta_total = rows.iter().map(|r| r.delta()).sum::<i128>();
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
