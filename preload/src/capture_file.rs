//! Opening and claiming the capture file.
//!
//! `memprof run` creates the file empty and names it in `MEMPROF_OUT` (where `%p` stands for
//! the pid). The program it started writes the header and records into it. A process that
//! finds it already claimed is an exec'd descendant: it records into a capture of its own next
//! to it with `MEMPROF_FOLLOW_EXEC`, and not at all otherwise; so does a process that memprof
//! did not start and that finds no capture (a fork child that was not followed and then
//! execed: with `%p` its name is its own). A followed fork child always gets a capture of its
//! own.

use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memprof_format::header as h;
use memprof_format::{HEADER_SIZE, MAGIC, TIME_SHIFT, VERSION};

use crate::unwind::Mode;
use crate::{global, sys};

const PATH_MAX: usize = 4096;

/// The capture's descriptor is moved to this number or above: programs expect their own
/// descriptors to be the lowest free ones, and close or reuse low numbers they did not open
/// (`exec 3>file` in a shell). It is not close-on-exec: a shell takes a close-on-exec
/// descriptor for one of its own, and puts it back after a script redirects that number,
/// whose output then goes into the capture. (An exec'd program inherits it, unused.)
const HIGH_FD: c_int = 1000;

/// The capture file's absolute path and identity, to open it again when the program closed
/// its descriptor (daemons close every descriptor they did not open).
struct Saved {
    path: UnsafeCell<[u8; PATH_MAX]>,
    dev: AtomicU64,
    ino: AtomicU64,
    set: AtomicBool,
}

// SAFETY: `path` is written only while a capture is claimed (at start-up, or in a forked child
// before it has other threads), before `set` is stored with release ordering; readers load
// `set` with acquire ordering first.
unsafe impl Sync for Saved {}

static SAVED: Saved = Saved {
    path: UnsafeCell::new([0; PATH_MAX]),
    dev: AtomicU64::new(0),
    ino: AtomicU64::new(0),
    set: AtomicBool::new(false),
};

/// The capture's descriptor, checked to still be the capture file: when the program closed it
/// (and perhaps opened a file of its own under the same number), the capture is opened again
/// by its path. `None` when that fails: the file was removed or moved.
pub fn descriptor() -> Option<c_int> {
    let fd = global::FD.load(Ordering::Acquire);
    let id = (
        SAVED.dev.load(Ordering::Relaxed),
        SAVED.ino.load(Ordering::Relaxed),
    );
    if fd >= 0 && sys::file_id(fd) == Some(id) {
        return Some(fd);
    }
    if !SAVED.set.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: see `Saved`; `set` was loaded with acquire ordering above.
    let path = unsafe { &*SAVED.path.get() };
    let len = path.iter().position(|&b| b == 0)?;
    let reopened = sys::open(&path[..=len], libc::O_RDWR);
    if reopened < 0 {
        return None;
    }
    if sys::file_id(reopened) != Some(id) {
        sys::close(reopened);
        return None;
    }
    let reopened = sys::move_up(reopened, HIGH_FD);
    // The old number is left alone: it is the program's now, or nobody's.
    match global::FD.compare_exchange(fd, reopened, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(reopened),
        Err(theirs) => {
            // Another thread opened it again first.
            sys::close(reopened);
            (theirs >= 0).then_some(theirs)
        }
    }
}

