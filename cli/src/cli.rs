//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "memprof", version, about = "Heap profiler for Linux", long_about = None)]
#[command(
    after_help = "`memprof PROGRAM [ARGS...]` is `memprof run PROGRAM [ARGS...]`;\n`memprof CAPTURE` is `memprof view CAPTURE` on a terminal with a display and the viewer installed,\nelse `memprof report CAPTURE`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a program and record its heap allocations into a capture file.
    Run(RunArgs),
    /// Print a report of a capture.
    Report(ReportArgs),
    /// Write a capture's call stacks in another tool's format.
    Export(ExportArgs),
    /// Compare the live heap of two captures of one program, or of one capture at two times.
    Diff(DiffArgs),
    /// Put a marker with a label in the capture of a program being recorded, now.
    Mark(MarkArgs),
    /// Run a program under memprof and show its heap by function live, like top.
    Top(TopArgs),
    /// Open a capture in the viewer (memprof-viewer).
    View(ViewArgs),
}

#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// The capture to show (leave out to choose one in the viewer).
    pub capture: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct MarkArgs {
    /// The process being recorded.
    pub pid: u32,
    /// What to call this moment (report --from/--to/--at take it as a time).
    pub label: String,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The capture to compare (the "before").
    pub a: PathBuf,
    /// The capture to compare it with (the "after"); leave out to compare two times of A.
    pub b: Option<PathBuf>,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How many call stacks to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Frames shown per call stack.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub depth: usize,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The capture to read.
    pub capture: PathBuf,
    /// collapsed: one `frame;frame;... value` line per stack (flamegraph.pl, inferno,
    /// speedscope); svg: a flame graph; json: every stack with its figures and frames.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The figure each stack weighs.
    #[arg(long, value_enum, default_value_t = Sort::Bytes)]
    pub metric: Sort,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Collapsed stacks, the input of flamegraph.pl, inferno and speedscope.
    Collapsed,
    /// A flame graph.
    Svg,
    /// Google pprof's profile.proto, gzipped (pprof, Speedscope).
    Pprof,
    Json,
}

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Capture file to write [default: memprof.PROGRAM.PID.mprof in the working directory]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Record forked children too, each into a capture of its own next to this one.
    #[arg(long)]
    pub follow_fork: bool,
    /// Record programs started with exec by the program, each into a capture of its own.
    #[arg(long)]
    pub follow_exec: bool,
    /// How to walk stacks: DWARF unwind tables (correct everywhere) or frame pointers
    /// (faster, for programs and libraries built with them).
    #[arg(long, value_enum, default_value_t = Unwind::Dwarf)]
    pub unwind: Unwind,
    /// Frames kept per stack; deeper stacks are cut and marked as cut.
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_depth: u32,
    /// Do not resolve symbols after the run (the capture keeps raw addresses).
    #[arg(long)]
    pub no_symbols: bool,
    /// Print nothing but the program's own output.
    #[arg(short, long)]
    pub quiet: bool,
    /// The program to run, and its arguments.
    #[arg(required = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct TopArgs {
    /// Print the figures and table every --interval instead of a display (no terminal
    /// needed).
    #[arg(short, long)]
    pub batch: bool,
    /// Seconds between prints in batch mode.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "SECONDS",
        requires = "batch"
    )]
    pub interval: f64,
    /// Table rows per print in batch mode.
    #[arg(long, default_value_t = 10, value_name = "N", requires = "batch")]
    pub rows: u16,
    /// In batch mode, one JSON object per print, one per line.
    #[arg(long, requires = "batch")]
    pub json: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Unwind {
    Dwarf,
    Fp,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The capture to read.
    pub capture: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Rank call stacks by this figure.
    #[arg(long, value_enum, default_value_t = Sort::Bytes)]
    pub sort: Sort,
    /// How many call stacks to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Frames shown per call stack (levels, with --tree).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = at_least_one)]
    pub depth: usize,
    /// Only the call stacks with a function or source file whose name contains this.
    #[arg(long, value_name = "TEXT")]
    pub r#match: Option<String>,
    /// Show the heap and the allocation rate over the range, in this many columns
    /// (`--timeline=N`; 60 by default).
    #[arg(
        long,
        value_name = "COLUMNS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "60",
        value_parser = at_least_one
    )]
    pub timeline: Option<usize>,
    /// Show how many allocations requested how much, by power-of-two class.
    #[arg(long)]
    pub sizes: bool,
    /// Only the allocations of this thread (its kernel id, as listed by the report).
    #[arg(long, value_name = "TID")]
    pub thread: Option<u32>,
    /// Show the call stacks as a call tree, or as a flat list of functions.
    #[arg(long, value_enum, conflicts_with_all = ["callers", "callees"])]
    pub tree: Option<TreeKind>,
    /// Show the functions that call this function, with what went through each.
    #[arg(long, value_name = "FUNCTION", conflicts_with = "callees")]
    pub callers: Option<String>,
    /// Show the functions this function calls, with what went through each.
    #[arg(long, value_name = "FUNCTION")]
    pub callees: Option<String>,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Exit with status 1 if more than this was leaked (bytes; k, M, G, KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "BYTES", value_parser = memprof_capture::units::parse_bytes)]
    pub fail_if_leaked: Option<u64>,
    /// Exit with status 1 if the heap peaked above this (bytes; same suffixes).
    #[arg(long, value_name = "BYTES", value_parser = memprof_capture::units::parse_bytes)]
    pub fail_if_peak: Option<u64>,
}

/// How `report --tree` gathers the call stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TreeKind {
    /// From `main` down to the functions that allocated.
    TopDown,
    /// From the functions that allocated up to their callers.
    BottomUp,
    /// Every function, with what it allocated itself and what its callees did.
    Functions,
}

/// Times: `1.5s`, `250ms`, `2` (seconds), `start`, `peak`, `end`, or a marker's label.
#[derive(clap::Args, Debug, Default)]
pub struct RangeArgs {
    /// Only allocations made before this time, and what of them is live then (the heap at
    /// that moment).
    #[arg(long, value_name = "TIME", value_parser = crate::timespec::parse, conflicts_with_all = ["from", "to"])]
    pub at: Option<crate::timespec::TimeSpec>,
    /// Only allocations made after this time.
    #[arg(long, value_name = "TIME", value_parser = crate::timespec::parse)]
    pub from: Option<crate::timespec::TimeSpec>,
    /// Only allocations made up to this time; "leaked" becomes "still live then".
    #[arg(long, value_name = "TIME", value_parser = crate::timespec::parse)]
    pub to: Option<crate::timespec::TimeSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    Allocations,
    Bytes,
    Peak,
    Leaked,
    Temporary,
}

/// Parses the command line, accepting `memprof PROGRAM ...` and `memprof CAPTURE` as
/// shorthands.
pub fn parse(mut args: Vec<OsString>) -> Cli {
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        let known = [
            "run", "report", "export", "diff", "mark", "top", "view", "help",
        ];
        if !first.starts_with('-') && !known.contains(&first) {
            let sub = if !crate::cmd::is_capture(std::path::Path::new(first)) {
                "run"
            } else if args.len() == 2 && crate::cmd::viewer_wanted() {
                "view"
            } else {
                "report"
            };
            args.insert(1, sub.into());
        }
    }
    Cli::parse_from(args)
}

/// A count that must be 1 or more.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
