//! Opening a capture: the header, and an index of every thread's chunks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memprof_format::{chunk, header as h, read_u32, read_u64};
use memprof_format::{CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE, MAGIC, VERSION};

use crate::{Error, ThreadId};

/// Bytes of a capture: a read-only memory map, or an owned buffer (tests, stdin).
enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// How the recorded process ended, as far as the capture knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// It exited by itself: the capture is complete.
    Exited,
    /// It was killed by this signal.
    Killed(i32),
    /// It replaced its program by exec: what the program did is all there.
    Exec,
    /// It stopped recording without finishing (crashed, or still running).
    CutShort,
}

/// One thread's chunks, in the order the thread wrote them.
#[derive(Clone, Debug)]
pub(crate) struct ThreadChunks {
    pub tid: ThreadId,
    /// Byte ranges of committed records, one per chunk, with the chunk's base time.
    pub chunks: Vec<(std::ops::Range<usize>, u64)>,
}

/// An open capture.
pub struct Capture {
    path: PathBuf,
    bytes: Bytes,
    pub(crate) threads: Vec<ThreadChunks>,
    /// Chunks of symbol tables (thread id [`memprof_format::SYMBOLS_TID`]).
    pub(crate) symbol_chunks: Vec<ThreadChunks>,
    /// Chunks of markers set from outside the program ([`memprof_format::MARKS_TID`]).
    pub(crate) mark_chunks: Vec<ThreadChunks>,
    /// Where the file ends in the middle of committed records (it was cut, or copied while
    /// being written).
    cut_at: Option<u64>,
}

impl Capture {
    /// Maps and checks the capture at `path`.
    #[allow(unsafe_code)]
    pub fn open(path: impl AsRef<Path>) -> Result<Capture, Error> {
        let path = path.as_ref().to_path_buf();
        let io = |error| Error::Io {
            path: path.clone(),
            error,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(Error::Empty { path });
        }
        // SAFETY: the map is read-only and private to this process; a capture that another
        // process is still writing only ever grows or has bytes appended in committed
        // chunks, and every read below is bounds-checked against the map's length.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Capture::new(path, Bytes::Map(map))
    }

