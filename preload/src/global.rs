//! Process-wide recorder state: the life-cycle state machine, the options parsed once at start,
//! and the shared header of the capture file.
//!
//! Everything is an atomic set during initialisation and published by the release store of
//! [`STATE`] = [`RECORDING`]; hooks read [`STATE`] first with acquire ordering.

use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use memprof_format::header;

use crate::unwind::Mode;

/// No constructor has run yet: allocations are remembered in the pre-init buffer.
pub const UNINIT: u8 = 0;
/// The constructor is setting up; calls are forwarded untracked.
pub const INITIALIZING: u8 = 1;
/// Recording.
pub const RECORDING: u8 = 2;
/// Not recording (no capture requested, a child that is not followed, or set-up failed).
pub const DISABLED: u8 = 3;

pub static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// Descriptor of the capture file.
pub static FD: AtomicI32 = AtomicI32::new(-1);
/// The capture's header page, mapped shared.
pub static HEADER: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// Frames kept per stack.
pub static MAX_DEPTH: AtomicUsize = AtomicUsize::new(128);
static FRAME_POINTERS: AtomicBool = AtomicBool::new(false);
pub static FOLLOW_FORK: AtomicBool = AtomicBool::new(false);
pub static FOLLOW_EXEC: AtomicBool = AtomicBool::new(false);
/// Bumped whenever a module is unloaded, so that threads drop their cached unwind rules.
pub static MODULE_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Pid of the process the capture belongs to (a forked child compares it with its own).
pub static PID: AtomicU32 = AtomicU32::new(0);
/// The key whose destructor tells us a thread exits.
pub static THREAD_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

#[inline(always)]
pub fn state() -> u8 {
    STATE.load(Ordering::Acquire)
}

pub fn unwind_mode() -> Mode {
    if FRAME_POINTERS.load(Ordering::Relaxed) {
        Mode::FramePointer
    } else {
        Mode::Dwarf
    }
}

pub fn set_unwind_mode(mode: Mode) {
    FRAME_POINTERS.store(mode == Mode::FramePointer, Ordering::Relaxed);
}

fn header_ptr() -> *mut u8 {
    HEADER.load(Ordering::Acquire)
}

/// The header field at `off` as an atomic, or `None` before the header is mapped.
pub fn header_u64(off: usize) -> Option<&'static AtomicU64> {
    let h = header_ptr();
    if h.is_null() || !off.is_multiple_of(8) || off + 8 > memprof_format::HEADER_SIZE {
        return None;
    }
    // SAFETY: the header page stays mapped for the life of the process (it is never unmapped,
    // only replaced in a forked child), `off` is in bounds and 8-aligned (checked above), and
    // all concurrent accesses to it go through atomics.
    Some(unsafe { &*(h.add(off) as *const AtomicU64) })
}

/// The header field at `off` as an atomic `u32`.
pub fn header_u32(off: usize) -> Option<&'static AtomicU32> {
    let h = header_ptr();
    if h.is_null() || !off.is_multiple_of(4) || off + 4 > memprof_format::HEADER_SIZE {
        return None;
    }
    // SAFETY: as in `header_u64`, with 4-byte alignment.
    Some(unsafe { &*(h.add(off) as *const AtomicU32) })
}

/// Sets `bits` in the header's flags.
pub fn set_flags(bits: u32) {
    if let Some(f) = header_u32(header::FLAGS) {
        f.fetch_or(bits, Ordering::AcqRel);
    }
}

/// Notes in the capture that the process is ending with `status` (from the exit handler, or
/// `_exit`): the capture of a child that `memprof run` does not wait for would not know it.
/// Nothing is noted from a `vfork` child, which shares its parent's memory but not its pid.
pub fn note_exit(status: i32) {
    if state() != RECORDING || crate::sys::getpid() != PID.load(Ordering::Relaxed) {
        return;
    }
    if let Some(code) = header_u32(header::EXIT_CODE) {
        code.store(status as u32 & 0xff, Ordering::Relaxed);
    }
    stamp_end_clock();
    set_flags(header::flags::EXIT_KNOWN);
}

/// Records a (TSC, CLOCK_MONOTONIC) pair as the end calibration, so that even a capture whose
/// process was killed converts ticks to nanoseconds.
pub fn stamp_end_clock() {
    if let (Some(tsc), Some(mono)) = (header_u64(header::END_TSC), header_u64(header::END_MONO_NS))
    {
        mono.store(
            crate::sys::clock_ns(libc::CLOCK_MONOTONIC),
            Ordering::Relaxed,
        );
        tsc.store(crate::sys::rdtsc(), Ordering::Release);
    }
}
