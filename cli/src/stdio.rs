//! The standard descriptors memprof was started without.
//!
//! Rust's runtime opens `/dev/null` on a closed stdin, stdout or stderr before `main`, and the
//! program would inherit those: it would write into nothing where it should have failed (a
//! shell's `echo` to a closed stdout exits 1). A constructor, which runs before the runtime,
//! notes which were closed, and [`closed_at_start`] lets `memprof run` close them again in
//! the program.

use std::sync::atomic::{AtomicU8, Ordering};

/// Bit `fd` is set when descriptor `fd` (0, 1 or 2) was closed at start-up.
static CLOSED: AtomicU8 = AtomicU8::new(0);

#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED: extern "C" fn() = note_closed;

extern "C" fn note_closed() {
    let mut bits = 0;
    for fd in 0..3 {
        // SAFETY: F_GETFD only looks the descriptor up.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            bits |= 1 << fd;
        }
    }
    CLOSED.store(bits, Ordering::Relaxed);
}

/// The standard descriptors that were closed when memprof started.
pub fn closed_at_start() -> Vec<i32> {
    let bits = CLOSED.load(Ordering::Relaxed);
    (0..3).filter(|fd| bits & (1 << fd) != 0).collect()
}