    /// Reads a capture held in memory; `name` is used in error messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Capture, Error> {
        let path = name.into();
        if bytes.is_empty() {
            return Err(Error::Empty { path });
        }
        Capture::new(path, Bytes::Owned(bytes))
    }

    fn new(path: PathBuf, bytes: Bytes) -> Result<Capture, Error> {
        let b = bytes.as_slice();
        if b.len() < 8 || b[..8] != MAGIC {
            return Err(Error::Foreign { path });
        }
        let corrupt = |what, offset| Error::Corrupt {
            path: path.clone(),
            what,
            offset,
        };
        let version = read_u32(b, h::VERSION).ok_or(corrupt("header cut short", 8))?;
        if version != VERSION {
            return Err(Error::Version {
                path,
                version,
                supported: VERSION,
            });
        }
        if b.len() < HEADER_SIZE {
            return Err(corrupt("header cut short", b.len() as u64));
        }
        if read_u32(b, h::HEADER_SIZE) != Some(HEADER_SIZE as u32) {
            return Err(corrupt("unexpected header size", h::HEADER_SIZE as u64));
        }
        if read_u32(b, h::CHUNK_SIZE) != Some(CHUNK_SIZE as u32) {
            return Err(corrupt("unexpected chunk size", h::CHUNK_SIZE as u64));
        }
        if b[h::POINTER_SIZE] != 8 || b[h::ENDIAN] != 1 {
            return Err(corrupt(
                "not a 64-bit little-endian capture",
                h::POINTER_SIZE as u64,
            ));
        }
        if u32::from(b[h::TIME_SHIFT]) != memprof_format::TIME_SHIFT {
            return Err(corrupt("unexpected time unit", h::TIME_SHIFT as u64));
        }
        let (chunks, cut_at) = index_chunks(b);
        let (tables, threads): (Vec<_>, Vec<_>) = chunks.into_iter().partition(|t| {
            [memprof_format::SYMBOLS_TID, memprof_format::MARKS_TID].contains(&t.tid.0)
        });
        let (symbol_chunks, mark_chunks) = tables
            .into_iter()
            .partition(|t| t.tid.0 == memprof_format::SYMBOLS_TID);
        Ok(Capture {
            path,
            bytes,
            threads,
            symbol_chunks,
            mark_chunks,
            cut_at,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    fn u32_at(&self, off: usize) -> u32 {
        read_u32(self.bytes(), off).unwrap_or(0)
    }

    fn u64_at(&self, off: usize) -> u64 {
        read_u64(self.bytes(), off).unwrap_or(0)
    }

    /// Threads that wrote records.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// The kernel ids of the recorded threads, in ascending order.
    pub fn thread_ids(&self) -> Vec<ThreadId> {
        self.threads.iter().map(|t| t.tid).collect()
    }

    /// Size of the capture file in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Always false: an empty file is refused by [`Capture::open`].
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    pub fn pid(&self) -> u32 {
        self.u32_at(h::PID)
    }

    pub fn ppid(&self) -> u32 {
        self.u32_at(h::PPID)
    }

    /// The pid this process was forked from, for the capture of a followed child.
    pub fn forked_from(&self) -> Option<u32> {
        Some(self.u32_at(h::FORKED_FROM)).filter(|&p| p != 0)
    }

    /// The recorded command line, one string per argument.
    pub fn command_line(&self) -> Vec<String> {
        let len = (self.u32_at(h::CMDLINE_LEN) as usize).min(h::CMDLINE_MAX);
        let raw = &self.bytes()[h::CMDLINE..h::CMDLINE + len];
        raw.split(|&c| c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub fn start_unix_ns(&self) -> u64 {
        self.u64_at(h::START_UNIX_NS)
    }

    pub fn max_depth(&self) -> u32 {
        self.u32_at(h::MAX_DEPTH)
    }

    /// "dwarf" or "fp".
    pub fn unwind_mode(&self) -> &'static str {
        if self.u32_at(h::UNWIND_MODE) == 1 {
            "fp"
        } else {
            "dwarf"
        }
    }

    fn flags(&self) -> u32 {
        self.u32_at(h::FLAGS)
    }

    /// How the process ended.
    pub fn ending(&self) -> Ending {
        let f = self.flags();
        if f & h::flags::EXECED != 0 {
            Ending::Exec
        } else if let Some(sig) = self.signal() {
            Ending::Killed(sig)
        } else if f & (h::flags::EXITED | h::flags::EXIT_KNOWN) != 0 && f & h::flags::CUT_SHORT == 0
        {
            Ending::Exited
        } else {
            Ending::CutShort
        }
    }

    /// The exit code, when `memprof run` saw the process exit.
    pub fn exit_code(&self) -> Option<i32> {
        (self.flags() & h::flags::EXIT_KNOWN != 0).then(|| self.u32_at(h::EXIT_CODE) as i32)
    }

    /// The signal that killed the process, when `memprof run` saw it die of one.
    pub fn signal(&self) -> Option<i32> {
        (self.flags() & h::flags::KILLED != 0).then(|| self.u32_at(h::EXIT_SIGNAL) as i32)
    }

    /// True when the recording did not finish normally.
    pub fn cut_short(&self) -> bool {
        !matches!(self.ending(), Ending::Exited | Ending::Exec)
    }

    /// Why some of what was recorded is missing from the file, if it is.
    pub fn missing(&self) -> Option<String> {
        if let Some(off) = self.cut_at {
            return Some(format!(
                "the file ends at offset {off}, in the middle of recorded data"
            ));
        }
        (self.flags() & h::flags::RECORDS_LOST != 0)
            .then(|| "records were lost: the capture file was removed while the program ran".into())
    }

    /// Whether tables (the heap index, symbols) may be appended to the file: not while its
    /// program may still write it, not when it cannot be written (it is then indexed in
    /// memory by each analysis), and not when records are missing (appending to a cut file
    /// would hide where it was cut).
    pub fn may_append(&self) -> bool {
        let writing = self.ending() == Ending::CutShort
            && Path::new(&format!("/proc/{}", self.pid())).exists();
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path())
            .is_ok();
        !writing && writable && self.missing().is_none()
    }

    /// Converts a record time (shifted TSC ticks) to nanoseconds since the start.
    pub fn ns(&self, time: u64) -> u64 {
        self.clock().ns(time)
    }

    /// The record time `ns` nanoseconds after the start (rounded up).
    pub fn ticks(&self, ns: u64) -> u64 {
        self.clock().ticks(ns)
    }

    /// The markers, `(label, record time)`, in time order: the program's own and those set
    /// from outside it.
    pub fn markers(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .descriptions()
            .chain(self.records_of(&self.mark_chunks))
            .filter_map(|r| match r {
                memprof_format::Record::Marker { time, label } => {
                    Some((String::from_utf8_lossy(label).into_owned(), time))
                }
                _ => None,
            })
            .collect();
        v.sort_by_key(|m| m.1);
        v
    }

    pub(crate) fn clock(&self) -> Clock {
        Clock {
            start_tsc: self.u64_at(h::START_TSC),
            start_ns: self.u64_at(h::START_MONO_NS),
            end_tsc: self.u64_at(h::END_TSC),
            end_ns: self.u64_at(h::END_MONO_NS),
        }
    }
}

/// The TSC calibration of a capture.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start_tsc: u64,
    start_ns: u64,
    end_tsc: u64,
    end_ns: u64,
}

impl Clock {
    /// The calibration of two (TSC, monotonic nanoseconds) readings.
    pub fn between(start: (u64, u64), end: (u64, u64)) -> Clock {
        Clock {
            start_tsc: start.0,
            start_ns: start.1,
            end_tsc: end.0,
            end_ns: end.1,
        }
    }

    pub fn ns(&self, time: u64) -> u64 {
        let ticks = (time << memprof_format::TIME_SHIFT).saturating_sub(self.start_tsc);
        let dt = self.end_tsc.saturating_sub(self.start_tsc);
        let dns = self.end_ns.saturating_sub(self.start_ns);
        if dt == 0 || dns == 0 {
            return ticks;
        }
        (u128::from(ticks) * u128::from(dns) / u128::from(dt)) as u64
    }

    /// The record time of `ns` nanoseconds after the start, rounded up (the inverse of
    /// [`Clock::ns`]).
    pub fn ticks(&self, ns: u64) -> u64 {
        let dt = self.end_tsc.saturating_sub(self.start_tsc);
        let dns = self.end_ns.saturating_sub(self.start_ns);
        let tsc = if dt == 0 || dns == 0 {
            u128::from(ns)
        } else {
            (u128::from(ns) * u128::from(dt)).div_ceil(u128::from(dns))
        };
        let tsc = (u128::from(self.start_tsc) + tsc).min(u128::from(u64::MAX)) as u64;
        tsc.div_ceil(1 << memprof_format::TIME_SHIFT)
    }

    /// Nanoseconds from the start to the last calibration point, if there is one.
    pub fn end_ns(&self) -> Option<u64> {
        (self.end_tsc > self.start_tsc).then(|| self.end_ns.saturating_sub(self.start_ns))
    }
}

/// Groups the claimed chunks by thread. A thread claims its chunks one after another from a
/// shared counter, so file order is its writing order; this also keeps two threads that had
/// the same (reused) kernel id in the order they lived. A chunk that runs past the end of the
/// file (a capture copied while being written, or cut) keeps what fits; the offset where it was
/// cut is returned beside.
fn index_chunks(b: &[u8]) -> (Vec<ThreadChunks>, Option<u64>) {
    let mut cut_at = None;
    let mut by_tid: BTreeMap<u32, Vec<(std::ops::Range<usize>, u64)>> = BTreeMap::new();
    let mut off = HEADER_SIZE;
    while off + CHUNK_HEADER_SIZE <= b.len() {
        if read_u32(b, off + chunk::MAGIC) == Some(CHUNK_MAGIC) {
            let tid = read_u32(b, off + chunk::TID).unwrap_or(0);
            let used = read_u32(b, off + chunk::USED).unwrap_or(0) as usize;
            let base = read_u64(b, off + chunk::BASE_TIME).unwrap_or(0);
            let start = off + CHUNK_HEADER_SIZE;
            let committed = start + used.min(CHUNK_SIZE - CHUNK_HEADER_SIZE);
            if committed > b.len() {
                cut_at = Some(b.len() as u64);
            }
            let end = committed.min(b.len());
            by_tid.entry(tid).or_default().push((start..end, base));
        }
        off += CHUNK_SIZE;
    }
    let chunks = by_tid
        .into_iter()
        .map(|(tid, chunks)| ThreadChunks {
            tid: ThreadId(tid),
            chunks,
        })
        .collect();
    (chunks, cut_at)
}
