//! Stack unwinding inside `malloc`, without frame pointers.
//!
//! The fast path walks the stack with compact rules cached per return address (see
//! [`rules`]): per frame, one hash probe and two or three loads. A miss evaluates the module's
//! DWARF CFI once ([`cfi`]). Every stack read is checked against the thread's stack bounds and
//! every frame must move strictly up the stack, so bad unwind data or a garbage register ends
//! the walk instead of faulting. A walk stops at the first frame it shares with the thread's
//! previous walk, when the stack out from there is unchanged ([`walk`]), so that an allocation
//! pays for the frames that changed since the last one; and a stack among the 16 used most
//! recently is recognised before any unwinding, by the registers of its first frame and the
//! words its walk read ([`walks`]).
//!
//! Every walk starts at the program's frame that called into the library ([`Caller`], handed
//! over by the hooks' entry trampolines), so the library's own frames are never unwound.
//! Frame-pointer mode walks the RBP chain instead (about 1 ns a frame).

mod cfi;
mod rules;
mod walk;
mod walks;

use alloc::boxed::Box;
use core::sync::atomic::Ordering;

const RECENT: usize = 256;

use crate::sys;
use rules::{Kind, Rule, RuleCache};
use walk::{Frame, Head, Log};
use walks::Walks;

/// How to walk the program's frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Dwarf,
    FramePointer,
}

/// Where the program called into the library: the stack pointer on entry to the hook, which
/// points at the return address, and the frame pointer then (the program's own).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub sp: u64,
    pub bp: u64,
}

/// A thread's unwinder: its rule cache and its stack bounds. Created with the reentrancy
/// guard held (it allocates).
pub struct Unwinder {
    cache: RuleCache,
    /// The code addresses and rules last seen at each depth, most recent first: successive
    /// allocations mostly share their frames or alternate between a few call sites, and this
    /// check (one cache line for two depths) is cheaper than a probe of the rule cache.
    recent: Box<[[(u64, Rule); 2]; RECENT]>,
    eval: cfi::Evaluator,
    /// The last complete walk, and the frames of this one not found in it.
    log: Box<Log>,
    head: Box<Head>,
    /// Recent whole walks, for stacks that come back after others.
    walks: Walks,
    /// The last capture unwound frames the log did not have: its walk is worth remembering.
    stepped: bool,
    /// One past the highest address of the thread's stack.
    stack_hi: u64,
    misses: u64,
}

impl Unwinder {
    pub fn new() -> Unwinder {
        Unwinder {
            cache: RuleCache::new(crate::global::MODULE_GENERATION.load(Ordering::Relaxed)),
            // SAFETY: all zeroes is an empty entry (address 0, the default rule).
            recent: unsafe { sys::zeroed_box() },
            eval: cfi::Evaluator::new(),
            log: Log::new(),
            head: Head::new(),
            walks: Walks::new(),
            stepped: false,
            stack_hi: stack_top(),
            misses: 0,
        }
    }

    /// Rule-cache misses so far.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Forgets cached rules made before generation `generation` of the module list (a module
    /// was unloaded; its addresses may be reused).
    pub fn flush(&mut self, generation: u64) {
        self.cache.flush(generation);
        self.log.clear();
        self.walks.clear();
        self.recent.fill([(0, Rule::default()); 2]);
    }

    /// Forgets the stack ids given by the caller (they start over in a forked child).
    pub fn forget_ids(&mut self) {
        self.log.forget_ids();
        self.walks.clear();
    }

    #[inline(always)]
    fn rule(&mut self, depth: usize, ip: u64) -> Rule {
        let Some(recent) = self.recent.get_mut(depth) else {
            return self.cache.get(ip).unwrap_or_else(|| self.miss(ip));
        };
        if recent[0].0 == ip {
            return recent[0].1;
        }
        if recent[1].0 == ip {
            recent.swap(0, 1);
            return recent[0].1;
        }
        let r = match self.cache.get(ip) {
            Some(r) => r,
            None => self.miss(ip),
        };
        if let Some(recent) = self.recent.get_mut(depth) {
            *recent = [(ip, r), recent[0]];
        }
        r
    }

    #[cold]
    #[inline(never)]
    fn miss(&mut self, ip: u64) -> Rule {
        self.misses += 1;
        // A return address points after the call; the call itself, one byte back, is what
        // belongs to the calling function (it matters after a call to a noreturn function).
        let r = self.eval.rule(ip - 1);
        self.cache.insert(ip, r);
        r
    }

