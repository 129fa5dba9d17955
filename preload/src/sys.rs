//! glibc's real allocator and the few system calls the recorder makes.
//!
//! Everything here is callable from inside `malloc`: no function in this module allocates.

use core::ffi::{c_char, c_int, c_void};

use alloc::boxed::Box;

extern "C" {
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    pub fn __libc_calloc(nmemb: usize, size: usize) -> *mut c_void;
    pub fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    pub fn __libc_free(ptr: *mut c_void);
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    pub fn __libc_valloc(size: usize) -> *mut c_void;
    pub fn __libc_pvalloc(size: usize) -> *mut c_void;
    pub fn __libc_freeres();
}

/// Reads the time stamp counter (invariant and synchronised across cores on the CPUs this
/// runs on; the kernel's own clock is the TSC there).
///
/// No `lfence`: it would double the cost (12 -> 24 ns measured). `rdtsc` may execute a few
/// dozen cycles early, but for another thread to reuse a freed address the block has to pass
/// through the allocator's locks after the free was stamped, which takes longer than that.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no memory effects and exists on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The calling thread's thread pointer, which x86_64's TLS ABI makes the address of the
/// thread's control block, stored in the block's first word (glibc's `pthread_self` is the
/// same value, but a call through the PLT away).
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the first word of the block %fs points to, which exists for every thread
    // (the loader sets it up before any code of the program runs).
    unsafe {
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
            options(nostack, readonly, preserves_flags));
    }
    tp
}

/// The calling thread's stack pointer.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: copies the stack pointer; no memory is touched.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}

extern "C" {
    /// Set by the loader to the stack pointer the kernel started the process with.
    static __libc_stack_end: *const c_void;
}

/// Where the main thread's stack began: every frame of the main thread lies below.
pub fn main_stack_end() -> u64 {
    // SAFETY: the loader sets the variable before any constructor runs and never changes it.
    unsafe { __libc_stack_end as u64 }
}

/// The record timestamp: TSC ticks in the units of the capture format.
#[inline(always)]
pub fn now() -> u64 {
    rdtsc() >> memprof_format::TIME_SHIFT
}

/// CLOCK_MONOTONIC or CLOCK_REALTIME in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; clock_gettime goes through the vDSO and does not
    // allocate.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The calling thread's kernel id.
pub fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

pub fn getpid() -> u32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() as u32 }
}

pub fn getppid() -> u32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// Opens `path` (NUL-terminated) with `flags`, mode 0644; -1 on failure.
pub fn open(path: &[u8], flags: c_int) -> c_int {
    if path.last() != Some(&0) {
        return -1;
    }
    // SAFETY: `path` is NUL-terminated (checked above) and outlives the call.
    unsafe {
        libc::open(
            path.as_ptr() as *const c_char,
            flags | libc::O_CLOEXEC,
            0o644,
        )
    }
}

pub fn close(fd: c_int) {
    // SAFETY: closing a descriptor we own; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

/// Size of the file behind `fd`, or `None` if fstat fails.
pub fn file_size(fd: c_int) -> Option<u64> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(st.st_size as u64)
}

/// Device and inode of the file open at `fd`, or `None` when `fd` is not open.
pub fn file_id(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// `fd` moved to the lowest free descriptor numbered `min` or more, not close-on-exec; `fd`
/// itself (made not close-on-exec) when there is none (a low descriptor limit).
pub fn move_up(fd: c_int, min: c_int) -> c_int {
    // SAFETY: F_DUPFD only reads its integer argument; the copy is not close-on-exec.
    let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD, min) };
    if moved < 0 {
        // SAFETY: F_SETFD only reads its integer argument.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        return fd;
    }
    close(fd);
    moved
}

/// The current directory into `buf`, without the NUL; 0 when it does not fit.
pub fn getcwd(buf: &mut [u8]) -> usize {
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if p.is_null() {
        return 0;
    }
    buf.iter().position(|&b| b == 0).unwrap_or(0)
}

/// Reads all of `buf` from `off`; false on failure or end of file.
pub fn pread_exact(fd: c_int, buf: &mut [u8], off: u64) -> bool {
    let len = buf.len();
    all_of(len, |done| {
        // SAFETY: the pointer and length describe the rest of `buf`, which outlives the call.
        unsafe {
            libc::pread(
                fd,
                buf[done..].as_mut_ptr() as *mut c_void,
                len - done,
                (off + done as u64) as libc::off_t,
            )
        }
    })
}

/// Repeats `io` (given how many of `len` bytes are done, it returns how many more it did)
/// until all are done; false when it fails or does nothing.
fn all_of(len: usize, mut io: impl FnMut(usize) -> isize) -> bool {
    let mut done = 0;
    while done < len {
        let n = io(done);
        if n <= 0 {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        done += n as usize;
    }
    true
}

/// Ends the process at once with `status`, as `_exit` does.
pub fn exit_group(status: c_int) -> ! {
    // SAFETY: exit_group ends every thread of the process; it has no other effect.
    unsafe { libc::syscall(libc::SYS_exit_group, status as libc::c_long) };
    // SAFETY: exit_group does not return.
    unsafe { core::hint::unreachable_unchecked() }
}

/// Writes all of `buf` at `off`; false on failure.
pub fn pwrite_all(fd: c_int, buf: &[u8], off: u64) -> bool {
    all_of(buf.len(), |done| {
        // SAFETY: the pointer and length describe the live rest of `buf`.
        unsafe {
            libc::pwrite(
                fd,
                buf[done..].as_ptr() as *const c_void,
                buf.len() - done,
                (off + done as u64) as libc::off_t,
            )
        }
    })
}

/// Reads a whole small file (such as /proc/self/cmdline) into `buf`; returns the bytes read.
pub fn read_file(path: &[u8], buf: &mut [u8]) -> usize {
    let fd = open(path, libc::O_RDONLY);
    if fd < 0 {
        return 0;
    }
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unwritten rest of `buf`.
        let n = unsafe {
            libc::read(
                fd,
                buf[done..].as_mut_ptr() as *mut c_void,
                buf.len() - done,
            )
        };
        if n <= 0 {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            break;
        }
        done += n as usize;
    }
    close(fd);
    done
}

