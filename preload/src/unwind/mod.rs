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
mod walk;

use alloc::boxed::Box;

const RECENT: usize = 256;

use core::arch::asm;

use rules::{Kind, Rule, RuleCache};
use walk::Walk;

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
    /// The code address and rule of each frame of the previous stack, by depth: successive
    /// allocations mostly share their outer frames, and this check is cheaper than a probe.
    recent: Box<[(u64, Rule); RECENT]>,
    eval: cfi::Evaluator,
    /// This walk and the previous one; `walks[current]` is being written.
    walks: [Box<Walk>; 2],
    current: usize,
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
            recent: Box::new([(0, Rule::default()); RECENT]),
            eval: cfi::Evaluator::new(),
            walks: [Walk::new(), Walk::new()],
            current: 0,
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
        self.walks.iter_mut().for_each(|w| w.begin());
        self.recent.fill((0, Rule::default()));
    }

    #[inline(always)]
    fn rule(&mut self, depth: usize, ip: u64, innermost: bool) -> Rule {
        if let Some(&(recent_ip, r)) = self.recent.get(depth) {
            if recent_ip == ip {
                return r;
            }
        }
        let r = match self.cache.get(ip) {
            Some(r) => r,
            None => self.miss(ip, innermost),
        };
        if let Some(slot) = self.recent.get_mut(depth) {
            *slot = (ip, r);
        }
        r
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
        let mut depth = 0;
        // This library's frames first: their code is ours, not the program's.
        loop {
            let Some((next_ip, next_sp, next_bp)) = self.step(depth, ip, sp, bp, hi, None) else {
                return (0, false);
            };
            (ip, sp, bp) = (next_ip, next_sp, next_bp);
            depth += 1;
            if !(own_lo..own_hi).contains(&ip) {
                break;
            }
        }
        let Some(first) = out.first_mut() else {
            return (0, true);
        };
        *first = ip;
        if mode == Mode::FramePointer {
            return walk_frame_pointers(bp, sp, hi, out, 1);
        }
        // Frame n's registers are (ip, sp, bp) and out[n] = ip.
        let (cur, prev) = (self.current, 1 - self.current);
        self.walks[cur].begin();
        let mut n = 0;
        let mut verified = false;
        loop {
            let state = (ip, sp, bp);
            let logged = self.walks[cur].frame(n, state);
            if let Some(k) = self.walks[prev]
                .find(n, state)
                .filter(|_| !verified && logged)
            {
                if self.walks[prev].unchanged_from(k) {
                    let (a, b) = self.walks.split_at_mut(1);
                    let (w, p) = if cur == 0 {
                        (&mut a[0], &mut b[0])
                    } else {
                        (&mut b[0], &mut a[0])
                    };
                    // Usually only the frames below changed: patch them into the last log.
                    if k == n {
                        if let Some(total) = p.adopt_head(w, n, out) {
                            return (total.min(out.len()), total > out.len());
                        }
                    }
                    let total = w.splice(n, p, k, out);
                    self.current = prev;
                    return (total.min(out.len()), total > out.len());
                }
                // The stack changed above this frame: unwind it, and check no more.
                verified = true;
            }
            let Some((next_ip, next_sp, next_bp)) =
                self.step(depth, ip, sp, bp, hi, logged.then_some(cur))
            else {
                break;
            };
            (ip, sp, bp) = (next_ip, next_sp, next_bp);
            depth += 1;
            n += 1;
            let Some(slot) = out.get_mut(n) else {
                self.current = prev;
                return (n, true);
            };
            *slot = ip;
        }
        self.walks[cur].finish();
        self.current = prev;
        (n + 1, false)
    }

    /// One frame up: the caller's return address, stack pointer and frame pointer.
    #[inline(always)]
    fn step(
        &mut self,
        depth: usize,
        ip: u64,
        sp: u64,
        bp: u64,
        hi: u64,
        log: Option<usize>,
    ) -> Option<(u64, u64, u64)> {
        let rule = self.rule(depth, ip, depth == 0);
        let cfa = match rule.kind {
            Kind::Rsp => sp.wrapping_add(rule.cfa_off as i64 as u64),
            Kind::Rbp => bp.wrapping_add(rule.cfa_off as i64 as u64),
            Kind::Stop => return None,
        };
        // The caller's frame lies strictly above this one and inside the stack.
        if cfa.wrapping_sub(sp).wrapping_sub(1) >= hi.wrapping_sub(sp) {
            return None;
        }
        let ra_at = cfa.wrapping_add(rule.ra_off as i64 as u64);
        let ra = read(ra_at, sp, hi)?;
        if let Some(w) = log {
            self.walks[w].read(ra_at, ra);
        }
        let bp = if rule.rbp_off8 != 0 {
            let at = cfa.wrapping_add((rule.rbp_off8 as i64 * 8) as u64);
            let v = read(at, sp, hi)?;
            if let Some(w) = log {
                self.walks[w].read(at, v);
            }
            v
        } else {
            bp
        };
        (ra >= 4096).then_some((ra, cfa, bp))
    }
}

/// Follows the RBP chain from the first program frame.
fn walk_frame_pointers(
    mut bp: u64,
    sp: u64,
    hi: u64,
    out: &mut [u64],
    mut n: usize,
) -> (usize, bool) {
    let mut lo = sp;
    while bp >= lo && bp.is_multiple_of(8) {
        let (Some(next), Some(ra)) = (read(bp, lo, hi), read(bp.wrapping_add(8), lo, hi)) else {
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

/// Reads the stack word at `addr` if it lies within `[lo, hi)`.
#[inline(always)]
fn read(addr: u64, lo: u64, hi: u64) -> Option<u64> {
    // One comparison: `addr - lo` wraps to a huge value when `addr < lo`.
    if addr.wrapping_sub(lo) > hi.wrapping_sub(lo).wrapping_sub(8) || hi.wrapping_sub(lo) < 8 {
        return None;
    }
    // SAFETY: `addr..addr + 8` lies inside the calling thread's live stack (between the
    // current stack pointer and the top of the stack), which is mapped and readable; x86_64
    // reads unaligned words.
    Some(unsafe { core::ptr::read_unaligned(addr as *const u64) })
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
