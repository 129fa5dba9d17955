//! Whole walks remembered, so that a stack seen a moment ago is recognised without unwinding
//! or naming any of its frames.
//!
//! The log ([`super::walk`]) reuses the frames a walk shares with the one just before it. A
//! program that alternates between a few call paths (an interpreter allocating a string, then
//! a list, then a dict entry, over and over) still unwinds and names the frames that differ
//! at every allocation. These few stacks are kept here with what decided them: the registers
//! of their first frame and every stack word the walk read, with the stack's id. When a new
//! walk starts from the same registers and each of those words still holds the same value,
//! the walk would read the same words and reach the same frames: the id is the answer.

use alloc::boxed::Box;

use super::walk::Frame;

/// Walks remembered in each set.
const WALKS: usize = 16;
/// Words a remembered walk may have read (16 frames or more); deeper walks are left to the
/// log, which serves them well when they repeat one after the other, and would take more
/// cache than they save.
const MAX_READS: usize = 32;

#[derive(Clone, Copy)]
struct Walk {
    ip: u64,
    sp: u64,
    bp: u64,
    /// The walk depends on the first frame's bp.
    uses_bp: bool,
    nreads: u16,
    /// The stack's id.
    id: u64,
    /// (address, value) of the words read, outermost frame first.
    reads: [(u64, u64); MAX_READS],
}

/// Sets of remembered walks: a walk belongs to one by its first frame's registers, so that a
/// call site reached by many paths (the same function under different callers) keeps up to
/// [`WALKS`] of them without pushing out the walks of the sites in other sets, and a lookup
/// looks through one set only. (Callgrind, against one set: CPython 200 k entries 1,669 M
/// instructions, now 1,607 M; W1 200 k rounds 3,245 M, now 2,892 M; 2 sets gave 1,628 M and
/// 3,122 M, 4 sets 1,627 M and 2,892 M.)
const SETS: usize = 8;

/// A thread's remembered walks.
pub struct Walks {
    sets: [Set; SETS],
}

impl Walks {
    pub fn new() -> Walks {
        Walks {
            sets: core::array::from_fn(|_| Set::new()),
        }
    }

    /// Forgets every walk (cached rules or stack ids were dropped).
    pub fn clear(&mut self) {
        self.sets.iter_mut().for_each(Set::clear);
    }

    /// See [`Set::find`].
    #[inline(always)]
    pub fn find(&mut self, ip: u64, sp: u64, bp: u64) -> Option<u64> {
        self.sets[set_of(ip, sp)].find(ip, sp, bp)
    }

    /// See [`Set::remember`].
    pub fn remember(&mut self, first: &Frame, uses_bp: bool, reads: &[(u64, u64)], id: u64) {
        self.sets[set_of(first.ip, first.sp)].remember(first, uses_bp, reads, id);
    }
}

