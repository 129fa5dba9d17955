//! Start-up and shut-down: the constructor that opens the capture, the fork handlers, the
//! thread-exit destructor, and the exit handler that releases libc's and libstdc++'s internal
//! buffers (as valgrind does) before the capture is marked complete.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::Ordering;

use memprof_format::header;

use crate::unwind::Mode;
use crate::{capture_file, global, modules, preinit, recorder, stash, sys};

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

/// `__gnu_cxx::__freeres`, looked up at start if libstdc++ is loaded.
static CXX_FREERES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv reads the environment without allocating; the constructor runs before
    // the program could change it from another thread.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: a non-null result is a NUL-terminated string in the environment block.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

fn env_flag(name: &CStr) -> bool {
    matches!(env(name), Some(v) if !v.is_empty() && v != b"0")
}

extern "C" fn constructor() {
    if global::STATE
        .compare_exchange(
            global::UNINIT,
            global::INITIALIZING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return;
    }
    let ok = recorder::guarded(start);
    global::STATE.store(
        if ok {
            global::RECORDING
        } else {
            global::DISABLED
        },
        Ordering::Release,
    );
}

fn start() -> bool {
    let Some(out) = env(c"MEMPROF_OUT") else {
        return false;
    };
    if env(c"MEMPROF_UNWIND") == Some(b"fp") {
        global::set_unwind_mode(Mode::FramePointer);
    }
    if let Some(depth) = env(c"MEMPROF_MAX_DEPTH").and_then(parse_usize) {
        global::MAX_DEPTH.store(depth.clamp(1, 4096), Ordering::Relaxed);
    }
    global::FOLLOW_FORK.store(env_flag(c"MEMPROF_FOLLOW_FORK"), Ordering::Relaxed);
    global::FOLLOW_EXEC.store(env_flag(c"MEMPROF_FOLLOW_EXEC"), Ordering::Relaxed);
    // memprof names itself as the parent of the program it starts: other processes that load
    // the library are that program's descendants.
    let started = env(c"MEMPROF_LAUNCHER")
        .and_then(parse_usize)
        .is_none_or(|launcher| launcher == sys::getppid() as usize);
    if !capture_file::open(out, started) {
        return false;
    }
    register_handlers();
    let Some(t) = recorder_state() else {
        return false;
    };
    modules::refresh(&mut t.writer);
    preinit::flush(&mut t.writer);
    true
}

/// The calling thread's recorder state, created if needed (the guard is held).
fn recorder_state() -> Option<&'static mut recorder::ThreadState> {
    recorder::current().or_else(|| {
        recorder::create_current();
        recorder::current()
    })
}

fn parse_usize(v: &[u8]) -> Option<usize> {
    core::str::from_utf8(v).ok()?.trim().parse().ok()
}

fn register_handlers() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer and `thread_exit` has the destructor signature.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
        global::THREAD_KEY.store(key, Ordering::Relaxed);
    }
    // SAFETY: the handlers are plain functions that stay valid for the life of the process.
    unsafe { libc::pthread_atfork(None, None, Some(fork_child)) };
    // Registered before `__libc_start_main` registers the loader's finaliser, so this runs
    // after every destructor and every exit handler of the program. `on_exit` rather than
    // `atexit` for the status, however `exit` was reached (also from inside libc, when `main`
    // returns). `_exit` runs no handler: it is hooked.
    // SAFETY: as above.
    unsafe { on_exit(process_exit, core::ptr::null_mut()) };
    // SAFETY: dlsym with a NUL-terminated name; it may allocate, which the guard forwards.
    let f = unsafe {
        libc::dlsym(
            libc::RTLD_DEFAULT,
            c"_ZN9__gnu_cxx9__freeresEv".as_ptr() as *const c_char,
        )
    };
    CXX_FREERES.store(f as usize, Ordering::Relaxed);
    if f.is_null() {
        // The failed lookup left an error message that libc frees at exit, as an unknown
        // block: take it and let it go now, while the guard is held.
        // SAFETY: dlerror has no preconditions; the first call hands the message over and
        // the second frees it.
        unsafe {
            libc::dlerror();
            libc::dlerror();
        }
    }
}

unsafe extern "C" fn thread_exit(_value: *mut c_void) {
    recorder::thread_exit();
}

extern "C" fn fork_child() {
    if global::state() != global::RECORDING {
        return;
    }
    if !global::FOLLOW_FORK.load(Ordering::Relaxed) {
        // Never write into the parent's capture.
        global::STATE.store(global::DISABLED, Ordering::Release);
        return;
    }
    global::STATE.store(global::INITIALIZING, Ordering::Release);
    let parent = global::PID.load(Ordering::Relaxed);
    let ok = recorder::guarded(|| {
        if let Some(t) = recorder::current() {
            t.writer.forget(sys::gettid());
        }
        if !capture_file::open_for_child(parent) {
            return false;
        }
        stash::reset();
        modules::reset();
        let Some(t) = recorder_state() else {
            return false;
        };
        t.reset_for_child();
        modules::refresh(&mut t.writer);
        true
    });
    global::STATE.store(
        if ok {
            global::RECORDING
        } else {
            global::DISABLED
        },
        Ordering::Release,
    );
}

extern "C" {
    fn on_exit(f: extern "C" fn(c_int, *mut c_void), arg: *mut c_void) -> c_int;
}

extern "C" fn process_exit(status: c_int, _: *mut c_void) {
    if global::state() != global::RECORDING {
        return;
    }
    global::note_exit(status);
    recorder::guarded(|| {
        if let Some(t) = recorder_state() {
            // Unloads cause no unwind-cache miss; make sure none goes unrecorded.
            modules::refresh(&mut t.writer);
            t.writer
                .write(&memprof_format::Record::Exit { time: sys::now() });
        }
    });
    // Freed blocks are recorded: what libc and libstdc++ keep until exit is not a leak.
    let cxx = CXX_FREERES.load(Ordering::Relaxed);
    if cxx != 0 {
        // SAFETY: the address was returned by dlsym for `void __gnu_cxx::__freeres()`.
        let f: extern "C" fn() = unsafe { core::mem::transmute::<usize, extern "C" fn()>(cxx) };
        f();
    }
    if !env_flag(c"MEMPROF_NO_FREERES") {
        // SAFETY: glibc provides it for exactly this use at the end of the process.
        unsafe { sys::__libc_freeres() };
    }
    global::stamp_end_clock();
    global::set_flags(header::flags::EXITED);
}
