//! The per-thread writer: appends encoded records to the thread's current chunk of the shared
//! capture mapping, and claims a new chunk when the current one is full.
//!
//! A record is committed by the release store of the chunk's `used` length, so a reader (or a
//! capture left behind by a killed process) sees whole records only.

use core::sync::atomic::{AtomicU32, Ordering};

use memprof_format::{chunk, encode, encoded_len_bound, header, ChunkState, Record};
use memprof_format::{CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE};

use crate::{global, sys};

/// One thread's output stream.
pub struct Writer {
    tid: u32,
    chunk: *mut u8,
    pos: usize,
    seq: u32,
    state: ChunkState,
}

impl Writer {
    pub const fn new(tid: u32) -> Writer {
        Writer {
            tid,
            chunk: core::ptr::null_mut(),
            pos: 0,
            seq: 0,
            state: ChunkState { time: 0, addr: 0 },
        }
    }

    /// Appends `rec`. A record that cannot be written (the disk is full, the mapping failed)
    /// is dropped; the program itself is never disturbed.
    #[inline(always)]
    pub fn write(&mut self, rec: &Record) {
        let need = encoded_len_bound(rec);
        if self.chunk.is_null() || self.pos + need > CHUNK_SIZE {
            self.next_chunk();
            if self.chunk.is_null() {
                return;
            }
        }
        // SAFETY: `chunk` is a live CHUNK_SIZE mapping owned by this thread alone and
        // `pos + need <= CHUNK_SIZE` (checked above), so the slice is in bounds and unaliased.
        let buf = unsafe {
            core::slice::from_raw_parts_mut(self.chunk.add(self.pos), CHUNK_SIZE - self.pos)
        };
        self.pos += encode(buf, &mut self.state, rec);
        self.used()
            .store((self.pos - CHUNK_HEADER_SIZE) as u32, Ordering::Release);
    }

    fn used(&self) -> &AtomicU32 {
        // SAFETY: `chunk` is a live, page-aligned mapping, so the u32 at USED is aligned and in
        // bounds; the reader side only reads it.
        unsafe { &*(self.chunk.add(chunk::USED) as *const AtomicU32) }
    }

    /// Leaves the current chunk (thread exit, or a forked child that must not touch its
    /// parent's file).
    pub fn release(&mut self) {
        if !self.chunk.is_null() {
            // SAFETY: the mapping is ours and no slice into it outlives `write`.
            unsafe { sys::unmap(self.chunk, CHUNK_SIZE) };
        }
        self.chunk = core::ptr::null_mut();
    }

    /// Forgets the current chunk without unmapping it (a forked child's copy of a mapping that
    /// belongs to the parent's capture).
    pub fn forget(&mut self, tid: u32) {
        *self = Writer::new(tid);
    }

    fn next_chunk(&mut self) {
        self.release();
        let Some(chunks) = global::header_u64(header::CHUNKS) else {
            return;
        };
        let Some(fd) = crate::capture_file::descriptor() else {
            // The program removed the capture file: what follows is lost, and said to be.
            global::set_flags(header::flags::RECORDS_LOST);
            return;
        };
        let index = chunks.fetch_add(1, Ordering::AcqRel);
        let off = HEADER_SIZE as u64 + index * CHUNK_SIZE as u64;
        // A thread's first chunk stays sparse, so that short threads cost the disk only what
        // they write; later chunks are written with zeros and mapped ready to write, which
        // spares a busy thread a page fault (and read-ahead) every 4 KiB. Both grow the file
        // without ever shrinking it under a thread that claimed a later chunk.
        let busy = self.seq > 0;
        let grown = if busy {
            sys::zero_fill(fd, off, CHUNK_SIZE / 4096)
        } else {
            sys::pwrite_all(fd, &[0], off + CHUNK_SIZE as u64 - 1)
        };
        if !grown {
            return;
        }
        let p = sys::map_shared(fd, off, CHUNK_SIZE, busy);
        if p.is_null() {
            return;
        }
        self.chunk = p;
        self.pos = CHUNK_HEADER_SIZE;
        // Deltas continue from the thread's last time, which no later record precedes.
        let base = self.state.time;
        self.state = ChunkState::new(base);
        let put32 = |off: usize, v: u32| {
            // SAFETY: `off` is one of the chunk header's 4-aligned fields inside the mapping.
            if let Some(a) = unsafe { (p.add(off) as *const AtomicU32).as_ref() } {
                a.store(v, Ordering::Release);
            }
        };
        put32(chunk::TID, self.tid);
        put32(chunk::SEQ, self.seq);
        put32(chunk::PID, global::PID.load(Ordering::Relaxed));
        put32(chunk::BASE_TIME, base as u32);
        put32(chunk::BASE_TIME + 4, (base >> 32) as u32);
        put32(chunk::MAGIC, CHUNK_MAGIC);
        self.seq += 1;
        if index % 16 == 0 {
            global::stamp_end_clock();
        }
    }
}
