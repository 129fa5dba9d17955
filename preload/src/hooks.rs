//! The interposed allocator entry points. Each one forwards to glibc's real implementation
//! (`__libc_*`, so no `dlsym` is needed at start-up) and lets [`crate::recorder`] record the
//! call. A panic cannot unwind out of these `extern "C"` functions: Rust aborts instead, and
//! nothing on these paths panics by design.

use core::ffi::{c_int, c_void};

use memprof_format::AllocKind;

use crate::{recorder, sys};

/// # Safety
/// Same contract as C `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Malloc, size as u64, || unsafe {
        sys::__libc_malloc(size)
    })
}

/// # Safety
/// Same contract as C `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(nmemb: usize, size: usize) -> *mut c_void {
    let bytes = (nmemb as u64).saturating_mul(size as u64);
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Calloc, bytes, || unsafe {
        sys::__libc_calloc(nmemb, size)
    })
}

/// # Safety
/// Same contract as C `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    let call = || unsafe { sys::__libc_realloc(ptr, size) };
    if ptr.is_null() {
        recorder::alloc(AllocKind::Realloc, size as u64, call)
    } else {
        recorder::realloc(ptr, size as u64, call)
    }
}

/// # Safety
/// Same contract as glibc's `reallocarray`.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, nmemb: usize, size: usize) -> *mut c_void {
    let Some(bytes) = nmemb.checked_mul(size) else {
        recorder::failure(AllocKind::Realloc, u64::MAX);
        sys::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    // SAFETY: same contract as `realloc`, with the product checked above.
    unsafe { realloc(ptr, bytes) }
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

/// # Safety
/// Same contract as C `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    if !valid_posix_alignment(align) {
        recorder::failure(AllocKind::PosixMemalign, size as u64);
        return libc::EINVAL;
    }
    // SAFETY: forwarding a valid alignment to glibc's implementation.
    let p = recorder::alloc(AllocKind::PosixMemalign, size as u64, || unsafe {
        sys::__libc_memalign(align, size)
    });
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a writable `memptr`, as posix_memalign requires.
    unsafe { *memptr = p };
    0
}

/// # Safety
/// Same contract as C `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        recorder::failure(AllocKind::AlignedAlloc, size as u64);
        sys::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    // SAFETY: forwarding a power-of-two alignment to glibc's implementation.
    recorder::alloc(AllocKind::AlignedAlloc, size as u64, || unsafe {
        sys::__libc_memalign(align, size)
    })
}

/// # Safety
/// Same contract as glibc's `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Memalign, size as u64, || unsafe {
        sys::__libc_memalign(align, size)
    })
}

/// # Safety
/// Same contract as glibc's `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Valloc, size as u64, || unsafe {
        sys::__libc_valloc(size)
    })
}

/// # Safety
/// Same contract as glibc's `pvalloc`.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to glibc's implementation.
    recorder::alloc(AllocKind::Pvalloc, size as u64, || unsafe {
        sys::__libc_pvalloc(size)
    })
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

/// `exit`, noting the status in the capture first, then glibc's own.
///
/// # Safety
/// Same contract as C `exit`.
#[no_mangle]
pub unsafe extern "C" fn exit(status: c_int) -> ! {
    crate::global::note_exit(status);
    match crate::init::real_exit() {
        // SAFETY: glibc's `exit`, found by dlsym; it does not return.
        Some(real) => unsafe { real(status) },
        None => sys::exit_group(status),
    }
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
