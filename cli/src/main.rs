//! `memprof`: record a program's heap allocations, then report on them.
//!
//! `main` parses the command line ([`cli`]) and dispatches to one module per command in
//! [`cmd`]. Errors print one line, `memprof: <what went wrong>`, and exit with status 2 (or
//! the status the command documents, such as 127 for a program that does not exist).

mod cli;
mod cmd;
mod elf;
mod preload;
mod symbolize;
mod timespec;
mod units;

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
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
