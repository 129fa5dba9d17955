//! `memprof-viewer`: see [`memprof_viewer::app`] for the command line.

fn main() -> std::process::ExitCode {
    match memprof_viewer::app::Args::parse(std::env::args_os().skip(1)) {
        Ok(args) => {
            let code = memprof_viewer::app::run(args);
            std::process::ExitCode::from(code.get() as u8)
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::ExitCode::from(2)
        }
    }
}
