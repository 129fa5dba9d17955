//! `memprof export`: call stacks for other tools.

use std::io::Write;
use std::process::ExitCode;

use super::report::{metric, metric_name};
use crate::cli::{ExportArgs, ExportFormat};
use memprof_capture::{Line, Resolved};

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let capture = crate::symbolize::open_for_analysis(&args.capture)?;
    let r = &args.range;
    let range = crate::timespec::range(&capture, r.at.as_ref(), r.from.as_ref(), r.to.as_ref())?;
    let memprof_capture::Analysis {
        summary, mut sites, ..
    } = memprof_capture::analyze(&capture, range);
    let metric = metric(args.metric);
    if args.format == ExportFormat::Pprof {
        // Every stack with any figure: pprof picks its sample type later.
        sites.retain(|s| s.figures != memprof_capture::Figures::default());
        sites.sort_by_key(|s| s.stack);
    } else {
        memprof_capture::rank(&mut sites, metric);
    }
    if args.format == ExportFormat::Pprof && args.output.is_none() {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            return super::fail(
                2,
                "a pprof profile is binary: write it with -o PATH, or redirect",
            );
        }
    }
    let resolved = Resolved::of(&capture);
    let resolver = resolved.resolver();
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    // Collapsed stacks name frames outermost first.
    let collapsed: Vec<String> = sites
        .iter()
        .map(|s| {
            let frames: Vec<String> = resolver
                .lines(s.stack, usize::MAX)
                .iter()
                .rev()
                .map(flame_name)
                .collect();
            let path = if frames.is_empty() {
                "[before recording]".to_string()
            } else {
                frames.join(";")
            };
            format!("{path} {}", s.value(metric))
        })
        .collect();
    match args.format {
        ExportFormat::Collapsed => {
            for line in &collapsed {
                writeln!(out, "{line}")?;
            }
        }
        ExportFormat::Svg => {
            let mut options = inferno::flamegraph::Options::default();
            options.title = format!(
                "memprof: {} of {}",
                metric_name(metric),
                capture.command_line().join(" ")
            );
            options.count_name = match metric {
                memprof_capture::Metric::Allocations | memprof_capture::Metric::Temporary => {
                    "allocations"
                }
                _ => "bytes",
            }
            .to_string();
            if collapsed.is_empty() {
                anyhow::bail!("no call stack has any {} to draw", metric_name(metric));
            }
            inferno::flamegraph::from_lines(
                &mut options,
                collapsed.iter().map(String::as_str),
                &mut out,
            )?;
        }
        ExportFormat::Pprof => {
            super::pprof::write(&mut out, &capture, &summary, &sites, &resolver, metric)?;
        }
        ExportFormat::Json => {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                #[serde(flatten)]
                site: &'a memprof_capture::Site,
                frames: Vec<Line>,
            }
            let rows: Vec<Row> = sites
                .iter()
                .map(|s| Row {
                    site: s,
                    frames: resolver.lines(s.stack, usize::MAX),
                })
                .collect();
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({ "summary": summary, "stacks": rows }),
            )?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A frame as a flame graph names it: by function, so that one function's calls from
/// different lines merge; without `;` (the separator) or line breaks.
fn flame_name(l: &Line) -> String {
    let name = match (&l.function, &l.module) {
        (Some(f), _) => f.clone(),
        (None, Some(m)) => format!("{:#x} [{}]", l.address, m.rsplit('/').next().unwrap_or(m)),
        (None, None) => format!("{:#x}", l.address),
    };
    name.replace([';', '\n'], " ")
}
