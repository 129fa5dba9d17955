//! The memprof capture layout, shared by the recorder (`memprof-preload`) and the reader
//! (`memprof-capture`).
//!
//! A capture is one file:
//!
//! ```text
//! +----------------------+ 0
//! | header (4 KiB)       |  magic, version, layout, pid, clock calibration, flags, command line
//! +----------------------+ HEADER_SIZE
//! | chunk 0 (64 KiB)     |  chunk header (tid, committed length, base time) + records
//! | chunk 1              |
//! | ...                  |
//! +----------------------+
//! ```
//!
//! Each thread of the recorded program owns one chunk at a time and appends records to it; a
//! chunk is claimed with one atomic increment of the header's chunk counter, so threads never
//! share a lock. A record is committed by a release store of the chunk's `used` length after
//! its bytes are written: whatever `used` covers is complete, even if the program was killed a
//! moment later, because the file is a `MAP_SHARED` mapping whose pages outlive the process.
//!
//! Records are delta and varint encoded against per-chunk state ([`ChunkState`]) that starts
//! afresh at the top of each chunk, so every chunk decodes on its own.
//!
//! Design constraints: `no_std`, no allocation, no dependencies, because the recorder encodes
//! inside `malloc`.

#![no_std]
#![forbid(unsafe_code)]

mod brief;
mod decode;
pub mod header;
mod record;
mod varint;

pub use brief::{decode_brief, Brief};
pub use decode::{decode, DecodeError};
pub use record::{
    encode, encoded_len_bound, AllocKind, ChunkState, Record, StackRef, MAX_FIXED_RECORD,
    MAX_PATH_BYTES,
};
pub use varint::{read_varint, write_varint, zigzag_decode, zigzag_encode, MAX_VARINT};

/// Magic bytes at offset 0 of every capture.
pub const MAGIC: [u8; 8] = *b"MEMPROF\0";
/// Version of the layout described by this crate; a reader refuses any other.
pub const VERSION: u32 = 1;
/// Bytes reserved for the header; chunks start here.
pub const HEADER_SIZE: usize = 4096;
/// Bytes in one chunk, header included.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Bytes of the chunk header that precedes a chunk's records.
pub const CHUNK_HEADER_SIZE: usize = 32;
/// Magic at the start of every claimed chunk ("MPCK" little-endian).
pub const CHUNK_MAGIC: u32 = u32::from_le_bytes(*b"MPCK");
/// Chunks with this thread id hold the tables `memprof run` appends after the run: symbol
/// tables and the heap index.
pub const SYMBOLS_TID: u32 = 0;
/// Chunks with this thread id hold markers set from outside the program (`memprof mark`).
pub const MARKS_TID: u32 = u32::MAX;

/// How long one allocation lived, as stored in [`Record::Lifetimes`]: the analysis reads each
/// thread's records on their own, in order, and learns from this when each block ended
/// without replaying every thread's events in time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Still allocated when the recording ended.
    Live,
    /// Released `after` time units (shifted ticks) after it was allocated; `temporary` when
    /// the allocating thread released it before allocating anything else, `elsewhere` when
    /// another thread released it.
    Freed {
        after: u64,
        temporary: bool,
        elsewhere: bool,
    },
    /// Its address was allocated again `after` time units later and no free of it was ever
    /// recorded (records are missing): no longer live, but not counted as freed.
    Lost { after: u64 },
}

impl Lifetime {
    /// The varint value stored for this lifetime.
    pub fn code(self) -> u64 {
        match self {
            Lifetime::Live => 0,
            Lifetime::Freed {
                after,
                temporary,
                elsewhere,
            } => (after << 3 | u64::from(elsewhere) << 2 | u64::from(temporary)) + 1,
            Lifetime::Lost { after } => (after << 3 | 2) + 1,
        }
    }

    /// The inverse of [`Lifetime::code`].
    pub fn from_code(code: u64) -> Lifetime {
        let Some(v) = code.checked_sub(1) else {
            return Lifetime::Live;
        };
        let after = v >> 3;
        if v & 2 != 0 {
            Lifetime::Lost { after }
        } else {
            Lifetime::Freed {
                after,
                temporary: v & 1 != 0,
                elsewhere: v & 4 != 0,
            }
        }
    }
}

/// Values of [`Record::ModuleStatus`]'s `status`.
pub mod module_status {
    /// Resolved from the module's file (or its separate debug file).
    pub const RESOLVED: u64 = 0;
    /// The file is gone or unreadable.
    pub const MISSING: u64 = 1;
    /// The file's build-id differs from the one recorded: it changed since the run, and its
    /// names would be wrong.
    pub const CHANGED: u64 = 2;
    /// Symbolization was not done (`--no-symbols`).
    pub const SKIPPED: u64 = 3;
}

/// Timestamps in records are TSC ticks shifted right by this many bits.
pub const TIME_SHIFT: u32 = 3;

/// Byte offsets of the chunk header fields (all little-endian).
pub mod chunk {
    /// `u32`: [`crate::CHUNK_MAGIC`] once the chunk is claimed.
    pub const MAGIC: usize = 0;
    /// `u32`: kernel thread id of the writer.
    pub const TID: usize = 4;
    /// `u32`: bytes of committed records after the chunk header (atomic).
    pub const USED: usize = 8;
    /// `u32`: sequence number of this chunk among its thread's chunks, from 0.
    pub const SEQ: usize = 12;
    /// `u64`: timestamp (shifted ticks) that the first record's delta is relative to.
    pub const BASE_TIME: usize = 16;
    /// `u32`: process id of the writer (a forked child never writes to its parent's file, but
    /// the reader checks).
    pub const PID: usize = 24;
}

/// Reads a little-endian `u32` at `off`; `None` when it does not fit in `buf`.
pub fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `off`; `None` when it does not fit in `buf`.
pub fn read_u64(buf: &[u8], off: usize) -> Option<u64> {
    let b = buf.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}
