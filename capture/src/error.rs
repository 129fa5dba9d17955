//! The one error type of this crate.

use std::path::PathBuf;

/// Why a capture cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is empty: the program never loaded memprof's preload library (is it statically linked?)")]
    Empty { path: PathBuf },
    #[error("{path} is not a memprof capture")]
    Foreign { path: PathBuf },
    #[error("{path} is a memprof capture of version {version}, which this memprof (version {supported}) cannot read")]
    Version {
        path: PathBuf,
        version: u32,
        supported: u32,
    },
    #[error("corrupt capture {path}: {what} at offset {offset}")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        offset: u64,
    },
}
