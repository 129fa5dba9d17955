//! The stack stash: every unique stack is written to the capture once, as a path in a trie of
//! `(parent node, return address)` pairs, and records refer to its innermost node.
//!
//! Two levels keep the allocation path fast and lock-free:
//! - per-thread, direct-mapped caches: from a trie node and a return address to the child
//!   node (the unwinder names the frames of a stack that are new since the last one with
//!   it), and from a hash of a whole stack to its node (for stacks walked in full);
//! - on a miss, a process-wide insert-only hash table of trie nodes, probed and filled with
//!   atomics. When a table is 3/4 full, a table twice its size is made with every node of the
//!   full one, and lookups and inserts go to it: one table is searched, however many nodes
//!   there are. A node inserted into the full table while it was copied is missing from the
//!   new one; like two threads racing to insert the same node, that only costs a duplicate
//!   node, never a wrong stack.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use memprof_format::StackRef;

use crate::sys;

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const READY: u32 = 2;

#[repr(C)]
struct Slot {
    tag: AtomicU32,
    parent: AtomicU64,
    ip: AtomicU64,
    id: AtomicU64,
}

#[repr(C)]
struct Table {
    cap: usize,
    len: AtomicUsize,
    next: AtomicPtr<Table>,
}

const FIRST_CAP: usize = 1 << 12;

static FIRST: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());
/// The table searched and filled: the newest, which holds the nodes of all the others.
static CURRENT: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());
/// Node ids start at 1; 0 is the empty stack.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Table {
    fn bytes(cap: usize) -> usize {
        core::mem::size_of::<Table>().next_multiple_of(64) + cap * core::mem::size_of::<Slot>()
    }

    /// Makes the zeroed, unpublished mapping `p` an empty table of `cap` slots.
    fn init(p: *mut Table, cap: usize) {
        // SAFETY: `p` is a fresh zeroed mapping, large enough and aligned for a `Table`, that
        // no other thread can see yet.
        unsafe { (*p).cap = cap };
    }

    fn slot(&self, i: usize) -> &Slot {
        let base = self as *const Table as *const u8;
        // SAFETY: the slots follow the 64-byte-rounded table header inside the same mapping,
        // `i & (cap - 1)` is below `cap`, and zeroed memory is a valid `Slot` (EMPTY).
        unsafe {
            &*(base.add(core::mem::size_of::<Table>().next_multiple_of(64)) as *const Slot)
                .add(i & (self.cap - 1))
        }
    }

    /// Finds `(parent, ip)`; `Err(i)` gives the first empty slot of the probe sequence.
    fn find(&self, h: usize, parent: u64, ip: u64) -> Result<u64, usize> {
        for step in 0..self.cap {
            let i = h.wrapping_add(step);
            let s = self.slot(i);
            match wait_ready(&s.tag) {
                EMPTY => return Err(i),
                _ => {
                    if s.parent.load(Ordering::Relaxed) == parent
                        && s.ip.load(Ordering::Relaxed) == ip
                    {
                        return Ok(s.id.load(Ordering::Relaxed));
                    }
                }
            }
        }
        Err(usize::MAX)
    }

    /// Puts every node of `self` into `to`, an unpublished table with room for them.
    fn copy_into(&self, to: &Table) {
        let mut n = 0;
        for i in 0..self.cap {
            let s = self.slot(i);
            if wait_ready(&s.tag) != READY {
                continue;
            }
            let (parent, ip) = (
                s.parent.load(Ordering::Relaxed),
                s.ip.load(Ordering::Relaxed),
            );
            if let Err(j @ 0..usize::MAX) = to.find(hash_node(parent, ip), parent, ip) {
                let d = to.slot(j);
                d.parent.store(parent, Ordering::Relaxed);
                d.ip.store(ip, Ordering::Relaxed);
                d.id.store(s.id.load(Ordering::Relaxed), Ordering::Relaxed);
                d.tag.store(READY, Ordering::Relaxed);
                n += 1;
            }
        }
        to.len.store(n, Ordering::Relaxed);
    }
}

/// The slot's tag once no insert is in progress on it. An insert is a handful of stores by a
/// thread that holds no lock, so waiting for it cannot deadlock.
fn wait_ready(tag: &AtomicU32) -> u32 {
    loop {
        let t = tag.load(Ordering::Acquire);
        if t != WRITING {
            return t;
        }
        core::hint::spin_loop();
    }
}

fn hash_node(parent: u64, ip: u64) -> usize {
    let h = (parent.rotate_left(29) ^ ip).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h ^ (h >> 32)) as usize
}

