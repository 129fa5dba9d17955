//! Calls made before the constructor ran (by the loader, or by libraries initialised before
//! this one) are remembered here, without stacks, and written once the capture is open, so
//! that later frees of those blocks match and the counts stay exact.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use memprof_format::{AllocKind, Record, StackRef};

use crate::{sys, writer::Writer};

const CAPACITY: usize = 1024;

const OP_ALLOC: u64 = 1;
const OP_FREE: u64 = 2;
const OP_REALLOC: u64 = 3;

/// One remembered call: `op | kind << 8`, time, size, address, new address.
struct Entry([AtomicU64; 5]);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry([const { AtomicU64::new(0) }; 5]);
static ENTRIES: [Entry; CAPACITY] = [EMPTY; CAPACITY];
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Calls that did not fit.
static LOST: AtomicU64 = AtomicU64::new(0);

fn push(op: u64, size: u64, addr: u64, new: u64) {
    let i = COUNT.fetch_add(1, Ordering::AcqRel);
    let Some(e) = ENTRIES.get(i) else {
        LOST.fetch_add(1, Ordering::Relaxed);
        return;
    };
    e.0[1].store(sys::now(), Ordering::Relaxed);
    e.0[2].store(size, Ordering::Relaxed);
    e.0[3].store(addr, Ordering::Relaxed);
    e.0[4].store(new, Ordering::Relaxed);
    e.0[0].store(op, Ordering::Release);
}

pub fn alloc(kind: AllocKind, size: u64, addr: u64) {
    push(OP_ALLOC | (kind as u64) << 8, size, addr, 0);
}

pub fn free(addr: u64) {
    push(OP_FREE, 0, addr, 0);
}

pub fn realloc(old: u64, size: u64, new: u64) {
    push(OP_REALLOC, size, old, new);
}

/// Writes the remembered calls as records without a stack.
pub fn flush(writer: &mut Writer) {
    let n = COUNT.load(Ordering::Acquire).min(CAPACITY);
    let stack = StackRef::default();
    for e in &ENTRIES[..n] {
        let word = e.0[0].load(Ordering::Acquire);
        let [_, time, size, addr, new] = e.0.each_ref().map(|a| a.load(Ordering::Relaxed));
        let kind = AllocKind::ALL[((word >> 8) & 7) as usize];
        let rec = match word & 0xff {
            OP_ALLOC if addr == 0 => Record::Failed {
                time,
                kind,
                stack,
                size,
            },
            OP_ALLOC => Record::Alloc {
                time,
                kind,
                stack,
                size,
                addr,
            },
            OP_FREE => Record::Free { time, addr },
            OP_REALLOC if new != 0 => Record::Realloc {
                time,
                done: time,
                stack,
                size,
                old: addr,
                new,
            },
            OP_REALLOC if size == 0 => Record::ReallocFree {
                time,
                stack,
                old: addr,
            },
            OP_REALLOC => Record::Failed {
                time,
                kind: AllocKind::Realloc,
                stack,
                size,
            },
            _ => continue,
        };
        writer.write(&rec);
    }
    if LOST.load(Ordering::Relaxed) != 0 {
        sys::warn(b"more than 1024 allocations before start-up: some were not recorded");
    }
}
