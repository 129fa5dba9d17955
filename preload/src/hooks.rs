//! The interposed allocator entry points. Each one forwards to glibc's real implementation
//! (`__libc_*`, so no `dlsym` is needed at start-up) and lets [`crate::recorder`] record the
//! call. A panic cannot unwind out of these `extern "C"` functions: Rust aborts instead, and
//! nothing on these paths panics by design.
//!
//! The functions that record a stack are entered through a two-instruction trampoline (the
//! `entry!` macro) that hands the program's stack and frame pointers to the body: the unwinder
//! then starts at the program's own frame instead of unwinding the library's at every call.

use core::ffi::{c_int, c_void};

use memprof_format::AllocKind;

use crate::unwind::Caller;
use crate::{recorder, sys};

/// Exports `$name`, which jumps to `$body` with the stack pointer at entry (it points at the
/// return address into the program) and the frame pointer as two more arguments, in the
/// registers `$sp` and `$bp` that follow its own arguments. `$body` has the same return type
/// and returns straight to the program. Nothing else is touched: every register holds what
/// the program passed, and the stack is as the call left it.
macro_rules! entry {
    ($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty
        = $body:ident via $sp:literal, $bp:literal) => {
        $(#[$attr])*
        // SAFETY: the two moves fill argument registers the C signature leaves unused, and the
        // jump enters a function of the same return type with the stack as the call left
        // it, so the ABI holds on both sides.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            core::arch::naked_asm!(
                concat!("mov ", $sp, ", rsp"),
                concat!("mov ", $bp, ", rbp"),
                "jmp {body}",
                body = sym $body,
            )
        }
    };
}

entry! {
    /// # Safety
    /// Same contract as C `malloc`.
    fn malloc(size: usize) -> *mut c_void = malloc_body via "rsi", "rdx"
}

unsafe extern "C" fn malloc_body(size: usize, sp: u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(
        AllocKind::Malloc,
        size as u64,
        Caller { sp, bp },
        || unsafe { sys::__libc_malloc(size) },
    )
}

entry! {
    /// # Safety
    /// Same contract as C `calloc`.
    fn calloc(nmemb: usize, size: usize) -> *mut c_void = calloc_body via "rdx", "rcx"
}

unsafe extern "C" fn calloc_body(nmemb: usize, size: usize, sp: u64, bp: u64) -> *mut c_void {
    let bytes = (nmemb as u64).saturating_mul(size as u64);
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Calloc, bytes, Caller { sp, bp }, || unsafe {
        sys::__libc_calloc(nmemb, size)
    })
}

entry! {
    /// # Safety
    /// Same contract as C `realloc`.
    fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void = realloc_body via "rdx", "rcx"
}

unsafe extern "C" fn realloc_body(ptr: *mut c_void, size: usize, sp: u64, bp: u64) -> *mut c_void {
    resize(ptr, size, Caller { sp, bp })
}

fn resize(ptr: *mut c_void, size: usize, caller: Caller) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    let call = || unsafe { sys::__libc_realloc(ptr, size) };
    if ptr.is_null() {
        recorder::alloc(AllocKind::Realloc, size as u64, caller, call)
    } else {
        recorder::realloc(ptr, size as u64, caller, call)
    }
}

entry! {
    /// # Safety
    /// Same contract as glibc's `reallocarray`.
    fn reallocarray(ptr: *mut c_void, nmemb: usize, size: usize) -> *mut c_void
        = reallocarray_body via "rcx", "r8"
}

unsafe extern "C" fn reallocarray_body(
    ptr: *mut c_void,
    nmemb: usize,
    size: usize,
    sp: u64,
    bp: u64,
) -> *mut c_void {
    let caller = Caller { sp, bp };
    let Some(bytes) = nmemb.checked_mul(size) else {
        recorder::failure(AllocKind::Realloc, u64::MAX, caller);
        sys::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    resize(ptr, bytes, caller)
}

/// # Safety
/// Same contract as C `free`.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: forwarding the caller's pointer to glibc's implementation.
    recorder::free(ptr, || unsafe { sys::__libc_free(ptr) })
}

