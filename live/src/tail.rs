//! Following a capture file while its program writes it.
//!
//! The recorder commits each record with a release store of its chunk's `used` length, and
//! writes a chunk's magic last when it claims one; reading `used` before the bytes it covers
//! (with `pread`, never through a mapping another process mutates) therefore sees whole
//! records only. A thread moves to a new chunk only after its last commit to the old one, so
//! once a thread's next chunk is visible, one more read of the old one finishes it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memprof_capture::ThreadId;
use memprof_format::{
    chunk, decode, header as h, read_u32, read_u64, ChunkState, DecodeError, Record,
    CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE, MAGIC, MARKS_TID, SYMBOLS_TID,
    VERSION,
};

use crate::Error;

/// What the capture's header says about the recording, as of the last poll.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The recorded process; 0 until it claims the capture.
    pub pid: u32,
    /// The command line it was started with.
    pub command: Vec<String>,
    /// TSC and monotonic clock when recording started.
    pub start_tsc: u64,
    pub start_mono_ns: u64,
    /// The latest TSC/monotonic pair the recorder (or `memprof run` at the end) stamped; 0
    /// when none yet.
    pub end_tsc: u64,
    pub end_mono_ns: u64,
    /// The header's flags (see `memprof_format::header::flags`).
    pub flags: u32,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

impl Recording {
    /// TSC ticks per nanosecond, from the recorder's latest clock stamp when it made one
    /// long enough after the start, or from a reading of `now`.
    pub(crate) fn tsc_per_ns(&self, now: impl FnOnce() -> crate::ClockReading) -> f64 {
        let (start_tsc, start_ns) = (self.start_tsc, self.start_mono_ns);
        let (mut tsc, mut ns) = (self.end_tsc, self.end_mono_ns);
        if ns < start_ns + 50_000_000 || tsc <= start_tsc {
            let now = now();
            (tsc, ns) = (now.tsc, now.mono_ns);
        }
        if ns <= start_ns || tsc <= start_tsc {
            return 1.0;
        }
        (tsc - start_tsc) as f64 / (ns - start_ns) as f64
    }

    /// The program has ended and its capture has been sealed or completed: no record will
    /// follow.
    pub fn ended(&self) -> bool {
        self.flags & (h::flags::EXITED | h::flags::CUT_SHORT | h::flags::EXIT_KNOWN) != 0
    }
}

/// What one poll read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    pub records: u64,
    /// Committed records were left for the next poll (the budget ran out); none of them
    /// is stamped before this time.
    pub behind: Option<u64>,
}

/// Where a record was read: its thread, and which of the thread's chunks (0: its first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    pub thread: ThreadId,
    pub chunk: usize,
}

struct Cursor {
    tid: u32,
    seq: u32,
    /// How many of the thread's chunks come before this one.
    nth: usize,
    /// Bytes of records already read.
    read: usize,
    state: ChunkState,
    /// The thread has moved on to a later chunk: the next read is the last.
    superseded: bool,
    done: bool,
}

/// Reads the records a capture gains, poll after poll.
pub struct Tail {
    path: PathBuf,
    /// `None` until the recorder creates the file.
    file: Option<File>,
    recording: Recording,
    /// One cursor per chunk, by chunk index; `None` for chunks that hold no thread's records.
    cursors: Vec<Option<Cursor>>,
    /// Chunks still being written, as indices into `cursors`.
    open: Vec<usize>,
    buf: Vec<u8>,
    corrupt_chunks: u64,
    /// Chunks found so far per thread id.
    chunks_of: std::collections::HashMap<u32, usize>,
}

