//! The last walk of a thread's stack, kept so that the next one can stop early.
//!
//! A walk from frame k out is a pure function of frame k's registers (ip, sp, bp) and of the
//! stack words it reads. So when a new walk reaches a frame whose registers equal those of a
//! logged frame, and every word the log read from that frame out still holds the same value,
//! the rest of the stack is the same as last time and is not unwound again. The check is a run
//! of independent loads and compares, much cheaper than unwinding: loops that allocate under a
//! deep, unchanging call chain pay for the changed frames only.
//!
//! The log keeps frames outermost first, so the frames a new walk shares with it stay where
//! they are and only the frames below the shared one are rewritten. The words the frames read
//! are kept apart in one compact list, in the same order: the common case, nothing changed,
//! is then one branch-free pass over it. Each logged frame also
//! keeps the id the caller gave the stack from the outermost frame down to it: the shared part
//! of a stack is named once, not at every allocation. A frame's bp is compared only when the
//! walk from it out uses bp before restoring it: most code uses rbp as a general register,
//! and its value would otherwise defeat the comparison.

use alloc::boxed::Box;

use super::rules::{Kind, Rule};

/// Frames a walk can log; deeper walks are not reused.
pub const FRAMES: usize = 256;

/// The frame's CFA is computed from bp.
const CFA_BP: u8 = 1;
/// The caller's bp is restored from the stack.
const RESTORES_BP: u8 = 2;
/// (Logged frames only) the walk from this frame out depends on its bp.
const DEPENDS_ON_BP: u8 = 4;

/// One frame of a walk: its registers and the stack words read to unwind it.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Frame {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
    /// (address, value) of the words read while unwinding from this frame: the first
    /// `nreads` of them.
    reads: [(u64, u64); 2],
    nreads: u8,
    flags: u8,
}

impl Frame {
    /// A frame of no registers and no reads: all zeroes, as frames are made.
    #[cfg(test)]
    pub const EMPTY: Frame = Frame {
        ip: 0,
        sp: 0,
        bp: 0,
        reads: [(0, 0); 2],
        nreads: 0,
        flags: 0,
    };

    /// Starts a frame with registers (ip, sp, bp) and no reads yet.
    #[inline(always)]
    pub fn begin(&mut self, ip: u64, sp: u64, bp: u64) {
        self.ip = ip;
        self.sp = sp;
        self.bp = bp;
        self.nreads = 0;
        self.flags = 0;
    }

    /// Notes the rule this frame is unwound with.
    #[inline(always)]
    pub fn rule(&mut self, rule: Rule) {
        let cfa_bp = if rule.kind == Kind::Rbp { CFA_BP } else { 0 };
        let restores = if rule.rbp_off8 != 0 { RESTORES_BP } else { 0 };
        self.flags = cfa_bp | restores;
    }

    /// Logs the `i`th word (0: return address, 1: saved bp) read while unwinding this frame.
    #[inline(always)]
    pub fn read(&mut self, i: usize, addr: u64, value: u64) {
        self.reads[i] = (addr, value);
        self.nreads = i as u8 + 1;
    }

    /// Whether the walk from this frame out depends on its bp, given whether the walk from
    /// its caller out depends on the caller's.
    fn depends_on_bp(&self, caller_depends: bool) -> bool {
        self.flags & CFA_BP != 0 || (self.flags & RESTORES_BP == 0 && caller_depends)
    }
}

/// The bits in which the word at `addr` differs from `value`.
///
/// # Safety
/// `addr` must be a stack word read while unwinding a logged frame whose stack pointer is the
/// same as now or lies above a frame whose is: such words lie between the live stack pointer
/// and the top of the stack, mapped and readable.
#[inline(always)]
unsafe fn differs((addr, value): (u64, u64)) -> u64 {
    // SAFETY: guaranteed by the caller; x86_64 reads unaligned words.
    unsafe { core::ptr::read_unaligned(addr as *const u64) ^ value }
}

/// The frames of the walk in progress, innermost first.
pub struct Head {
    pub frames: [Frame; FRAMES],
}

