//! The previous walk of a thread's stack, kept so that the next one can stop early.
//!
//! A walk from frame k up is a pure function of frame k's registers (ip, sp, bp) and of the
//! stack words it reads. So when a new walk reaches a frame whose registers equal those of
//! frame k last time, and every word the last walk read from frame k up still holds the same
//! value, the rest of the stack is the same as last time and is copied instead of unwound.
//! The check is a run of independent loads and compares, much cheaper than unwinding: loops
//! that allocate under a deep, unchanging call chain pay for the changed frames only.

use alloc::boxed::Box;

/// Frames and stack reads a walk can log; deeper walks are not reused.
pub const FRAMES: usize = 256;
const READS: usize = 2 * FRAMES;

/// One logged walk of the program's frames (the profiler's own frames are not part of it).
pub struct Walk {
    /// Registers (ip, sp, bp) of each frame.
    states: [(u64, u64, u64); FRAMES],
    /// Each frame's ip (its return address) again, contiguous for copying out.
    rets: [u64; FRAMES],
    /// Index in `reads` of the first word read while unwinding from each frame.
    starts: [u32; FRAMES],
    /// Every stack word read, as (address, value).
    reads: [(u64, u64); READS],
    frames: usize,
    nreads: usize,
    /// The walk reached the end of the stack with everything logged.
    complete: bool,
}

impl Walk {
    pub fn new() -> Box<Walk> {
        Box::new(Walk {
            states: [(0, 0, 0); FRAMES],
            rets: [0; FRAMES],
            starts: [0; FRAMES],
            reads: [(0, 0); READS],
            frames: 0,
            nreads: 0,
            complete: false,
        })
    }

    pub fn begin(&mut self) {
        self.frames = 0;
        self.nreads = 0;
        self.complete = false;
    }

    /// Logs frame `k`'s registers, before unwinding from it. False once the log is full.
    #[inline(always)]
    pub fn frame(&mut self, k: usize, state: (u64, u64, u64)) -> bool {
        let (Some(s), Some(r), Some(start)) = (
            self.states.get_mut(k),
            self.rets.get_mut(k),
            self.starts.get_mut(k),
        ) else {
            return false;
        };
        *s = state;
        *r = state.0;
        *start = self.nreads as u32;
        self.frames = k + 1;
        true
    }

    /// Logs a stack word read while unwinding.
    #[inline(always)]
    pub fn read(&mut self, addr: u64, value: u64) {
        if let Some(r) = self.reads.get_mut(self.nreads) {
            *r = (addr, value);
        }
        self.nreads += 1;
    }

    /// Marks the walk as having reached the end of the stack.
    pub fn finish(&mut self) {
        self.complete = self.nreads <= READS;
    }

    /// The frame of this walk that had registers `state` (frames are ordered by stack
    /// pointer, so the search is a bisection: a frame may sit at another depth than last
    /// time when the frames below it changed).
    #[inline(always)]
    pub fn find(&self, n: usize, state: (u64, u64, u64)) -> Option<usize> {
        if !self.complete {
            return None;
        }
        let states = &self.states[..self.frames];
        // In a loop the frame is usually at the same depth as last time; and a walk has one
        // frame per stack pointer, so the same stack pointer there settles it.
        if let Some(s) = states.get(n) {
            if s.1 == state.1 {
                return (*s == state).then_some(n);
            }
        }
        if states.first().is_none_or(|s| state.1 < s.1) {
            return None;
        }
        let k = states.partition_point(|s| s.1 < state.1);
        (states.get(k) == Some(&state)).then_some(k)
    }

    /// True when every word this walk read from frame `k` up still holds its value: the
    /// stack from frame `k` up is unchanged.
    #[inline(always)]
    pub fn unchanged_from(&self, k: usize) -> bool {
        let start = self.starts[k] as usize;
        self.reads[start..self.nreads].iter().all(|&(addr, value)| {
            // SAFETY: the words were read by the last walk from frame k up, so they lie between
            // frame k's stack pointer and the top of the stack; frame k has the same stack
            // pointer now, so they are inside the live stack, mapped and readable.
            unsafe { core::ptr::read_unaligned(addr as *const u64) == value }
        })
    }

    /// Makes this walk, whose frame `n` and the stack above it are unchanged in `cur`, the
    /// log of `cur` by copying `cur`'s frames below `n` over its own, when both have the same
    /// frames and reads below (the usual case in a loop: only the innermost frames change);
    /// writes the return addresses from `n` up into `out`. `None` when the shapes differ.
    #[inline(always)]
    pub fn adopt_head(&mut self, cur: &Walk, n: usize, out: &mut [u64]) -> Option<usize> {
        let head_reads = cur.starts[n] as usize;
        if self.starts[n] as usize != head_reads {
            return None;
        }
        self.states[..n].copy_from_slice(&cur.states[..n]);
        self.rets[..n].copy_from_slice(&cur.rets[..n]);
        self.reads[..head_reads].copy_from_slice(&cur.reads[..head_reads]);
        self.starts[..n].copy_from_slice(&cur.starts[..n]);
        let end = self.frames.min(out.len());
        if n < end {
            out[n..end].copy_from_slice(&self.rets[n..end]);
        }
        Some(self.frames)
    }

    /// Completes this walk, which reached its frame `n`, with frames `k..` of `prev` (its
    /// frame `k` is this walk's frame `n`, and the stack above is unchanged), writing their
    /// return addresses into `out` from `n`. Returns the number of frames of the stack.
    pub fn splice(&mut self, n: usize, prev: &Walk, k: usize, out: &mut [u64]) -> usize {
        let tail = &prev.states[k..prev.frames];
        let total = n + tail.len();
        let end = total.min(out.len());
        if n < end {
            out[n..end].copy_from_slice(&prev.rets[k..k + (end - n)]);
        }
        let base = self.starts[n] as usize;
        let from = prev.starts[k] as usize;
        let reads = prev.nreads - from;
        if total > FRAMES || base + reads > READS {
            // Too deep to log: right now, not reusable next time.
            self.complete = false;
            return total;
        }
        self.states[n..total].copy_from_slice(tail);
        self.rets[n..total].copy_from_slice(&prev.rets[k..prev.frames]);
        self.reads[base..base + reads].copy_from_slice(&prev.reads[from..prev.nreads]);
        for (i, j) in (n..total).zip(k..) {
            self.starts[i] = (prev.starts[j] as usize - from + base) as u32;
        }
        self.nreads = base + reads;
        self.frames = total;
        self.complete = true;
        total
    }
}
