//! Per-thread state without thread-local storage.
//!
//! A library with a TLS segment makes glibc give every thread a larger DTV, which it
//! allocates with `calloc`: the profiler would change the very numbers it measures (16 bytes
//! per thread). So the preload has no TLS: each thread's reentrancy flag and recorder state
//! live in a process-wide open-addressing table keyed by the thread pointer (`pthread_self()`),
//! one load from the thread control block. Only a thread itself inserts its key, so an insert never
//! races with another insert of the same key; a thread's slot is released by its exit
//! destructor.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::recorder::ThreadState;
use crate::sys;

const SLOTS: usize = 1 << 14;
const EMPTY: usize = 0;
const FREED: usize = 1;

/// One thread's entry.
pub struct Slot {
    key: AtomicUsize,
    /// The reentrancy guard. Only the owning thread (or a signal handler running on it)
    /// touches it.
    pub busy: AtomicBool,
    pub state: AtomicPtr<ThreadState>,
}

struct Table {
    slots: AtomicPtr<Slot>,
}

static TABLE: Table = Table {
    slots: AtomicPtr::new(core::ptr::null_mut()),
};

fn slots() -> Option<&'static [Slot]> {
    let p = sys::map_once(&TABLE.slots, SLOTS * core::mem::size_of::<Slot>(), |_| {});
    if p.is_null() {
        return None;
    }
    // SAFETY: the table is a zeroed mapping of SLOTS slots that is never unmapped, and zeroed
    // memory is a valid empty `Slot`.
    Some(unsafe { core::slice::from_raw_parts(p, SLOTS) })
}

#[inline(always)]
fn self_key() -> usize {
    sys::thread_pointer().max(2)
}

#[inline(always)]
fn start(key: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) & (SLOTS - 1)
}

/// The calling thread's slot, created on first use; `None` if the table is full.
#[inline(always)]
pub fn current() -> Option<&'static Slot> {
    let slots = slots()?;
    let key = self_key();
    let first = start(key);
    let mut reusable = None;
    for i in 0..SLOTS {
        let s = &slots[(first + i) & (SLOTS - 1)];
        match s.key.load(Ordering::Acquire) {
            k if k == key => return Some(s),
            EMPTY => return claim(slots, reusable.unwrap_or((first + i) & (SLOTS - 1)), key),
            FREED if reusable.is_none() => reusable = Some((first + i) & (SLOTS - 1)),
            _ => {}
        }
    }
    reusable.and_then(|i| claim(slots, i, key))
}

#[cold]
fn claim(slots: &'static [Slot], from: usize, key: usize) -> Option<&'static Slot> {
    for i in 0..SLOTS {
        let s = &slots[(from + i) & (SLOTS - 1)];
        let k = s.key.load(Ordering::Acquire);
        if (k == EMPTY || k == FREED)
            && s.key
                .compare_exchange(k, key, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            s.busy.store(false, Ordering::Relaxed);
            s.state.store(core::ptr::null_mut(), Ordering::Relaxed);
            return Some(s);
        }
    }
    None
}

/// Gives the calling thread's slot back (at thread exit, after its state was dropped).
pub fn release_current() {
    if let Some(s) = current() {
        s.key.store(FREED, Ordering::Release);
    }
}