impl Head {
    pub fn new() -> Box<Head> {
        // SAFETY: all zeroes is a frame of no registers and no reads, in every frame.
        unsafe { crate::sys::zeroed_box() }
    }
}

/// The last complete walk, outermost frame first.
pub struct Log {
    frames: [Frame; FRAMES],
    /// The words frames `0..len` read, frame by frame; frames `0..=p` read the first
    /// `ends[p]`.
    reads: [(u64, u64); 2 * FRAMES],
    ends: [u16; FRAMES],
    /// `ids[p]` names the stack made of frames `0..=p`; valid below `named`.
    ids: [u64; FRAMES],
    len: usize,
    named: usize,
}

impl Log {
    pub fn new() -> Box<Log> {
        // SAFETY: all zeroes is an empty log: empty frames, no reads, nothing logged.
        unsafe { crate::sys::zeroed_box() }
    }

    /// Frames logged; a new walk checks its frames against them from the innermost out.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The innermost frame of the logged walk, and whether the walk depends on its bp.
    pub fn innermost(&self) -> Option<(&Frame, bool)> {
        let f = self.frames[..self.len].last()?;
        Some((f, f.flags & DEPENDS_ON_BP != 0))
    }

    /// Every word the logged walk read, outermost frame first.
    pub fn reads(&self) -> &[(u64, u64)] {
        match self.len.checked_sub(1) {
            Some(last) => &self.reads[..self.ends[last] as usize],
            None => &[],
        }
    }

    /// Forgets the walk (cached rules were dropped: nothing logged may be trusted).
    pub fn clear(&mut self) {
        self.len = 0;
        self.named = 0;
    }

    /// Forgets the ids (the stash was reset), keeping the walk.
    pub fn forget_ids(&mut self) {
        self.named = 0;
    }

    /// The logged frame with the registers of `f`, looked for below `*cursor`, which moves out
    /// past the logged frames that lie inside `f` (frames are ordered by stack pointer and a
    /// new walk's frames come with growing stack pointers, so the cursor only moves out).
    #[inline(always)]
    pub fn find(&self, cursor: &mut usize, f: &Frame) -> Option<usize> {
        let mut c = *cursor;
        while c > 0 && self.frames[c - 1].sp < f.sp {
            c -= 1;
        }
        *cursor = c;
        let p = c.checked_sub(1)?;
        let g = &self.frames[p];
        let same = g.ip == f.ip && g.sp == f.sp && (g.bp == f.bp || g.flags & DEPENDS_ON_BP == 0);
        same.then_some(p)
    }

    /// The innermost of frames `0..=p` whose reads changed since they were logged, if any: the
    /// stack from frame `p` out is unchanged when there is none. Frame `p` must have the same
    /// stack pointer as when it was logged.
    #[inline(always)]
    pub fn changed_at(&self, p: usize) -> Option<usize> {
        let reads = &self.reads[..self.ends[p] as usize];
        // SAFETY: the reads of frames out from one whose stack pointer is unchanged (the
        // caller's guarantee), in the live stack as `differs` requires.
        let any = reads.iter().fold(0, |acc, &r| acc | unsafe { differs(r) });
        if any == 0 {
            return None;
        }
        // SAFETY: as above.
        let r = reads.iter().rposition(|&r| unsafe { differs(r) } != 0)?;
        Some(self.ends[..=p].partition_point(|&end| end as usize <= r))
    }