/// glibc's rule for `posix_memalign` and `memalign`-family alignments.
fn valid_posix_alignment(align: usize) -> bool {
    align != 0
        && align.is_multiple_of(core::mem::size_of::<usize>())
        && (align / core::mem::size_of::<usize>()).is_power_of_two()
}

entry! {
    /// # Safety
    /// Same contract as C `posix_memalign`.
    fn posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int
        = posix_memalign_body via "rcx", "r8"
}

unsafe extern "C" fn posix_memalign_body(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
    sp: u64,
    bp: u64,
) -> c_int {
    let caller = Caller { sp, bp };
    if !valid_posix_alignment(align) {
        recorder::failure(AllocKind::PosixMemalign, size as u64, caller);
        return libc::EINVAL;
    }
    // SAFETY: forwarding a valid alignment to glibc's implementation.
    let p = recorder::alloc(AllocKind::PosixMemalign, size as u64, caller, || unsafe {
        sys::__libc_memalign(align, size)
    });
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a writable `memptr`, as posix_memalign requires.
    unsafe { *memptr = p };
    0
}

entry! {
    /// # Safety
    /// Same contract as C `aligned_alloc`.
    fn aligned_alloc(align: usize, size: usize) -> *mut c_void
        = aligned_alloc_body via "rdx", "rcx"
}

unsafe extern "C" fn aligned_alloc_body(
    align: usize,
    size: usize,
    sp: u64,
    bp: u64,
) -> *mut c_void {
    let caller = Caller { sp, bp };
    if !align.is_power_of_two() {
        recorder::failure(AllocKind::AlignedAlloc, size as u64, caller);
        sys::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    // SAFETY: forwarding a power-of-two alignment to glibc's implementation.
    recorder::alloc(AllocKind::AlignedAlloc, size as u64, caller, || unsafe {
        sys::__libc_memalign(align, size)
    })
}

entry! {
    /// # Safety
    /// Same contract as glibc's `memalign`.
    fn memalign(align: usize, size: usize) -> *mut c_void = memalign_body via "rdx", "rcx"
}

unsafe extern "C" fn memalign_body(align: usize, size: usize, sp: u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(
        AllocKind::Memalign,
        size as u64,
        Caller { sp, bp },
        || unsafe { sys::__libc_memalign(align, size) },
    )
}

entry! {
    /// # Safety
    /// Same contract as glibc's `valloc`.
    fn valloc(size: usize) -> *mut c_void = valloc_body via "rsi", "rdx"
}

unsafe extern "C" fn valloc_body(size: usize, sp: u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(
        AllocKind::Valloc,
        size as u64,
        Caller { sp, bp },
        || unsafe { sys::__libc_valloc(size) },
    )
}

entry! {
    /// # Safety
    /// Same contract as glibc's `pvalloc`.
    fn pvalloc(size: usize) -> *mut c_void = pvalloc_body via "rsi", "rdx"
}

unsafe extern "C" fn pvalloc_body(size: usize, sp: u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(
        AllocKind::Pvalloc,
        size as u64,
        Caller { sp, bp },
        || unsafe { sys::__libc_pvalloc(size) },
    )
}

/// `_exit`, noting the status in the capture first: a process that ends this way runs no
/// exit handler (Python's `os._exit`, forked children).
///
/// # Safety
/// Same contract as C `_exit`.
#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    crate::global::note_exit(status);
    sys::exit_group(status)
}

/// # Safety
/// Same contract as C `_Exit`.
#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    crate::global::note_exit(status);
    sys::exit_group(status)
}

/// Labels the current point in time in the capture (`memprof.h` declares it weak, so a
/// program that calls it runs unchanged without memprof).
///
/// # Safety
/// `label` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn memprof_mark(label: *const core::ffi::c_char) {
    if label.is_null() {
        return;
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let label = unsafe { core::ffi::CStr::from_ptr(label) }.to_bytes();
    recorder::mark(label);
}
