//! What a hook does around the real allocator call: take the thread's reentrancy guard, capture
//! and intern the stack, stamp the time on the right side of the call, and write the record.
//!
//! Timestamps: a block is stamped after it was obtained and before it is released, so that
//! when another thread reuses an address the merged streams can never show it allocated
//! before it was freed.

use core::ffi::c_void;
use core::sync::atomic::Ordering;

use alloc::boxed::Box;

use memprof_format::{AllocKind, Record, StackRef};

use crate::stash::{self, NodeCache, StackCache};
use crate::threads::{self, Slot};
use crate::unwind::{Caller, Unwinder};
use crate::writer::Writer;
use crate::{global, modules, preinit, sys};

/// Everything a thread needs to record, allocated once per thread (under the guard).
pub struct ThreadState {
    slot: &'static Slot,
    pub writer: Writer,
    unwinder: Unwinder,
    frames: Box<[u64]>,
    /// Made on first use: only stacks named without the unwinder's log (frame-pointer mode,
    /// truncated stacks) go through it.
    cache: Option<Box<StackCache>>,
    nodes: Box<NodeCache>,
    seen_misses: u64,
    seen_generation: u64,
    /// Stacks captured since the module list was last compared with the loader's.
    since_refresh: u32,
}

/// How many stacks a thread captures between two looks at the loader's module counters, so
/// that unloads (which cause no unwind-cache miss) are noticed too.
const REFRESH_EVERY: u32 = 4096;

/// How a hook proceeds.
pub enum Entry {
    /// Call the real function and record nothing.
    Forward,
    /// Not initialised yet: remember the call in the pre-init buffer.
    PreInit,
    /// Record with this thread's state; call [`leave`] when done.
    Record(&'static mut ThreadState),
}

/// Takes the reentrancy guard. Calls made while it is held (by the unwinder, by the loader,
/// by a signal handler interrupting a hook) are forwarded untracked.
#[inline(always)]
pub fn enter() -> Entry {
    let s = global::state();
    if s != global::RECORDING {
        return if s == global::UNINIT {
            Entry::PreInit
        } else {
            Entry::Forward
        };
    }
    let Some(slot) = threads::current() else {
        return Entry::Forward;
    };
    // Only this thread, or a signal handler interrupting it, touches its flag: a plain load and
    // store suffice (a handler that runs in between leaves the flag as it found it).
    if slot.busy.load(Ordering::Relaxed) {
        return Entry::Forward;
    }
    slot.busy.store(true, Ordering::Relaxed);
    let mut st = slot.state.load(Ordering::Relaxed);
    if st.is_null() {
        st = ThreadState::create(slot);
        if st.is_null() {
            slot.busy.store(false, Ordering::Release);
            return Entry::Forward;
        }
        slot.state.store(st, Ordering::Relaxed);
    }
    // SAFETY: the state is owned by this thread and only reached through its slot while the
    // guard is held, so this is the only live reference.
    Entry::Record(unsafe { &mut *st })
}

/// Releases the guard taken by [`enter`].
#[inline(always)]
pub fn leave() {
    if let Some(slot) = threads::current() {
        slot.busy.store(false, Ordering::Release);
    }
}

/// Runs `f` with the guard held, so that what it allocates is not recorded.
pub fn guarded<R>(f: impl FnOnce() -> R) -> R {
    let was = threads::current().is_none_or(|s| s.busy.swap(true, Ordering::Acquire));
    let r = f();
    if !was {
        leave();
    }
    r
}

/// The calling thread's state if it has one, for use with the guard held.
pub fn current() -> Option<&'static mut ThreadState> {
    let p = threads::current()?.state.load(Ordering::Relaxed);
    // SAFETY: as in `enter`; callers hold the guard.
    (!p.is_null()).then(|| unsafe { &mut *p })
}

/// Gives the calling thread its state if it has none (the guard is held).
pub fn create_current() {
    if let Some(slot) = threads::current() {
        if slot.state.load(Ordering::Relaxed).is_null() {
            slot.state
                .store(ThreadState::create(slot), Ordering::Relaxed);
        }
    }
}

/// Detaches and frees the calling thread's state, and gives its slot back (thread exit).
/// The guard stays taken: the slot is gone once this returns.
pub fn thread_exit() {
    let Some(slot) = threads::current() else {
        return;
    };
    slot.busy.store(true, Ordering::Relaxed);
    let p = slot.state.swap(core::ptr::null_mut(), Ordering::Relaxed);
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `create` and the slot no longer points to it.
        let mut st = unsafe { Box::from_raw(p) };
        st.writer.write(&Record::ThreadEnd { time: sys::now() });
        st.writer.release();
    }
    threads::release_current();
}

impl ThreadState {
    fn create(slot: &'static Slot) -> *mut ThreadState {
        let depth = global::MAX_DEPTH.load(Ordering::Relaxed).max(1);
        // SAFETY: all zeroes is an empty cache.
        let Some(nodes) = (unsafe { sys::zeroed::<NodeCache>() }) else {
            return core::ptr::null_mut();
        };
        let mut st = Box::new(ThreadState {
            slot,
            writer: Writer::new(sys::gettid()),
            unwinder: Unwinder::new(),
            frames: alloc::vec![0u64; depth].into_boxed_slice(),
            cache: None,
            nodes,
            seen_misses: 0,
            since_refresh: 0,
            seen_generation: global::MODULE_GENERATION.load(Ordering::Relaxed),
        });
        st.writer.write(&Record::ThreadStart { time: sys::now() });
        let p = Box::into_raw(st);
        let key = global::THREAD_KEY.load(Ordering::Relaxed);
        if key != u32::MAX {
            // SAFETY: the key was created by init; a non-null value makes its destructor run at
            // thread exit.
            unsafe { libc::pthread_setspecific(key, p as *const c_void) };
        }
        p
    }

