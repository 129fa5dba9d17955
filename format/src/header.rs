//! Byte offsets of the capture header fields (all little-endian).
//!
//! The header is written once by whoever creates the file (`memprof run`, or the preload when
//! it runs on its own); the fields marked atomic are updated in place through the shared
//! mapping while the program runs.

/// `[u8; 8]`: [`crate::MAGIC`].
pub const MAGIC: usize = 0;
/// `u32`: [`crate::VERSION`].
pub const VERSION: usize = 8;
/// `u32`: [`crate::HEADER_SIZE`].
pub const HEADER_SIZE: usize = 12;
/// `u32`: [`crate::CHUNK_SIZE`].
pub const CHUNK_SIZE: usize = 16;
/// `u8`: pointer size of the recorded program in bytes (8).
pub const POINTER_SIZE: usize = 20;
/// `u8`: 1 for little-endian.
pub const ENDIAN: usize = 21;
/// `u8`: [`crate::TIME_SHIFT`].
pub const TIME_SHIFT: usize = 22;
/// `u32` (atomic): [`flags`].
pub const FLAGS: usize = 24;
/// `u32` (atomic): pid of the process that writes the capture; 0 until one claims it.
pub const PID: usize = 28;
/// `u64` (atomic): number of chunks claimed so far.
pub const CHUNKS: usize = 32;
/// `u64`: TSC (unshifted) when recording started.
pub const START_TSC: usize = 40;
/// `u64`: CLOCK_MONOTONIC nanoseconds when recording started.
pub const START_MONO_NS: usize = 48;
/// `u64`: CLOCK_REALTIME nanoseconds since the epoch when recording started.
pub const START_UNIX_NS: usize = 56;
/// `u64`: TSC (unshifted) when recording ended; 0 if nobody could tell.
pub const END_TSC: usize = 64;
/// `u64`: CLOCK_MONOTONIC nanoseconds paired with [`END_TSC`].
pub const END_MONO_NS: usize = 72;
/// `i32`: exit code of the program, valid with [`flags::EXIT_KNOWN`].
pub const EXIT_CODE: usize = 80;
/// `i32`: signal that killed the program, valid with [`flags::KILLED`].
pub const EXIT_SIGNAL: usize = 84;
/// `u32`: maximum stack depth recorded.
pub const MAX_DEPTH: usize = 88;
/// `u32`: 0 for DWARF unwinding, 1 for frame pointers.
pub const UNWIND_MODE: usize = 92;
/// `u32`: parent pid of the recorded process.
pub const PPID: usize = 96;
/// `u32`: pid of the process this one was forked from, when the capture belongs to a followed
/// child; 0 otherwise.
pub const FORKED_FROM: usize = 100;
/// `u32`: length of the command line that follows.
pub const CMDLINE_LEN: usize = 124;
/// Command line, arguments separated by NUL bytes, cut to fit the header.
pub const CMDLINE: usize = 128;
/// Bytes available for the command line.
pub const CMDLINE_MAX: usize = crate::HEADER_SIZE - CMDLINE;

/// Bits of the [`FLAGS`] field.
pub mod flags {
    /// A process has started writing records.
    pub const CLAIMED: u32 = 1;
    /// The process ran its exit handlers and recorded its end: the capture is complete.
    pub const EXITED: u32 = 2;
    /// The process died before it could finish the capture (killed, crashed, or exec'd away).
    pub const CUT_SHORT: u32 = 4;
    /// [`super::EXIT_CODE`] holds the program's exit code.
    pub const EXIT_KNOWN: u32 = 8;
    /// [`super::EXIT_SIGNAL`] holds the signal that killed the program.
    pub const KILLED: u32 = 16;
    /// Records were dropped: the capture file could not be written any more (the program
    /// removed it while it ran).
    pub const RECORDS_LOST: u32 = 32;
    /// The process replaced its program by exec: the capture is complete up to then.
    pub const EXECED: u32 = 64;
}