/// The target of the symbolic link `path` (NUL-terminated) into `buf`; returns its length.
pub fn readlink(path: &[u8], buf: &mut [u8]) -> usize {
    if path.last() != Some(&0) {
        return 0;
    }
    // SAFETY: `path` is NUL-terminated and `buf` is writable for its length.
    let n = unsafe {
        libc::readlink(
            path.as_ptr() as *const c_char,
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
        )
    };
    n.max(0) as usize
}

/// Maps `len` bytes of `fd` at `off` shared and writable, faulted in at once (one call
/// instead of a page fault per page); null on failure.
pub fn map_shared(fd: c_int, off: u64, len: usize, populate: bool) -> *mut u8 {
    // SAFETY: a fresh mapping chosen by the kernel aliases no Rust object.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            off as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    if populate {
        // Fault every page in for writing with one call instead of one fault per page as
        // records reach it. Kernels before 5.14 refuse the advice; their pages fault in on
        // first write.
        // SAFETY: `p..p + len` is the mapping just made.
        unsafe { libc::madvise(p, len, libc::MADV_POPULATE_WRITE) };
    }
    p as *mut u8
}

/// Writes `pages` pages of zeros at `off` of `fd` (growing it; never shrinking it), so that
/// they are in the page cache when they are mapped: faulting in a page of a file that is not
/// there costs a read-ahead, several times dearer than writing it. False on failure.
pub fn zero_fill(fd: c_int, off: u64, pages: usize) -> bool {
    static ZEROS: [u8; PAGE] = [0; PAGE];
    const IOVS: usize = 16;
    let iov = libc::iovec {
        iov_base: ZEROS.as_ptr() as *mut c_void,
        iov_len: PAGE,
    };
    let iovs = [iov; IOVS];
    let (len, mut done) = (pages * PAGE, 0);
    while done < len {
        let n = ((len - done) / PAGE).min(IOVS);
        let at = (off + done as u64) as libc::off_t;
        // SAFETY: every iovec points to the immutable zero page, which pwritev only reads.
        let w = unsafe { libc::pwritev(fd, iovs.as_ptr(), n as c_int, at) };
        if w <= 0 {
            if w < 0 && errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        // A short write leaves a page partly written: write it again whole.
        done += w as usize / PAGE * PAGE;
    }
    true
}

const PAGE: usize = 4096;

/// Anonymous zeroed memory; null on failure.
pub fn map_anon(len: usize) -> *mut u8 {
    // SAFETY: a fresh private mapping aliases no Rust object.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p as *mut u8
    }
}

/// Unmaps a mapping made by [`map_shared`] or [`map_anon`].
///
/// # Safety
/// Nothing may use the memory afterwards.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is a mapping of ours that is no longer used.
    unsafe { libc::munmap(p as *mut c_void, len) };
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

/// Writes a diagnostic line to stderr without allocating.
pub fn warn(msg: &[u8]) {
    let mut line = [0u8; 256];
    let prefix = b"memprof: ";
    let n = (prefix.len() + msg.len()).min(line.len() - 1);
    line[..prefix.len()].copy_from_slice(prefix);
    line[prefix.len()..n].copy_from_slice(&msg[..n - prefix.len()]);
    line[n] = b'\n';
    // SAFETY: `line[..=n]` is initialised; a failed write to stderr is ignored.
    unsafe { libc::write(2, line.as_ptr() as *const c_void, n + 1) };
}

/// The mapping `slot` points to, made now if there is none: `len` zeroed bytes passed to
/// `init` before they are published. Threads that race each make one; the first published
/// wins and the others unmap theirs. Null when memory is exhausted.
pub fn map_once<T>(
    slot: &core::sync::atomic::AtomicPtr<T>,
    len: usize,
    init: impl FnOnce(*mut T),
) -> *mut T {
    use core::sync::atomic::Ordering;
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    let new = map_anon(len) as *mut T;
    if new.is_null() {
        return new;
    }
    init(new);
    match slot.compare_exchange(
        core::ptr::null_mut(),
        new,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => new,
        Err(winner) => {
            // SAFETY: `new` was never published, so nothing else refers to it.
            unsafe { unmap(new as *mut u8, len) };
            winner
        }
    }
}

/// A zero-filled box of `T` (a large cache, never built on the stack); `None` when memory is
/// exhausted.
///
/// # Safety
/// All zeroes must be a valid `T`, and `T` must not be zero-sized.
pub unsafe fn zeroed<T>() -> Option<Box<T>> {
    let layout = alloc::alloc::Layout::new::<T>();
    // SAFETY: the caller guarantees a non-zero size.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) } as *mut T;
    // SAFETY: `p` was just allocated with the global allocator and this layout, and the
    // caller guarantees zeroed memory is a valid `T`.
    (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
}

/// [`zeroed`], or the abort on exhausted memory that `Box::new` gives. Made this way, a
/// large box's pages become resident only as they are used (see `LibcAllocator`).
///
/// # Safety
/// As for [`zeroed`].
pub unsafe fn zeroed_box<T>() -> Box<T> {
    // SAFETY: the caller's guarantees are `zeroed`'s.
    unsafe { zeroed() }
        .unwrap_or_else(|| alloc::alloc::handle_alloc_error(alloc::alloc::Layout::new::<T>()))
}
