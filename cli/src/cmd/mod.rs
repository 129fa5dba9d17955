//! One module per command.

mod chains;
mod diff;
mod export;
mod mark;
mod pprof;
mod report;
pub(crate) mod run;
mod timeline;
mod top;
mod tree;
mod view;

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// An error that ends memprof with a particular exit status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Fails with `code` and `message`.
pub fn fail<T>(code: u8, message: impl Into<String>) -> anyhow::Result<T> {
    Err(Failure {
        code,
        message: message.into(),
    }
    .into())
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::report(args),
        Command::Export(args) => export::export(args),
        Command::Diff(args) => diff::diff(args),
        Command::Mark(args) => mark::mark(args),
        Command::Top(args) => top::top(args),
        Command::View(args) => view::view(args),
    }
}

pub use view::wanted as viewer_wanted;

/// True when `path` is a file that starts with the capture magic.
pub fn is_capture(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == memprof_format::MAGIC
}