    /// Walks the calling thread's stack from the program's frame that called into the library,
    /// writing its return addresses into `out`, innermost first; when the result says
    /// `logged`, only the innermost few may be there, and [`Unwinder::name`] or
    /// [`Unwinder::fill`] give the rest.
    #[inline(never)]
    pub fn capture(&mut self, mode: Mode, caller: Caller, out: &mut [u64]) -> Captured {
        let hi = self.stack_hi;
        let (mut ip, mut sp, mut bp) = match read(caller.sp, caller.sp, hi) {
            Some(ra) if ra >= 4096 => (ra, caller.sp + 8, caller.bp),
            _ => return Captured::frames(0, false),
        };
        if mode == Mode::Dwarf {
            if let Some(id) = self.walks.find(ip, sp, bp) {
                return Captured {
                    known: Some(id),
                    ..Captured::frames(0, false)
                };
            }
        }
        let mut depth = 0;
        let Some(first) = out.first_mut() else {
            return Captured::frames(0, true);
        };
        *first = ip;
        if mode == Mode::FramePointer {
            let (n, truncated) = walk_frame_pointers(bp, sp, hi, out, 1);
            return Captured::frames(n, truncated);
        }
        // Frame n's registers are (ip, sp, bp), and out[n] = ip.
        let mut cursor = self.log.len();
        let mut n = 0;
        loop {
            if let Some(f) = self.head.frames.get_mut(n) {
                f.begin(ip, sp, bp);
                if let Some(p) = self.log.find(&mut cursor, f) {
                    match self.log.changed_at(p) {
                        None => return self.shared(p, n, out),
                        // Frame q's reads changed: its callers may be new, but the stack may
                        // be the same again further out.
                        Some(q) => cursor = q,
                    }
                }
            } else {
                // Too deep to log, so too deep to compare.
                cursor = 0;
            }
            let rule = self.rule(depth, ip);
            let frame = self.head.frames.get_mut(n);
            let Some((next_ip, next_sp, next_bp)) = step(rule, sp, bp, hi, frame) else {
                break;
            };
            (ip, sp, bp) = (next_ip, next_sp, next_bp);
            depth += 1;
            n += 1;
            let Some(slot) = out.get_mut(n) else {
                return Captured::frames(n, true);
            };
            *slot = ip;
        }
        self.stepped = true;
        Captured {
            frames: n + 1,
            truncated: false,
            logged: self.log.replace(&self.head, n),
            known: None,
        }
    }

    /// Ends a walk whose frame `n` is the log's frame `p`, from which the stack is unchanged.
    fn shared(&mut self, p: usize, n: usize, out: &mut [u64]) -> Captured {
        let total = p + 1 + n;
        let fits = total <= out.len();
        let logged = self.log.adopt(p, &self.head, n) && fits;
        self.stepped = n > 0;
        if !logged {
            // The log's frames up to p are still this stack's, whatever became of the rest.
            self.log.fill(out, n, p);
        }
        Captured {
            frames: total.min(out.len()),
            truncated: !fits,
            logged,
            known: None,
        }
    }

    /// The id of the stack the last capture logged, from `name(parent, ip)`: the id of the
    /// stack `ip` called under the stack `parent` (0: none), 0 when there is no memory for it.
    /// Frames shared with earlier stacks keep the ids they were given then.
    pub fn name(&mut self, name: &mut impl FnMut(u64, u64) -> u64) -> Option<u64> {
        let id = self.log.name(name)?;
        if self.stepped {
            self.stepped = false;
            if let Some((first, uses_bp)) = self.log.innermost() {
                self.walks.remember(first, uses_bp, self.log.reads(), id);
            }
        }
        Some(id)
    }

    /// Writes the return addresses of the stack the last capture logged into `out`.
    pub fn fill(&self, out: &mut [u64]) {
        if let Some(last) = self.log.len().checked_sub(1) {
            self.log.fill(out, 0, last);
        }
    }
}

/// One frame up with the rule for the frame's code: the caller's return address, stack
/// pointer and frame pointer. The rule and the words read are logged in `log`.
#[inline(always)]
fn step(
    rule: Rule,
    sp: u64,
    bp: u64,
    hi: u64,
    mut log: Option<&mut Frame>,
) -> Option<(u64, u64, u64)> {
    if let Some(f) = log.as_deref_mut() {
        f.rule(rule);
    }
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
    if let Some(f) = log.as_deref_mut() {
        f.read(0, ra_at, ra);
    }
    let bp = if rule.rbp_off8 != 0 {
        let at = cfa.wrapping_add((rule.rbp_off8 as i64 * 8) as u64);
        let v = read(at, sp, hi)?;
        if let Some(f) = log {
            f.read(1, at, v);
        }
        v
    } else {
        bp
    };
    (ra >= 4096).then_some((ra, cfa, bp))
}

/// What [`Unwinder::capture`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Frames of the stack (at most the length of `out`).
    pub frames: usize,
    /// Frames were left out because `out` was full.
    pub truncated: bool,
    /// The stack is the log's, all of it (see [`Unwinder::name`]).
    pub logged: bool,
    /// The stack is one seen before, with this id (nothing was unwound).
    pub known: Option<u64>,
}

impl Captured {
    fn frames(frames: usize, truncated: bool) -> Captured {
        Captured {
            frames,
            truncated,
            logged: false,
            known: None,
        }
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
///
/// Told without a call into libc: a thread's first allocation may be made inside
/// `pthread_getattr_np` (Ruby's threads start that way), which holds the thread's own lock,
/// so asking it again from here would deadlock.
fn stack_top() -> u64 {
    let sp = sys::stack_pointer();
    let tp = sys::thread_pointer() as u64;
    if tp > sp {
        // glibc puts a thread's descriptor, which the thread pointer points to, at the top of
        // the thread's stack, above its static TLS: all of it mapped.
        return tp;
    }
    // The main thread, whose descriptor lies elsewhere: its frames lie below where the kernel
    // started it, and the page holding that point is mapped (it holds argv).
    let end = sys::main_stack_end();
    if end > sp {
        (end | 4095) + 1
    } else {
        0
    }
}