fn current_table() -> *mut Table {
    let t = CURRENT.load(Ordering::Acquire);
    if !t.is_null() {
        return t;
    }
    let first = sys::map_once(&FIRST, Table::bytes(FIRST_CAP), |t| {
        Table::init(t, FIRST_CAP)
    });
    if first.is_null() {
        return first;
    }
    match CURRENT.compare_exchange(
        core::ptr::null_mut(),
        first,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => first,
        Err(newer) => newer,
    }
}

/// Forgets every node (a followed fork child starts a capture of its own). Old tables are
/// leaked: a thread of the parent may have been mid-insert when it forked.
pub fn reset() {
    CURRENT.store(core::ptr::null_mut(), Ordering::Release);
    FIRST.store(core::ptr::null_mut(), Ordering::Release);
    NEXT_ID.store(1, Ordering::Release);
}

/// The node for `ip` called under `parent`, created if new; `on_new(id)` is called for a node
/// this call created, so that the caller writes it to the capture. 0 when memory is exhausted.
fn node(parent: u64, ip: u64, on_new: &mut impl FnMut(u64)) -> u64 {
    let h = hash_node(parent, ip);
    let mut t = current_table();
    while !t.is_null() {
        // SAFETY: published tables are never unmapped (see `reset`).
        let table = unsafe { &*t };
        let mut i = match table.find(h, parent, ip) {
            Ok(id) => return id,
            Err(usize::MAX) => {
                t = grow(table);
                continue;
            }
            Err(i) => i,
        };
        if table.len.load(Ordering::Relaxed) * 4 >= table.cap * 3 {
            t = grow(table);
            continue;
        }
        loop {
            let s = table.slot(i);
            if s.tag
                .compare_exchange(EMPTY, WRITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                s.parent.store(parent, Ordering::Relaxed);
                s.ip.store(ip, Ordering::Relaxed);
                s.id.store(id, Ordering::Relaxed);
                s.tag.store(READY, Ordering::Release);
                table.len.fetch_add(1, Ordering::Relaxed);
                on_new(id);
                return id;
            }
            // Another thread took the slot: it may be inserting the same node.
            wait_ready(&s.tag);
            if s.parent.load(Ordering::Relaxed) == parent && s.ip.load(Ordering::Relaxed) == ip {
                return s.id.load(Ordering::Relaxed);
            }
            i = i.wrapping_add(1);
            if i.wrapping_sub(h) >= table.cap {
                break;
            }
        }
        t = grow(table);
    }
    0
}

/// The table that replaces `table`, made if there is none yet (with every node of `table`)
/// and made the current one.
fn grow(table: &Table) -> *mut Table {
    let cap = table.cap * 2;
    let next = sys::map_once(&table.next, Table::bytes(cap), |t| {
        Table::init(t, cap);
        // SAFETY: `t` is the zeroed table just initialised, not yet published.
        table.copy_into(unsafe { &*t });
    });
    if next.is_null() {
        return next;
    }
    let at = table as *const Table as *mut Table;
    // Whoever got here first moved it on; a thread still on an older table moves it no further.
    let _ = CURRENT.compare_exchange(at, next, Ordering::AcqRel, Ordering::Acquire);
    CURRENT.load(Ordering::Acquire)
}

/// Slots in a thread's stack cache.
pub const CACHE_SLOTS: usize = 4096;

/// A thread's cache from stack hash to encoded [`StackRef`].
pub struct StackCache {
    slots: [(u64, u64); CACHE_SLOTS],
}

impl StackCache {
    pub fn clear(&mut self) {
        self.slots.fill((0, 0));
    }
}

/// Slots in a thread's node cache.
pub const NODE_SLOTS: usize = 4096;

/// A thread's cache from (parent node, return address) to node. Ids and parents above 2^32,
/// which no real capture reaches, are not cached.
pub struct NodeCache {
    /// (return address, parent, node); a zero return address marks an empty slot.
    slots: [(u64, u32, u32); NODE_SLOTS],
}

impl NodeCache {
    pub fn clear(&mut self) {
        self.slots.fill((0, 0, 0));
    }

    /// The node for `ip` called under `parent`, created if new (see [`intern`] for
    /// `on_new`); 0 when memory is exhausted.
    #[inline(always)]
    pub fn node(&mut self, parent: u64, ip: u64, on_new: &mut impl FnMut(u64, u64, u64)) -> u64 {
        let h = hash_node(parent, ip);
        let slot = &mut self.slots[(h >> 20) % NODE_SLOTS];
        if slot.0 == ip && u64::from(slot.1) == parent {
            return slot.2.into();
        }
        let id = node(parent, ip, &mut |id| on_new(id, parent, ip));
        if let (Ok(p), Ok(i)) = (u32::try_from(parent), u32::try_from(id)) {
            if i != 0 {
                *slot = (ip, p, i);
            }
        }
        id
    }
}