    /// Appends frame `f` as the log's frame `q`, after frames `0..q`.
    #[inline(always)]
    fn put(&mut self, q: usize, f: &Frame) {
        // Whether the walk from frame `q - 1`, the caller, out depends on its bp.
        let caller_depends = q > 0 && self.frames[q - 1].flags & DEPENDS_ON_BP != 0;
        let start = q.checked_sub(1).map_or(0, |o| self.ends[o] as usize);
        // Both words, whether read or not: a copy of fixed size is a few moves, not a call
        // to memcpy. Frames `0..q` read at most 2q words, so they fit.
        if let Some(to) = self.reads.get_mut(start..start + 2) {
            to.copy_from_slice(&f.reads);
        }
        // The saved bp it read becomes the caller's bp, which matters only if the walk from
        // the caller out depends on it. Code built without frame pointers keeps anything in
        // rbp (a loop counter, a pointer), and comparing that word would make a walk look
        // changed whenever such a value did.
        let nreads = if caller_depends {
            f.nreads
        } else {
            f.nreads.min(1)
        };
        self.ends[q] = (start + nreads as usize) as u16;
        let depends = f.depends_on_bp(caller_depends);
        self.frames[q] = *f;
        if depends {
            self.frames[q].flags |= DEPENDS_ON_BP;
        }
    }

    /// Keeps frames `0..=p` and puts the head's frames `0..n` (innermost first) under them:
    /// the head's frame `n` was found equal to frame `p`. False, with the log cleared, when
    /// the result is too deep to log.
    #[inline(always)]
    pub fn adopt(&mut self, p: usize, head: &Head, n: usize) -> bool {
        let total = p + 1 + n;
        if total > FRAMES {
            self.clear();
            return false;
        }
        // Frames under the same return addresses as before keep their ids.
        let mut named = self.named.min(p + 1);
        for (q, f) in (p + 1..total).zip(head.frames[..n].iter().rev()) {
            if named == q && q < self.named && self.frames[q].ip == f.ip {
                named = q + 1;
            }
            self.put(q, f);
        }
        self.len = total;
        self.named = named;
        true
    }

    /// Makes the head's frames `0..=last`, a whole walk, the log. False, with the log
    /// cleared, when the walk is too deep to log.
    pub fn replace(&mut self, head: &Head, last: usize) -> bool {
        self.clear();
        if last >= FRAMES {
            return false;
        }
        for (q, f) in head.frames[..=last].iter().rev().enumerate() {
            self.put(q, f);
        }
        self.len = last + 1;
        true
    }

    /// The id of the whole logged stack, naming the frames not named yet with `name(parent,
    /// ip)` (parent 0 for the outermost frame). `None` if `name` gives 0 (no memory).
    pub fn name(&mut self, name: &mut impl FnMut(u64, u64) -> u64) -> Option<u64> {
        let last = self.len.checked_sub(1)?;
        for q in self.named..self.len {
            let parent = if q == 0 { 0 } else { self.ids[q - 1] };
            let id = name(parent, self.frames[q].ip);
            if id == 0 {
                return None;
            }
            self.ids[q] = id;
            self.named = q + 1;
        }
        Some(self.ids[last])
    }

