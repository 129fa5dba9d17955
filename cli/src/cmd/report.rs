//! `memprof report`: what a capture says.

use std::io::Write;
use std::process::ExitCode;

use memprof_capture::{
    Analysis, Capture, Figures, Metric, Range, Scope, Site, SizeClass, Summary, ThreadFigures,
    ThreadId,
};

use super::tree::{Shape, View};
use crate::cli::{ReportArgs, Sort};
use memprof_capture::units;
use memprof_capture::{Line, Resolved, Resolver};

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let capture = crate::symbolize::open_for_analysis(&args.capture)?;
    let metric = metric(args.sort);
    let r = &args.range;
    let range = crate::timespec::range(&capture, r.at.as_ref(), r.from.as_ref(), r.to.as_ref())?;
    let thread = args.thread.map(ThreadId);
    if let Some(t) = thread {
        if !capture.thread_ids().contains(&t) {
            let known: Vec<String> = capture
                .thread_ids()
                .iter()
                .map(|t| t.0.to_string())
                .collect();
            return super::fail(
                2,
                format!(
                    "no thread {} in {} (its threads: {})",
                    t.0,
                    args.capture.display(),
                    known.join(", ")
                ),
            );
        }
    }
    let Analysis {
        summary,
        mut sites,
        threads,
        sizes,
        series,
    } = memprof_capture::analyze(
        &capture,
        Scope {
            range,
            thread,
            summary_only: false,
        },
    );
    let timeline = args
        .timeline
        .map(|n| series.columns(&capture, range, n))
        .unwrap_or_default();
    let resolved = Resolved::of(&capture);
    let resolver = resolved.resolver();
    if let Some(needle) = &args.r#match {
        sites.retain(|s| resolver.mentions(s.stack, needle));
    }
    memprof_capture::rank(&mut sites, metric);
    let total = match metric {
        Metric::Allocations => summary.allocations,
        Metric::Bytes => summary.bytes_allocated,
        Metric::Peak => summary.peak_bytes,
        Metric::Leaked => summary.leaked_bytes,
        Metric::Temporary => summary.temporary_allocations,
    };
    let shape = match (args.tree, &args.callers, &args.callees) {
        (Some(kind), _, _) => Some(Shape::Tree(kind)),
        (_, Some(f), _) => Some(Shape::Callers(f)),
        (_, _, Some(f)) => Some(Shape::Callees(f)),
        _ => None,
    };
    let view = shape.map(|kind| View {
        kind,
        metric,
        total,
        ranged: range != Range::ALL,
        depth: args.depth,
        top: args.top,
    });
    // The stacks themselves, unless they are shown gathered by function.
    let stacks = match view {
        Some(_) => &[][..],
        None => &sites[..sites.len().min(args.top)],
    };
    let modules = &resolved.modules;
    let mut out = std::io::stdout().lock();
    if args.json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            site: &'a Site,
            frames: Vec<Line>,
        }
        #[derive(serde::Serialize)]
        struct Span {
            from_ns: u64,
            to_ns: u64,
        }
        #[derive(serde::Serialize)]
        struct Json<'a> {
            summary: &'a Summary,
            #[serde(skip_serializing_if = "Option::is_none")]
            range: Option<Span>,
            #[serde(skip_serializing_if = "Option::is_none")]
            thread: Option<ThreadId>,
            threads: &'a [ThreadFigures],
            sizes: &'a [SizeClass],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            timeline: &'a [memprof_capture::Column],
            #[serde(skip_serializing_if = "Option::is_none")]
            stacks: Option<Vec<Row<'a>>>,
            modules: &'a [memprof_capture::Module],
        }
        let rows = stacks
            .iter()
            .map(|s| Row {
                site: s,
                frames: resolver.lines(s.stack, args.depth),
            })
            .collect();
        let range = (range != Range::ALL).then(|| Span {
            from_ns: capture.ns(range.from),
            to_ns: capture.ns(range.to).min(summary.duration_ns),
        });
        let json = Json {
            summary: &summary,
            range,
            thread,
            threads: &threads,
            sizes: &sizes,
            timeline: &timeline,
            stacks: view.is_none().then_some(rows),
            modules,
        };
        let mut json = serde_json::to_value(json)?;
        if let (Some(view), Some(map)) = (&view, json.as_object_mut()) {
            let (key, value) = super::tree::json(view, &sites, &resolver);
            map.insert(key.to_string(), value);
        }
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        write_summary(&mut out, &capture, &summary)?;
        if range != Range::ALL {
            let to = capture.ns(range.to).min(summary.duration_ns);
            writeln!(
                out,
                "{:<22}{} .. {}",
                "range",
                units::seconds(capture.ns(range.from)),
                units::seconds(to)
            )?;
        }
        if threads.len() > 1 {
            write_threads(&mut out, &threads, metric, total, range != Range::ALL)?;
        }
        if let Some(t) = thread {
            writeln!(out, "{:<22}{}", "thread", t.0)?;
        }
        super::timeline::write(&mut out, &timeline)?;
        if args.sizes {
            write_sizes(&mut out, &sizes)?;
        }
        if let Some(view) = &view {
            super::tree::write(&mut out, view, &sites, &resolver)?;
        }
        write_sites(
            &mut out,
            stacks,
            metric,
            total,
            range != Range::ALL,
            &resolver,
            args.depth,
        )?;
    }
    out.flush()?;
    let over = |limit: Option<u64>, value: u64| limit.is_some_and(|l| value > l);
    if over(args.fail_if_leaked, summary.leaked_bytes) {
        let limit = args.fail_if_leaked.unwrap_or(0);
        return super::fail(
            1,
            format!(
                "leaked {} B, more than the {} B allowed",
                units::count(summary.leaked_bytes),
                units::count(limit)
            ),
        );
    }
    if over(args.fail_if_peak, summary.peak_bytes) {
        let limit = args.fail_if_peak.unwrap_or(0);
        return super::fail(
            1,
            format!(
                "the heap peaked at {} B, more than the {} B allowed",
                units::count(summary.peak_bytes),
                units::count(limit)
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The analysis metric of a `--sort` value.
pub fn metric(sort: Sort) -> Metric {
    match sort {
        Sort::Allocations => Metric::Allocations,
        Sort::Bytes => Metric::Bytes,
        Sort::Peak => Metric::Peak,
        Sort::Leaked => Metric::Leaked,
        Sort::Temporary => Metric::Temporary,
    }
}

pub fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::Allocations => "allocations",
        Metric::Bytes => "bytes allocated",
        Metric::Peak => "bytes at the peak",
        Metric::Leaked => "bytes leaked",
        Metric::Temporary => "temporary allocations",
    }
}

fn write_sites(
    out: &mut impl Write,
    sites: &[Site],
    metric: Metric,
    total: u64,
    ranged: bool,
    resolver: &Resolver,
    depth: usize,
) -> std::io::Result<()> {
    if sites.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    match sites.len() {
        1 => writeln!(out, "Top call stack by {}:", metric_name(metric))?,
        n => writeln!(out, "Top {n} call stacks by {}:", metric_name(metric))?,
    }
    writeln!(out, "{:>4} {}  min / avg / max size", "#", header(ranged))?;
    for (i, s) in sites.iter().enumerate() {
        let f = &s.figures;
        writeln!(
            out,
            "{:>4} {}  {}",
            i + 1,
            columns(f, metric, total),
            sizes(f)
        )?;
        let lines = resolver.lines(s.stack, depth);
        if lines.is_empty() {
            writeln!(
                out,
                "{:>6}(no stack: allocated before recording started)",
                ""
            )?;
        }
        for l in lines {
            writeln!(out, "{:>6}{l}", "")?;
        }
        if f.truncated_stacks > 0 {
            writeln!(out, "{:>6}... (deeper frames were cut at --max-depth)", "")?;
        }
    }
    Ok(())
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
    if s.cross_thread_frees > 0 {
        row(
            out,
            "cross-thread frees",
            units::count(s.cross_thread_frees),
        )?;
    }
    if s.failed_allocations > 0 {
        row(
            out,
            "failed allocations",
            units::count(s.failed_allocations),
        )?;
    }
    row(out, "threads", units::count(s.threads))?;
    let markers = capture.markers();
    if !markers.is_empty() {
        let list: Vec<String> = markers
            .iter()
            .take(8)
            .map(|(l, t)| format!("{l:?} at {}", units::seconds(capture.ns(*t))))
            .collect();
        let more = if markers.len() > 8 {
            format!(" and {} more", markers.len() - 8)
        } else {
            String::new()
        };
        row(out, "markers", format!("{}{more}", list.join(", ")))?;
    }
    let missing = capture.missing();
    if s.truncated {
        let why = match (s.signal, &missing) {
            (Some(sig), _) => format!("yes: the program was killed by signal {sig}"),
            (None, Some(_)) if !capture.cut_short() => "yes: records are missing".to_string(),
            _ => "yes: the program did not finish".to_string(),
        };
        row(out, "cut short", why)?;
    }
    if s.replaced_by_exec {
        row(
            out,
            "ended by exec",
            "yes: the process went on as another program".into(),
        )?;
    }
    if let Some(c) = &s.corruption {
        row(out, "corruption", c.clone())?;
    }
    Ok(())
}

/// How many allocations requested how much, with a bar for each class.
fn write_sizes(out: &mut impl Write, sizes: &[SizeClass]) -> std::io::Result<()> {
    let most = sizes
        .iter()
        .map(|c| c.allocations)
        .max()
        .unwrap_or(0)
        .max(1);
    writeln!(out)?;
    writeln!(out, "Request sizes:")?;
    writeln!(out, "{:>23} {:>12} {:>10}", "bytes", "allocations", "bytes")?;
    for c in sizes {
        let bar = "#".repeat((c.allocations * 40).div_ceil(most) as usize);
        let span = format!("{} - {}", units::count(c.from), units::count(c.to));
        let (n, bytes) = (units::count(c.allocations), units::bytes(c.bytes));
        writeln!(out, "{span:>23} {n:>12} {bytes:>10}  {bar}")?;
    }
    Ok(())
}

/// What each thread allocated, largest first by `metric`.
fn write_threads(
    out: &mut impl Write,
    threads: &[ThreadFigures],
    metric: Metric,
    total: u64,
    ranged: bool,
) -> std::io::Result<()> {
    let mut threads: Vec<&ThreadFigures> = threads.iter().collect();
    threads.sort_by_key(|t| (std::cmp::Reverse(t.figures.value(metric)), t.thread));
    writeln!(out)?;
    writeln!(out, "Threads by {}:", metric_name(metric))?;
    writeln!(
        out,
        "{:>8} {}  {:>14}",
        "tid",
        header(ranged),
        "freed by others"
    )?;
    for t in threads {
        let row = columns(&t.figures, metric, total);
        let others = units::count(t.freed_by_other_threads);
        writeln!(out, "{:>8} {row}  {others:>14}", t.thread.0)?;
    }
    Ok(())
}

/// The headings of [`columns`].
pub fn header(ranged: bool) -> String {
    format!(
        "{:>12} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "allocations",
        "bytes",
        "peak",
        if ranged { "live@end" } else { "leaked" },
        "temporary",
        "%"
    )
}

/// The figures of a row as aligned columns: counts, bytes, and the share of `total` by
/// `metric`.
pub fn columns(f: &Figures, metric: Metric, total: u64) -> String {
    format!(
        "{:>12} {:>10} {:>10} {:>10} {:>10} {:>8.1}%",
        units::count(f.allocations),
        units::bytes(f.bytes),
        units::bytes(f.peak_bytes),
        units::bytes(f.leaked_bytes),
        units::count(f.temporary),
        f.value(metric) as f64 * 100.0 / total.max(1) as f64,
    )
}

/// Smallest, average and largest request: `min / avg / max`.
pub fn sizes(f: &Figures) -> String {
    format!(
        "{} / {} / {}",
        units::count(f.min_size),
        units::count(f.bytes / f.allocations.max(1)),
        units::count(f.max_size),
    )
}

/// A value of `metric`, in its unit.
pub fn value_text(metric: Metric, v: u64) -> String {
    match metric {
        Metric::Allocations | Metric::Temporary => units::count(v),
        Metric::Bytes | Metric::Peak | Metric::Leaked => units::bytes(v),
    }
}
