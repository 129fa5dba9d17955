//! Stack unwinding inside `malloc`, without frame pointers.
//!
//! The fast path walks the stack with compact rules cached per return address (see
//! [`rules`]): per frame, one hash probe and two or three loads. A miss evaluates the module's
//! DWARF CFI once ([`cfi`]). Every stack read is checked against the thread's stack bounds and
//! every frame must move strictly up the stack, so bad unwind data or a garbage register ends
//! the walk instead of faulting.
//!
//! Frame-pointer mode walks the RBP chain instead (about 1 ns a frame), after unwinding this
//! library's own frames with the rules, since the library itself may omit frame pointers.

mod cfi;
mod rules;

use core::arch::asm;

use rules::{Kind, Rule, RuleCache};

/// How to walk the program's frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Dwarf,
    FramePointer,
}

/// A thread's unwinder: its rule cache and its stack bounds. Created with the reentrancy
/// guard held (it allocates).
pub struct Unwinder {
    cache: RuleCache,
    eval: cfi::Evaluator,
    /// One past the highest address of the thread's stack.
    stack_hi: u64,
    misses: u64,
}

/// Addresses of this library's code: frames there are the profiler's own.
fn own_range() -> (u64, u64) {
    use core::sync::atomic::{AtomicU64, Ordering};
    static START: AtomicU64 = AtomicU64::new(0);
    static END: AtomicU64 = AtomicU64::new(0);
    let end = END.load(Ordering::Acquire);
    if end != 0 {
        return (START.load(Ordering::Relaxed), end);
    }
    let here = own_range as *const () as u64;
    let (s, e) = cfi::module_of(here).map_or((here, here + 1), |m| (m.start, m.end));
    START.store(s, Ordering::Relaxed);
    END.store(e, Ordering::Release);
    (s, e)
}

impl Unwinder {
    pub fn new() -> Unwinder {
        own_range();
        Unwinder {
            cache: RuleCache::new(),
            eval: cfi::Evaluator::new(),
            stack_hi: stack_top(),
            misses: 0,
        }
    }

    /// Rule-cache misses so far.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Forgets cached rules (a module was unloaded; its addresses may be reused).
    pub fn flush(&mut self) {
        self.cache.clear();
    }

    #[inline(always)]
    fn rule(&mut self, ip: u64, innermost: bool) -> Rule {
        if let Some(r) = self.cache.get(ip) {
            return r;
        }
        self.miss(ip, innermost)
    }

    #[cold]
    #[inline(never)]
    fn miss(&mut self, ip: u64, innermost: bool) -> Rule {
        self.misses += 1;
        // A return address points after the call; the call itself, one byte back, is what
        // belongs to the calling function (it matters after a call to a noreturn function).
        let r = self.eval.rule(if innermost { ip } else { ip - 1 });
        self.cache.insert(ip, r);
        r
    }

    /// Writes the return addresses of the calling thread's stack into `out`, innermost first,
    /// starting with the first frame outside this library. Returns how many were written and
    /// whether frames were left out because `out` was full.
    #[inline(never)]
    pub fn capture(&mut self, mode: Mode, out: &mut [u64]) -> (usize, bool) {
        let (mut ip, mut sp, mut bp): (u64, u64, u64);
        // SAFETY: reads the instruction pointer, stack pointer and frame pointer; no memory is
        // touched.
        unsafe {
            asm!("lea {ip}, [rip]", "mov {sp}, rsp", "mov {bp}, rbp",
                 ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp,
                 options(nomem, nostack, preserves_flags));
        }
        let hi = self.stack_hi;
        let (own_lo, own_hi) = own_range();
        let mut n = 0;
        let mut innermost = true;
        let mut ours = true;
        while sp < hi {
            let rule = self.rule(ip, innermost);
            innermost = false;
            let cfa = match rule.kind {
                Kind::Rsp => sp.wrapping_add(rule.cfa_off as i64 as u64),
                Kind::Rbp => bp.wrapping_add(rule.cfa_off as i64 as u64),
                Kind::Stop => break,
            };
            if cfa <= sp || cfa > hi {
                break;
            }
            let Some(ra) = read(cfa.wrapping_add(rule.ra_off as i64 as u64), sp, hi) else {
                break;
            };
            if rule.rbp_off8 != 0 {
                match read(cfa.wrapping_add((rule.rbp_off8 as i64 * 8) as u64), sp, hi) {
                    Some(v) => bp = v,
                    None => break,
                }
            }
            sp = cfa;
            if ra < 4096 {
                break;
            }
            ip = ra;
            if ours && (own_lo..own_hi).contains(&ra) {
                continue;
            }
            ours = false;
            if n == out.len() {
                return (n, true);
            }
            out[n] = ra;
            n += 1;
            if mode == Mode::FramePointer {
                return self.walk_frame_pointers(bp, sp, hi, out, n);
            }
        }
        (n, false)
    }

    /// Follows the RBP chain from the first program frame.
    fn walk_frame_pointers(
        &self,
        mut bp: u64,
        sp: u64,
        hi: u64,
        out: &mut [u64],
        mut n: usize,
    ) -> (usize, bool) {
        let mut lo = sp;
        while bp >= lo && bp % 8 == 0 {
            let (Some(next), Some(ra)) = (read(bp, lo, hi), read(bp.wrapping_add(8), lo, hi))
            else {
                break;
            };
            if ra < 4096 {
                break;
            }
            if n == out.len() {
                return (n, true);
            }
            out[n] = ra;
            n += 1;
            if next <= bp {
                break;
            }
            lo = bp + 16;
            bp = next;
        }
        (n, false)
    }
}

/// Reads the stack word at `addr` if it lies within `[lo, hi)`.
#[inline(always)]
fn read(addr: u64, lo: u64, hi: u64) -> Option<u64> {
    if addr < lo || addr.checked_add(8)? > hi || addr % 8 != 0 {
        return None;
    }
    // SAFETY: `addr` is 8-aligned and inside the calling thread's live stack (between the
    // current stack pointer and the top of the stack), which is mapped and readable.
    Some(unsafe { core::ptr::read_volatile(addr as *const u64) })
}

/// One past the highest address of the calling thread's stack, or 0 if it cannot be told
/// (then nothing is unwound).
fn stack_top() -> u64 {
    // SAFETY: an all-zero pthread_attr_t is valid storage for pthread_getattr_np to fill.
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    // SAFETY: `attr` is valid storage; pthread_self is the calling thread.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return 0;
    }
    let mut addr: *mut core::ffi::c_void = core::ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: `attr` was initialised above; the out-pointers are valid.
    let ok = unsafe { libc::pthread_attr_getstack(&attr, &mut addr, &mut size) } == 0;
    // SAFETY: `attr` was initialised by pthread_getattr_np.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    if ok {
        addr as u64 + size as u64
    } else {
        0
    }
}