/// A NUL-terminated path built in place.
struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf {
    fn new() -> PathBuf {
        PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(PATH_MAX - 1 - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self.bytes[self.len] = 0;
    }

    fn push_num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_cstr(&self) -> &[u8] {
        &self.bytes[..=self.len]
    }
}

/// Opens the capture named by `MEMPROF_OUT`; false if this process must not record.
/// `started` tells whether memprof started this process (rather than one of its programs).
pub fn open(template: &[u8], started: bool) -> bool {
    let forked_from = 0;
    let follow_exec = global::FOLLOW_EXEC.load(Ordering::Relaxed);
    let pid = sys::getpid();
    mark_inherited(pid);
    let mut path = PathBuf::new();
    let mut rest = template;
    while let Some(i) = rest.windows(2).position(|w| w == b"%p") {
        path.push(&rest[..i]);
        path.push_num(pid.into());
        rest = &rest[i + 2..];
    }
    path.push(rest);
    let may_record = started || follow_exec;
    let create = if may_record { libc::O_CREAT } else { 0 };
    let fd = sys::open(path.as_cstr(), libc::O_RDWR | create);
    if fd < 0 {
        if may_record {
            sys::warn(b"cannot open the capture file named by MEMPROF_OUT; not recording");
        }
        return false;
    }
    if may_record && sys::file_size(fd) == Some(0) {
        return claim(fd, pid, forked_from, &path);
    }
    mark_if_execed(fd, pid);
    sys::close(fd);
    if !follow_exec {
        return false;
    }
    open_sibling(template, pid, forked_from)
}

/// Marks the captures this process recorded into before it execed, and closes every capture
/// descriptor the program inherited: they are not close-on-exec (see [`HIGH_FD`]), and a fork
/// child's capture is named after its first program, which may not be this one's.
fn mark_inherited(pid: u32) {
    for fd in HIGH_FD..HIGH_FD + 16 {
        if sys::file_size(fd).is_none() {
            continue;
        }
        let mut magic = [0u8; MAGIC.len()];
        if sys::pread_exact(fd, &mut magic, h::MAGIC as u64) && magic == MAGIC {
            mark_if_execed(fd, pid);
            sys::close(fd);
        }
    }
}

/// When the capture open at `fd` was written by this very process, the process has replaced
/// its program by exec since: that capture is complete, not cut short.
fn mark_if_execed(fd: c_int, pid: u32) {
    let mut word = [0u8; 4];
    if !sys::pread_exact(fd, &mut word, h::PID as u64) || u32::from_le_bytes(word) != pid {
        return;
    }
    if sys::pread_exact(fd, &mut word, h::FLAGS as u64) {
        let flags = u32::from_le_bytes(word) | h::flags::EXECED;
        sys::pwrite_all(fd, &flags.to_le_bytes(), h::FLAGS as u64);
    }
}

/// Opens a new capture for a followed fork child, next to its parent's.
pub fn open_for_child(parent: u32) -> bool {
    let Some(template) = sibling_dir_template() else {
        return false;
    };
    open_sibling(&template.bytes[..template.len], sys::getpid(), parent)
}

/// `<dir of MEMPROF_OUT>/` as a prefix.
fn sibling_dir_template() -> Option<PathBuf> {
    // SAFETY: getenv does not allocate; a non-null result is NUL-terminated.
    let p = unsafe { libc::getenv(c"MEMPROF_OUT".as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: as above.
    let out = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    let mut dir = PathBuf::new();
    if let Some(slash) = out.iter().rposition(|&b| b == b'/') {
        dir.push(&out[..=slash]);
    }
    Some(dir)
}

/// Creates `<dir>/memprof.<program>.<pid>[.N].mprof` exclusively and claims it.
fn open_sibling(template: &[u8], pid: u32, forked_from: u32) -> bool {
    let dir = match template.iter().rposition(|&b| b == b'/') {
        Some(slash) => &template[..=slash],
        None => &[][..],
    };
    let mut exe = [0u8; PATH_MAX];
    let n = sys::readlink(b"/proc/self/exe\0", &mut exe);
    let name = exe[..n].rsplit(|&b| b == b'/').next().unwrap_or(b"program");
    for attempt in 0..100u64 {
        let mut path = PathBuf::new();
        path.push(dir);
        path.push(b"memprof.");
        path.push(name);
        path.push(b".");
        path.push_num(pid.into());
        if attempt > 0 {
            path.push(b".");
            path.push_num(attempt);
        }
        path.push(b".mprof");
        let fd = sys::open(path.as_cstr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL);
        if fd >= 0 {
            return claim(fd, pid, forked_from, &path);
        }
        if sys::errno() != libc::EEXIST {
            break;
        }
    }
    sys::warn(b"cannot create a capture file for a child process; not recording it");
    false
}

/// Remembers `path`, the capture open at `fd`, as an absolute path.
fn save(path: &PathBuf, fd: c_int) {
    let Some((dev, ino)) = sys::file_id(fd) else {
        return;
    };
    SAVED.set.store(false, Ordering::Release);
    // SAFETY: see `Saved`: this runs while the capture is claimed, with no other thread
    // recording.
    let out = unsafe { &mut *SAVED.path.get() };
    let mut len = 0;
    if path.bytes[0] != b'/' {
        len = sys::getcwd(&mut out[..PATH_MAX - 1]);
        if len == 0 {
            return;
        }
        out[len] = b'/';
        len += 1;
    }
    if len + path.len >= PATH_MAX {
        return;
    }
    out[len..len + path.len].copy_from_slice(&path.bytes[..path.len]);
    out[len + path.len] = 0;
    SAVED.dev.store(dev, Ordering::Relaxed);
    SAVED.ino.store(ino, Ordering::Relaxed);
    SAVED.set.store(true, Ordering::Release);
}

/// Writes the header into the empty file `fd`, maps it, and makes it the process's capture.
fn claim(fd: i32, pid: u32, forked_from: u32, path: &PathBuf) -> bool {
    let fd = sys::move_up(fd, HIGH_FD);
    save(path, fd);
    let mut hdr = [0u8; HEADER_SIZE];
    let mut put = |off: usize, bytes: &[u8]| hdr[off..off + bytes.len()].copy_from_slice(bytes);
    put(h::MAGIC, &MAGIC);
    put(h::VERSION, &VERSION.to_le_bytes());
    put(h::HEADER_SIZE, &(HEADER_SIZE as u32).to_le_bytes());
    put(
        h::CHUNK_SIZE,
        &(memprof_format::CHUNK_SIZE as u32).to_le_bytes(),
    );
    put(h::POINTER_SIZE, &[8, 1, TIME_SHIFT as u8]);
    put(h::FLAGS, &h::flags::CLAIMED.to_le_bytes());
    put(h::PID, &pid.to_le_bytes());
    put(h::START_TSC, &sys::rdtsc().to_le_bytes());
    put(
        h::START_MONO_NS,
        &sys::clock_ns(libc::CLOCK_MONOTONIC).to_le_bytes(),
    );
    put(
        h::START_UNIX_NS,
        &sys::clock_ns(libc::CLOCK_REALTIME).to_le_bytes(),
    );
    put(
        h::MAX_DEPTH,
        &(global::MAX_DEPTH.load(Ordering::Relaxed) as u32).to_le_bytes(),
    );
    put(
        h::UNWIND_MODE,
        &u32::from(global::unwind_mode() == Mode::FramePointer).to_le_bytes(),
    );
    put(h::PPID, &sys::getppid().to_le_bytes());
    put(h::FORKED_FROM, &forked_from.to_le_bytes());
    let n = sys::read_file(b"/proc/self/cmdline\0", &mut hdr[h::CMDLINE..]);
    hdr[h::CMDLINE_LEN..h::CMDLINE_LEN + 4].copy_from_slice(&(n as u32).to_le_bytes());
    if !sys::pwrite_all(fd, &hdr, 0) {
        sys::close(fd);
        return false;
    }
    let map = sys::map_shared(fd, 0, HEADER_SIZE, true);
    if map.is_null() {
        sys::close(fd);
        return false;
    }
    let old = global::FD.swap(fd, Ordering::AcqRel);
    if old >= 0 {
        // A forked child's copy of its parent's descriptor.
        sys::close(old);
    }
    global::PID.store(pid, Ordering::Relaxed);
    global::HEADER.store(map, Ordering::Release);
    true
}