    /// Writes the return addresses of frames `p` down to 0 into `out` from `at` on (as many as
    /// fit).
    pub fn fill(&self, out: &mut [u64], at: usize, p: usize) {
        for (slot, f) in out.iter_mut().skip(at).zip(self.frames[..=p].iter().rev()) {
            *slot = f.ip;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSP: Rule = Rule {
        kind: Kind::Rsp,
        cfa_off: 16,
        ra_off: -8,
        rbp_off8: 0,
    };
    /// A frame that finds its CFA from bp.
    const BP_CFA: Rule = Rule {
        kind: Kind::Rbp,
        ..RSP
    };
    /// A frame that saved its caller's bp.
    const SAVES_BP: Rule = Rule {
        rbp_off8: -2,
        ..RSP
    };

    /// A stand-in stack: frame `i` of a walk sits at word `4 * i`, its return address at the
    /// word after.
    struct Stack(Vec<u64>);

    impl Stack {
        fn new() -> Stack {
            Stack((0..64).map(|i| 0x1000 + i).collect())
        }

        fn at(&self, word: usize) -> u64 {
            &self.0[word] as *const u64 as u64
        }

        /// Frame `i` (by stack position) with code at `ip`, unwound with `rule`.
        fn frame(&self, i: usize, ip: u64, bp: u64, rule: Rule) -> Frame {
            let mut f = Frame::EMPTY;
            f.begin(ip, self.at(4 * i), bp);
            f.rule(rule);
            f.read(0, self.at(4 * i + 1), self.0[4 * i + 1]);
            if rule.rbp_off8 != 0 {
                f.read(1, self.at(4 * i + 2), self.0[4 * i + 2]);
            }
            f
        }
    }

    /// A head holding `frames`, innermost first.
    fn head(frames: &[Frame]) -> Box<Head> {
        let mut h = Head::new();
        h.frames[..frames.len()].copy_from_slice(frames);
        h
    }

    /// Looks each of `frames` up in `log` as a walk would, innermost first: the index of the
    /// first one found unchanged, and the log frame it matched.
    fn walk(log: &Log, frames: &[Frame]) -> Option<(usize, usize)> {
        let mut cursor = log.len();
        for (n, f) in frames.iter().enumerate() {
            if let Some(p) = log.find(&mut cursor, f) {
                match log.changed_at(p) {
                    None => return Some((n, p)),
                    Some(q) => cursor = q,
                }
            }
        }
        None
    }

    fn names(log: &mut Log) -> (Option<u64>, Vec<(u64, u64)>) {
        let mut calls = Vec::new();
        let id = log.name(&mut |parent, ip| {
            calls.push((parent, ip));
            parent * 100 + ip
        });
        (id, calls)
    }

    #[test]
    fn a_walk_reuses_the_logged_frames_out_from_the_first_unchanged_one() {
        let s = Stack::new();
        let old: Vec<Frame> = (0..5).map(|i| s.frame(i, 10 + i as u64, 0, RSP)).collect();
        let mut log = Log::new();
        assert!(log.replace(&head(&old), 4));
        let (id, calls) = names(&mut log);
        // Named from the outermost frame in.
        assert_eq!(calls[0], (0, 14));
        assert_eq!(calls.len(), 5);
        assert_eq!(
            id,
            Some(((((14 * 100 + 13) * 100 + 12) * 100 + 11) * 100) + 10)
        );

        // Another call from frame 1: a new innermost frame, the rest unchanged.
        let new = [s.frame(0, 20, 0, RSP), s.frame(1, 11, 0, RSP)];
        assert_eq!(walk(&log, &new), Some((1, 3)));
        assert!(log.adopt(3, &head(&new), 1));
        assert_eq!(log.len(), 5);
        let (id, calls) = names(&mut log);
        assert_eq!(calls, [((((14 * 100 + 13) * 100 + 12) * 100 + 11), 20)]);
        assert_eq!(id, Some(calls[0].0 * 100 + 20));

        // The same call again: all of it is shared, and there is nothing to name.
        assert_eq!(walk(&log, &new), Some((0, 4)));
        assert!(log.adopt(4, &head(&new), 0));
        assert_eq!(names(&mut log).1, []);
        // Back to the first call: only its innermost frame is named again.
        assert_eq!(walk(&log, &old), Some((1, 3)));
        assert!(log.adopt(3, &head(&old), 1));
        assert_eq!(names(&mut log).1.len(), 1);

        let mut out = [0; 8];
        log.fill(&mut out, 1, 3);
        assert_eq!(out[..5], [0, 11, 12, 13, 14]);
    }

    #[test]
    fn a_changed_word_sends_the_walk_out_past_the_frame_that_read_it() {
        let mut s = Stack::new();
        let old: Vec<Frame> = (0..6).map(|i| s.frame(i, 10 + i as u64, 0, RSP)).collect();
        let mut log = Log::new();
        assert!(log.replace(&head(&old), 5));
        // The return address frame 2 read (its caller's) changed: frames 0..=2 are the same,
        // frame 3 comes back from elsewhere, and frames 4 and 5 are the same again.
        s.0[4 * 2 + 1] += 1;
        assert_eq!(log.changed_at(5 - 1), Some(3));
        let new: Vec<Frame> = (0..6)
            .map(|i| s.frame(i, if i == 3 { 99 } else { 10 + i as u64 }, 0, RSP))
            .collect();
        // Frame 1 matches but frame 2's read changed; frame 3 is new; frame 4 is shared.
        assert_eq!(walk(&log, &new), Some((4, 1)));
        assert!(log.adopt(1, &head(&new), 4));
        assert_eq!(log.changed_at(5), None);
        let mut out = [0; 6];
        log.fill(&mut out, 0, 5);
        assert_eq!(out, [10, 11, 12, 99, 14, 15]);
    }

    #[test]
    fn bp_is_compared_only_where_the_walk_out_uses_it() {
        let s = Stack::new();
        // Outermost first: frame 4 finds its CFA from bp, frames 3 and 2 pass bp through,
        // frame 1 restores its caller's bp from the stack, frame 0 passes it through.
        let rules = [RSP, SAVES_BP, RSP, RSP, BP_CFA];
        let old: Vec<Frame> = (0..5)
            .map(|i| s.frame(i, 10 + i as u64, 7, rules[i]))
            .collect();
        let mut log = Log::new();
        assert!(log.replace(&head(&old), 4));
        let with_bp = |i: usize, bp| s.frame(i, 10 + i as u64, bp, rules[i]);
        // Frames 0 and 1 do not depend on their bp: a new value there still matches.
        assert_eq!(walk(&log, &[with_bp(0, 8)]), Some((0, 4)));
        assert_eq!(
            walk(&log, &[s.frame(0, 20, 8, RSP), with_bp(1, 8)]),
            Some((1, 3))
        );
        // Frames 2..4 do: a new bp there does not match.
        for i in 2..5 {
            let mut log2 = Log::new();
            assert!(log2.replace(&head(&old[i..]), 4 - i));
            assert_eq!(walk(&log2, &[with_bp(i, 8)]), None, "frame {i}");
            assert_eq!(walk(&log2, &[with_bp(i, 7)]), Some((0, 4 - i)), "frame {i}");
        }
    }

    #[test]
    fn a_saved_bp_is_compared_only_where_the_walk_out_uses_it() {
        let mut s = Stack::new();
        // Innermost first: frame 1 saved its caller's bp; nothing out from frame 2 uses bp.
        let rules = [RSP, SAVES_BP, RSP, RSP];
        let frames: Vec<Frame> = (0..4)
            .map(|i| s.frame(i, 10 + i as u64, 7, rules[i]))
            .collect();
        let mut log = Log::new();
        assert!(log.replace(&head(&frames), 3));
        s.0[4 + 2] ^= 0xff;
        assert_eq!(log.changed_at(3), None);
        // Once frame 3 finds its CFA from bp, the saved bp it gets from frame 1 counts.
        let rules = [RSP, SAVES_BP, RSP, BP_CFA];
        let frames: Vec<Frame> = (0..4)
            .map(|i| s.frame(i, 10 + i as u64, 7, rules[i]))
            .collect();
        assert!(log.replace(&head(&frames), 3));
        assert_eq!(log.changed_at(3), None);
        s.0[4 + 2] ^= 0xff;
        assert_eq!(log.changed_at(3), Some(2));
    }

    #[test]
    fn walks_too_deep_to_log_are_not_kept() {
        let s = Stack::new();
        let mut log = Log::new();
        let h = head(&[s.frame(0, 10, 0, RSP)]);
        assert!(!log.replace(&h, FRAMES));
        assert_eq!(log.len(), 0);
        assert!(log.replace(&h, 0));
        assert!(!log.adopt(0, &h, FRAMES));
        assert_eq!(log.len(), 0);
        assert_eq!(names(&mut log).0, None);
    }

    #[test]
    fn forgotten_ids_are_given_again() {
        let s = Stack::new();
        let old: Vec<Frame> = (0..3).map(|i| s.frame(i, 10 + i as u64, 0, RSP)).collect();
        let mut log = Log::new();
        assert!(log.replace(&head(&old), 2));
        assert_eq!(names(&mut log).1.len(), 3);
        assert_eq!(names(&mut log).1.len(), 0);
        log.forget_ids();
        assert_eq!(names(&mut log).1.len(), 3);
    }
}