/// The set of walks whose first frame has the registers (ip, sp).
#[inline(always)]
fn set_of(ip: u64, sp: u64) -> usize {
    ((ip ^ sp.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) as usize
}

/// Remembered walks, most recently used first.
struct Set {
    /// On the heap: about 9 KiB, which a thread's first allocation must not put on its stack,
    /// and whose pages become resident as they are used.
    walks: Box<[Walk; WALKS]>,
    /// Indexes of `walks` in 4-bit digits, most recently used in the lowest; the first `len`
    /// are in use. One word, so that moving a walk to the front is a few shifts.
    order: u64,
    len: usize,
}

impl Set {
    fn new() -> Set {
        Set {
            // SAFETY: all zeroes is a walk of no reads, and none is in use (`len` is 0).
            walks: unsafe { crate::sys::zeroed_box() },
            order: 0,
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.order = 0;
    }

    /// The id of a remembered stack whose first frame has the registers (ip, sp, bp) and whose
    /// words are unchanged.
    ///
    /// `sp` must be the stack pointer of the calling thread's current first program frame:
    /// every word a walk from a frame with that stack pointer read lies between it and the
    /// top of the thread's stack, which is mapped.
    #[inline(always)]
    fn find(&mut self, ip: u64, sp: u64, bp: u64) -> Option<u64> {
        for k in 0..self.len {
            let w = &self.walks[self.slot(k)];
            if w.ip != ip || w.sp != sp || (w.uses_bp && w.bp != bp) {
                continue;
            }
            // The innermost frames' words first: they are the ones that change.
            let reads = &w.reads[..w.nreads as usize];
            let unchanged = |&(addr, value): &(u64, u64)| {
                // SAFETY: the word was read by a walk from a frame with this stack pointer on
                // this thread's stack (see above).
                unsafe { read(addr) == value }
            };
            if reads.iter().rev().all(unchanged) {
                let id = w.id;
                self.make_recent(k);
                return Some(id);
            }
        }
        None
    }

    /// The index in `walks` of the `k`th most recently used walk.
    #[inline(always)]
    fn slot(&self, k: usize) -> usize {
        (self.order >> (4 * k)) as usize & (WALKS - 1)
    }

    /// Makes the `k`th most recently used walk the most recent.
    #[inline(always)]
    fn make_recent(&mut self, k: usize) {
        let shift = 4 * k as u32;
        let below = self.order & ((1u64 << shift) - 1);
        let above = self
            .order
            .checked_shl(shift + 4)
            .map_or(0, |_| self.order & (u64::MAX << (shift + 4)));
        self.order = above | (below << 4) | self.slot(k) as u64;
    }

    /// Remembers the walk whose first frame is `first` (with the flag telling whether the walk
    /// depends on its bp), which read `reads` and named the stack `id`, in place of the least
    /// recently used one.
    fn remember(&mut self, first: &Frame, uses_bp: bool, reads: &[(u64, u64)], id: u64) {
        if reads.len() > MAX_READS {
            return;
        }
        if self.len < WALKS {
            self.order |= (self.len as u64) << (4 * self.len);
            self.len += 1;
        }
        // The new walk takes the place of the least recently used one.
        self.make_recent(self.len - 1);
        let w = &mut self.walks[self.slot(0)];
        w.ip = first.ip;
        w.sp = first.sp;
        w.bp = first.bp;
        w.uses_bp = uses_bp;
        w.nreads = reads.len() as u16;
        w.id = id;
        w.reads[..reads.len()].copy_from_slice(reads);
    }
}

/// The stack word at `addr`.
///
/// # Safety
/// `addr` must lie in mapped memory.
#[inline(always)]
unsafe fn read(addr: u64) -> u64 {
    // SAFETY: guaranteed by the caller; x86_64 reads unaligned words.
    unsafe { core::ptr::read_unaligned(addr as *const u64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ip: u64, sp: u64, bp: u64) -> Frame {
        let mut f = Frame::EMPTY;
        f.begin(ip, sp, bp);
        f
    }

    #[test]
    fn a_walk_is_found_while_its_words_hold() {
        let words = [1u64, 2, 3];
        let at = |i: usize| &words[i] as *const u64 as u64;
        let reads: Vec<(u64, u64)> = (0..3).map(|i| (at(i), words[i])).collect();
        let mut w = Set::new();
        assert_eq!(w.find(10, 20, 30), None);
        w.remember(&frame(10, 20, 30), false, &reads, 7);
        assert_eq!(w.find(10, 20, 30), Some(7));
        // bp is compared only when the walk depends on it.
        assert_eq!(w.find(10, 20, 31), Some(7));
        assert_eq!(w.find(11, 20, 30), None);
        w.remember(&frame(10, 20, 30), true, &reads[..2], 8);
        assert_eq!(w.find(10, 20, 30), Some(8));
        assert_eq!(w.find(10, 20, 31), Some(7));
        // A word that changed hides the walks that read it.
        let mut changed = reads.clone();
        changed[1].1 = 5;
        let mut w = Set::new();
        w.remember(&frame(10, 20, 30), false, &changed, 9);
        assert_eq!(w.find(10, 20, 30), None);
        w.clear();
        w.remember(&frame(10, 20, 30), false, &reads, 7);
        w.clear();
        assert_eq!(w.find(10, 20, 30), None);
    }

    #[test]
    fn the_sets_keep_their_walks_apart() {
        let word = 42u64;
        let reads = [(&word as *const u64 as u64, word)];
        // Twice as many walks as one set holds, all from one set but one: only those make
        // room for each other.
        let lone = (0..).find(|&ip| set_of(ip, 1) == 1).unwrap();
        let many: Vec<u64> = (1000..)
            .filter(|&ip| set_of(ip, 1) == 0)
            .take(2 * WALKS)
            .collect();
        let mut w = Walks::new();
        w.remember(&frame(lone, 1, 0), false, &reads, 1);
        for (i, &ip) in many.iter().enumerate() {
            w.remember(&frame(ip, 1, 0), false, &reads, 10 + i as u64);
        }
        assert_eq!(w.find(lone, 1, 0), Some(1));
        assert_eq!(w.find(many[0], 1, 0), None);
        assert_eq!(
            w.find(many[2 * WALKS - 1], 1, 0),
            Some(10 + 2 * WALKS as u64 - 1)
        );
        w.clear();
        assert_eq!(w.find(lone, 1, 0), None);
    }

    #[test]
    fn the_least_recently_used_walk_makes_room() {
        let word = 42u64;
        let reads = [(&word as *const u64 as u64, word)];
        let mut w = Set::new();
        for i in 0..WALKS as u64 {
            w.remember(&frame(100 + i, 1, 0), false, &reads, i + 1);
        }
        for i in 0..WALKS as u64 {
            assert_eq!(w.find(100 + i, 1, 0), Some(i + 1));
        }
        // Use the first one again, so that the second is the least recent.
        assert_eq!(w.find(100, 1, 0), Some(1));
        w.remember(&frame(500, 1, 0), false, &reads, 99);
        assert_eq!(w.find(101, 1, 0), None);
        for i in (0..WALKS as u64).filter(|&i| i != 1) {
            assert_eq!(w.find(100 + i, 1, 0), Some(i + 1), "{i}");
        }
        assert_eq!(w.find(500, 1, 0), Some(99));
        // Walks too deep to keep are not.
        let many = vec![reads[0]; MAX_READS + 1];
        w.remember(&frame(600, 1, 0), false, &many, 5);
        assert_eq!(w.find(600, 1, 0), None);
    }
}