impl Tail {
    /// Starts following the capture at `path`, which the recorder may not have created yet.
    pub fn open(path: &Path) -> Result<Tail, Error> {
        Ok(Tail {
            path: path.to_path_buf(),
            file: open_file(path)?,
            recording: Recording::default(),
            cursors: Vec::new(),
            open: Vec::new(),
            buf: Vec::new(),
            corrupt_chunks: 0,
            chunks_of: Default::default(),
        })
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// Chunks whose records could not be decoded (and were left).
    pub fn corrupt_chunks(&self) -> u64 {
        self.corrupt_chunks
    }

    /// About how much of the file's records have been read, from 0 to 1 (chunks are mostly
    /// full, so the file's length is close to what there is to read).
    pub fn progress(&self) -> f64 {
        let Some(len) = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
        else {
            return 0.0;
        };
        let read: usize = self.cursors.iter().flatten().map(|c| c.read).sum();
        let records = len.saturating_sub(HEADER_SIZE as u64);
        if records == 0 {
            return 1.0;
        }
        (read as f64 / records as f64).min(1.0)
    }

    /// Every chunk of the threads' records found so far, in file order, with its thread and
    /// the bytes of records read of it.
    pub fn chunks_read(&self) -> Vec<(ThreadId, usize)> {
        self.cursors
            .iter()
            .flatten()
            .filter(|c| c.tid != MARKS_TID)
            .map(|c| (ThreadId(c.tid), c.read))
            .collect()
    }

    /// Reads the header again and passes the records committed since the last poll to
    /// `sink`, each thread's in its order, chunk by chunk until about `budget` bytes were
    /// read.
    pub fn poll(
        &mut self,
        budget: usize,
        sink: &mut impl FnMut(ThreadId, &Record<'_>),
    ) -> Result<Polled, Error> {
        self.poll_located(budget, &mut |at, rec| sink(at.thread, rec))
    }

    /// [`Tail::poll`], telling also which of its thread's chunks each record is in.
    pub fn poll_located(
        &mut self,
        budget: usize,
        sink: &mut impl FnMut(Located, &Record<'_>),
    ) -> Result<Polled, Error> {
        if self.file.is_none() {
            self.file = open_file(&self.path)?;
            if self.file.is_none() {
                return Ok(Polled::default());
            }
        }
        let mut header = [0u8; h::CMDLINE];
        let got = self.read_at(&mut header, 0)?;
        if got < header.len() || header[..8] == [0; 8] {
            return Ok(Polled::default()); // not created by the recorder yet
        }
        if header[..8] != MAGIC {
            return Err(Error::Foreign {
                path: self.path.clone(),
            });
        }
        let version = read_u32(&header, h::VERSION).unwrap_or(0);
        if version != VERSION {
            return Err(Error::Version {
                path: self.path.clone(),
                version,
            });
        }
        self.read_header(&header)?;
        let claimed = read_u64(&header, h::CHUNKS).unwrap_or(0);
        self.discover(claimed)?;
        let mut polled = Polled::default();
        let mut left = budget;
        // In chunk order, which is each thread's order.
        for i in 0..self.open.len() {
            let index = self.open[i];
            if left > 0 {
                let (records, bytes) = self.read_chunk(index, sink)?;
                polled.records += records;
                left = left.saturating_sub(bytes);
            } else if let Some(time) = self.unread(index)? {
                polled.behind = Some(polled.behind.map_or(time, |b: u64| b.min(time)));
            }
        }
        let cursors = &self.cursors;
        self.open
            .retain(|&i| cursors[i].as_ref().is_some_and(|c| !c.done));
        Ok(polled)
    }

    /// When chunk `index` has committed records not read yet, the time they cannot precede.
    fn unread(&self, index: usize) -> Result<Option<u64>, Error> {
        let Some(c) = self.cursors[index].as_ref() else {
            return Ok(None);
        };
        let mut used = [0u8; 4];
        self.read_at(&mut used, chunk_offset(index) + chunk::USED as u64)?;
        Ok((u32::from_le_bytes(used) as usize > c.read).then_some(c.state.time))
    }

    fn read_header(&mut self, header: &[u8]) -> Result<(), Error> {
        let u32_at = |off| read_u32(header, off).unwrap_or(0);
        let u64_at = |off| read_u64(header, off).unwrap_or(0);
        let r = &mut self.recording;
        r.pid = u32_at(h::PID);
        r.flags = u32_at(h::FLAGS);
        r.start_tsc = u64_at(h::START_TSC);
        r.start_mono_ns = u64_at(h::START_MONO_NS);
        r.end_tsc = u64_at(h::END_TSC);
        r.end_mono_ns = u64_at(h::END_MONO_NS);
        r.exit_code = (r.flags & h::flags::EXIT_KNOWN != 0).then(|| u32_at(h::EXIT_CODE) as i32);
        r.signal = (r.flags & h::flags::KILLED != 0).then(|| u32_at(h::EXIT_SIGNAL) as i32);
        if r.command.is_empty() {
            let mut line = vec![0u8; h::CMDLINE_MAX];
            let n = self.read_at(&mut line, h::CMDLINE as u64)?;
            let len = (u32_at(h::CMDLINE_LEN) as usize).min(n);
            self.recording.command = line[..len]
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
        }
        Ok(())
    }

    /// Looks at chunks claimed since the last poll. A chunk whose header is not written yet
    /// stops the search until the next poll.
    fn discover(&mut self, claimed: u64) -> Result<(), Error> {
        while (self.cursors.len() as u64) < claimed {
            let index = self.cursors.len();
            let mut head = [0u8; CHUNK_HEADER_SIZE];
            let got = self.read_at(&mut head, chunk_offset(index))?;
            if got < head.len() || read_u32(&head, chunk::MAGIC) != Some(CHUNK_MAGIC) {
                return Ok(());
            }
            let tid = read_u32(&head, chunk::TID).unwrap_or(0);
            let pid = read_u32(&head, chunk::PID).unwrap_or(0);
            if tid == SYMBOLS_TID || pid != self.recording.pid {
                self.cursors.push(None);
                continue;
            }
            let seq = read_u32(&head, chunk::SEQ).unwrap_or(0);
            for &j in &self.open {
                if let Some(c) = self.cursors[j].as_mut() {
                    if c.tid == tid && c.seq < seq {
                        c.superseded = true;
                    }
                }
            }
            let base = read_u64(&head, chunk::BASE_TIME).unwrap_or(0);
            let count = self.chunks_of.entry(tid).or_default();
            let nth = *count;
            *count += 1;
            self.cursors.push(Some(Cursor {
                tid,
                seq,
                nth,
                read: 0,
                state: ChunkState::new(base),
                // `memprof mark` writes its chunk whole before the magic: one read finishes it.
                superseded: tid == MARKS_TID,
                done: false,
            }));
            self.open.push(index);
        }
        Ok(())
    }

    /// Reads chunk `index`'s new records; returns how many, and their bytes.
    fn read_chunk(
        &mut self,
        index: usize,
        sink: &mut impl FnMut(Located, &Record<'_>),
    ) -> Result<(u64, usize), Error> {
        let start = chunk_offset(index);
        let mut used = [0u8; 4];
        self.read_at(&mut used, start + chunk::USED as u64)?;
        let Some(c) = self.cursors[index].as_mut() else {
            return Ok((0, 0));
        };
        let last = c.superseded;
        let used = (u32::from_le_bytes(used) as usize).min(CHUNK_SIZE - CHUNK_HEADER_SIZE);
        if used <= c.read {
            c.done |= last;
            return Ok((0, 0));
        }
        let (from, len) = (c.read, used - c.read);
        self.buf.resize(len, 0);
        let off = start + (CHUNK_HEADER_SIZE + from) as u64;
        let got = self.read_into_buf(off).map_err(|error| Error::Io {
            path: self.path.clone(),
            error,
        })?;
        let c = self.cursors[index].as_mut().expect("checked above");
        let at = Located {
            thread: ThreadId(c.tid),
            chunk: c.nth,
        };
        let mut pos = 0;
        let mut records = 0;
        while pos < got {
            match decode(&self.buf[pos..got], &mut c.state) {
                Ok(Some((rec, n))) => {
                    sink(at, &rec);
                    pos += n;
                    records += 1;
                }
                // The file is shorter than the committed length says: read the rest later.
                Err(DecodeError::Incomplete) if got < len => break,
                // A committed length always ends on a record: anything else is corruption.
                Ok(None) | Err(_) => {
                    self.corrupt_chunks += 1;
                    c.done = true;
                    return Ok((records, pos));
                }
            }
        }
        c.read = from + pos;
        c.done |= last && got == len;
        Ok((records, pos))
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Error> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        read_full(file, buf, off).map_err(|error| Error::Io {
            path: self.path.clone(),
            error,
        })
    }

    fn read_into_buf(&mut self, off: u64) -> std::io::Result<usize> {
        match &self.file {
            Some(file) => read_full(file, &mut self.buf, off),
            None => Ok(0),
        }
    }
}

/// The file at `path`, or `None` while it does not exist.
fn open_file(path: &Path) -> Result<Option<File>, Error> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

fn chunk_offset(index: usize) -> u64 {
    HEADER_SIZE as u64 + index as u64 * CHUNK_SIZE as u64
}

/// Reads as much of `buf` as the file has at `off`.
fn read_full(file: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
