//! `libmemprof_preload.so`: loaded into a program with `LD_PRELOAD` by `memprof run`, it
//! interposes the malloc family and records every call, with its stack, into the capture file
//! named by `MEMPROF_OUT`.
//!
//! Layout:
//! - `hooks`: the exported `malloc`, `free`, ... (all FFI entry points);
//! - `recorder`: the per-call logic, the reentrancy guard and the per-thread state;
//! - `writer`: per-thread chunks of the shared file mapping, so no lock is taken and a
//!   killed program loses no record whose hook returned;
//! - `stash`: stack interning (each unique stack is written once);
//! - `unwind`: the DWARF CFI-rule-cache and frame-pointer unwinders;
//! - `modules`: the module list with build-ids;
//! - `init`, `capture_file`: start-up, fork, thread and process exit;
//! - `sys`: glibc's real allocator and the system calls used.
//!
//! Design constraints: nothing on the allocation path allocates, locks or panics; the library
//! is `no_std` and has no thread-local storage at all (see `threads` for why); its own Rust
//! allocations go straight to glibc (see [`LibcAllocator`]) and are never recorded; a panic
//! aborts (there is no unwinding into C).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod capture_file;
mod global;
mod hooks;
mod init;
mod modules;
mod preinit;
mod recorder;
mod stash;
mod sys;
mod threads;
mod unwind;
mod writer;

use core::alloc::{GlobalAlloc, Layout};

/// The library's own allocator: glibc's real functions, bypassing the hooks.
pub struct LibcAllocator;

/// Blocks this large or larger are mappings of their own: the per-thread caches are mostly
/// zeros that a thread never touches, and a mapping's pages become resident only when used,
/// where glibc's `calloc` clears (and so makes resident) the whole block.
const OWN_MAPPING: usize = 8 << 10;

fn mapped(layout: Layout) -> bool {
    layout.size() >= OWN_MAPPING && layout.align() <= 4096
}

// SAFETY: forwards to glibc's allocator, which satisfies GlobalAlloc's contract for the
// alignments used (memalign for anything above malloc's 16 bytes); large blocks are fresh
// zero-filled page-aligned mappings, given back by the same size.
unsafe impl GlobalAlloc for LibcAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            return sys::map_anon(layout.size());
        }
        // SAFETY: glibc's allocator functions may be called with any size.
        unsafe {
            if layout.align() <= 16 {
                sys::__libc_malloc(layout.size()) as *mut u8
            } else {
                sys::__libc_memalign(layout.align(), layout.size()) as *mut u8
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            return sys::map_anon(layout.size());
        }
        if layout.align() <= 16 {
            // SAFETY: as in `alloc`.
            unsafe { sys::__libc_calloc(1, layout.size()) as *mut u8 }
        } else {
            // SAFETY: as in `alloc`; the block is then zeroed within its size.
            unsafe {
                let p = self.alloc(layout);
                if !p.is_null() {
                    core::ptr::write_bytes(p, 0, layout.size());
                }
                p
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout) {
            // SAFETY: `ptr` is the mapping `alloc` made for a block of this size.
            return unsafe { sys::unmap(ptr, layout.size()) };
        }
        // SAFETY: `ptr` came from this allocator.
        unsafe { sys::__libc_free(ptr as *mut core::ffi::c_void) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's new size is valid for the layout's alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if layout.align() <= 16 && !mapped(layout) && !mapped(new_layout) {
            // SAFETY: `ptr` came from this allocator with malloc-compatible alignment.
            unsafe { sys::__libc_realloc(ptr as *mut core::ffi::c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: allocate, copy the smaller size, free: the default strategy.
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[global_allocator]
static ALLOCATOR: LibcAllocator = LibcAllocator;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    sys::warn(b"internal error in the preload library; aborting");
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// The precompiled `core` refers to the unwinding personality even when panics abort; nothing
/// here unwinds, so it is never called.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn rust_eh_personality() {}