/// Scrambles one word: a multiply spreads low bits up, the shift brings high bits down.
#[inline(always)]
fn scramble(x: u64) -> u64 {
    let y = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    y ^ (y >> 29)
}

/// The cache key of a stack. Each frame is scrambled on its own (the multiplies run in
/// parallel rather than as one chain) and folded in with a rotation, which also makes the
/// key depend on positions; a sum of weakly mixed words instead lets changes at two frames
/// cancel out. The rotation also keeps the compiler from vectorising the loop with SSE2,
/// which has no 64-bit multiply.
fn hash_stack(frames: &[u64], truncated: bool) -> u64 {
    let mut h = (frames.len() as u64) ^ ((truncated as u64) << 63);
    for &ip in frames {
        h = h.rotate_left(7).wrapping_add(scramble(ip));
    }
    scramble(scramble(h)) | 1
}

/// The stack of `frames` (innermost first), interning it on first sight; `cache` (if there
/// is one: it may not have been made for want of memory) remembers it by its hash.
#[inline]
pub fn intern(
    mut cache: Option<&mut StackCache>,
    frames: &[u64],
    truncated: bool,
    on_new: &mut impl FnMut(u64, u64, u64),
) -> StackRef {
    let h = hash_stack(frames, truncated);
    if let Some(cache) = &mut cache {
        let slot = cache.slots[(h >> 52) as usize % CACHE_SLOTS];
        if slot.0 == h {
            return StackRef {
                node: slot.1,
                truncated,
            };
        }
    }
    let mut parent = 0;
    for &ip in frames.iter().rev() {
        let p = parent;
        parent = node(p, ip, &mut |id| on_new(id, p, ip));
        if parent == 0 {
            // Out of memory: keep the outer part of the stack.
            parent = p;
            break;
        }
    }
    if let Some(cache) = cache {
        cache.slots[(h >> 52) as usize % CACHE_SLOTS] = (h, parent);
    }
    StackRef {
        node: parent,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_that_differ_in_two_frames_by_the_same_step_do_not_collide() {
        // Two call sites 0x16 bytes apart at two levels: a weak sum of XORed words let these
        // changes cancel out.
        let a = [0x39a, 0x60c, 0x661, 0x6e3, 0x71d, 0x863, 0x89d].map(|x| 0x5555_5555_4000u64 + x);
        let mut b = a;
        b[3] += 0x16;
        b[5] += 0x16;
        assert_ne!(hash_stack(&a, false), hash_stack(&b, false));
        let mut seen = std::collections::HashSet::new();
        for i in 0..64u64 {
            for j in 0..64u64 {
                let mut s = a;
                s[2] += i * 8;
                s[4] += j * 8;
                assert!(seen.insert(hash_stack(&s, false)), "collision at {i} {j}");
            }
        }
        assert_ne!(hash_stack(&a, false), hash_stack(&a, true));
        assert_ne!(hash_stack(&a[..6], false), hash_stack(&a, false));
    }

    /// Each key's node, made if new.
    fn nodes(key: impl Fn(u64) -> (u64, u64), n: u64) -> Vec<u64> {
        (0..n)
            .map(|k| {
                let (parent, ip) = key(k);
                node(parent, ip, &mut |_| {})
            })
            .collect()
    }

    /// Every key's node is `ids`' and is found without being made again.
    fn found_again(key: impl Fn(u64) -> (u64, u64), ids: &[u64]) {
        for (k, &id) in ids.iter().enumerate() {
            let (parent, ip) = key(k as u64);
            let mut made = false;
            assert_eq!(node(parent, ip, &mut |_| made = true), id);
            assert!(!made, "node {k} made again");
        }
    }

    #[test]
    fn nodes_are_found_again_after_the_table_grew() {
        // Enough nodes for several growths (the first table holds 3,072), inserted by four
        // threads at once, parents of their own so that no other test's nodes are met.
        const N: u64 = 40_000;
        // One thread first: every node keeps its id through the growths.
        let alone = |k: u64| (0xbeef_0000_0000 + k / 5, 0x7e00_0000_0000 + k * 16);
        found_again(alone, &nodes(alone, N));
        let key = |k: u64| (0xfeed_0000_0000 + k / 7, 0x7f00_0000_0000 + k * 16);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..N)
                        .map(|k| {
                            let k = (k + t * N / 4) % N;
                            let (parent, ip) = key(k);
                            assert_ne!(node(parent, ip, &mut |_| {}), 0);
                        })
                        .count()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), N as usize);
        }
        // Racing inserts may have made a duplicate or two; the current table then holds one,
        // which every later lookup finds without making another.
        found_again(key, &nodes(key, N));
        // SAFETY: the current table is published and never unmapped.
        let current = unsafe { &*current_table() };
        assert!(current.cap >= 65_536, "{}", current.cap);
    }
}
