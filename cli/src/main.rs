//! `memprof`: record a program's heap allocations, then report on them.
//!
//! `main` parses the command line ([`cli`]) and dispatches to one module per command in
//! [`cmd`]. Errors print one line, `memprof: <what went wrong>`, and exit with status 2 (or
//! the status the command documents, such as 127 for a program that does not exist).

mod cli;
mod cmd;
mod elf;
mod indexing;
mod preload;
mod stdio;
mod symbolize;
mod timespec;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse(std::env::args_os().collect());
    match cmd::dispatch(args) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                // `memprof report | head`: the reader has seen enough.
                return ExitCode::SUCCESS;
            }
            let code = err.downcast_ref::<cmd::Failure>().map_or(2, |f| f.code);
            eprintln!("memprof: {err:#}");
            ExitCode::from(code)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().map(|io| io.kind()) == pipe
            // JSON output fails with serde_json's error, which keeps the kind but does not
            // chain to the I/O error.
            || e.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind()) == pipe
    })
}