    /// Releases the guard taken by [`enter`].
    #[inline(always)]
    pub fn leave(&self) {
        self.slot.busy.store(false, Ordering::Relaxed);
    }

    /// Forgets everything tied to the parent's capture (in a followed fork child).
    pub fn reset_for_child(&mut self) {
        self.writer.forget(sys::gettid());
        if let Some(cache) = &mut self.cache {
            cache.clear();
        }
        self.nodes.clear();
        self.unwinder.forget_ids();
        self.writer.write(&Record::ThreadStart { time: sys::now() });
    }

    /// Captures and interns the stack of the program's call into the library.
    #[inline(always)]
    pub fn stack(&mut self, caller: Caller) -> StackRef {
        let c = self
            .unwinder
            .capture(global::unwind_mode(), caller, &mut self.frames);
        let misses = self.unwinder.misses();
        self.since_refresh += 1;
        if misses != self.seen_misses || self.since_refresh >= REFRESH_EVERY {
            // Before any new stack node is written: readers then know the modules its
            // addresses lie in.
            self.seen_misses = misses;
            self.since_refresh = 0;
            modules::refresh(&mut self.writer);
        }
        let writer = &mut self.writer;
        let mut on_new = |id, parent, ip| writer.write(&Record::StackNode { id, parent, ip });
        let mut stack = c.known.map(|node| StackRef {
            node,
            truncated: false,
        });
        if stack.is_none() && c.logged {
            let nodes = &mut self.nodes;
            let named = self
                .unwinder
                .name(&mut |parent, ip| nodes.node(parent, ip, &mut on_new));
            stack = named.map(|node| StackRef {
                node,
                truncated: false,
            });
            if stack.is_none() {
                self.unwinder.fill(&mut self.frames);
            }
        }
        let stack = stack.unwrap_or_else(|| {
            if self.cache.is_none() {
                // SAFETY: all zeroes is an empty cache.
                self.cache = unsafe { sys::zeroed::<StackCache>() };
            }
            let frames = &self.frames[..c.frames.min(self.frames.len())];
            stash::intern(self.cache.as_deref_mut(), frames, c.truncated, &mut on_new)
        });
        let generation = global::MODULE_GENERATION.load(Ordering::Relaxed);
        if generation != self.seen_generation {
            self.seen_generation = generation;
            self.unwinder.flush(generation);
            if let Some(cache) = &mut self.cache {
                cache.clear();
            }
        }
        stack
    }
}

/// Records an allocating call: `call` obtains the block (NULL on failure).
#[inline(always)]
pub fn alloc(
    kind: AllocKind,
    size: u64,
    caller: Caller,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    match enter() {
        Entry::Forward => call(),
        Entry::PreInit => {
            let p = call();
            preinit::alloc(kind, size, p as u64);
            p
        }
        Entry::Record(t) => {
            let stack = t.stack(caller);
            let p = call();
            let time = sys::now();
            t.writer.write(&if p.is_null() {
                Record::Failed {
                    time,
                    kind,
                    stack,
                    size,
                }
            } else {
                Record::Alloc {
                    time,
                    kind,
                    stack,
                    size,
                    addr: p as u64,
                }
            });
            t.leave();
            p
        }
    }
}

/// Records a marker.
pub fn mark(label: &[u8]) {
    if let Entry::Record(t) = enter() {
        t.writer.write(&Record::Marker {
            time: sys::now(),
            label,
        });
        t.leave();
    }
}

/// Records a call that failed before reaching the allocator (bad alignment, overflow).
pub fn failure(kind: AllocKind, size: u64, caller: Caller) {
    if let Entry::Record(t) = enter() {
        let stack = t.stack(caller);
        t.writer.write(&Record::Failed {
            time: sys::now(),
            kind,
            stack,
            size,
        });
        t.leave();
    }
}

/// Records `free(ptr)`; `release` frees it. Stamped before the release.
#[inline(always)]
pub fn free(ptr: *mut c_void, release: impl FnOnce()) {
    if ptr.is_null() {
        return release();
    }
    match enter() {
        Entry::Forward => release(),
        Entry::PreInit => {
            preinit::free(ptr as u64);
            release()
        }
        Entry::Record(t) => {
            t.writer.write(&Record::Free {
                time: sys::now(),
                addr: ptr as u64,
            });
            t.leave();
            release()
        }
    }
}

/// Records `realloc(ptr, size)` with a non-NULL `ptr`; `call` performs it.
pub fn realloc(
    ptr: *mut c_void,
    size: u64,
    caller: Caller,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    match enter() {
        Entry::Forward => call(),
        Entry::PreInit => {
            let p = call();
            preinit::realloc(ptr as u64, size, p as u64);
            p
        }
        Entry::Record(t) => {
            let stack = t.stack(caller);
            let time = sys::now();
            let p = call();
            let done = sys::now();
            let old = ptr as u64;
            t.writer.write(&match (p.is_null(), size) {
                // glibc's realloc(p, 0) frees p and returns NULL.
                (true, 0) => Record::ReallocFree { time, stack, old },
                (true, _) => Record::Failed {
                    time,
                    kind: AllocKind::Realloc,
                    stack,
                    size,
                },
                (false, _) => Record::Realloc {
                    time,
                    done,
                    stack,
                    size,
                    old,
                    new: p as u64,
                },
            });
            t.leave();
            p
        }
    }
}
