//! The heap as a replay of the events builds it: live blocks by address, with the rules every
//! analysis shares (what a free releases, what is temporary, ties at one tick).

use rustc_hash::FxHashMap as HashMap;

use crate::addr_map::AddrMap;
use crate::ThreadId;

/// A live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub size: u64,
    /// The stack's trie node.
    pub stack: u64,
    /// When it was allocated.
    pub time: u64,
}

/// A block that was just released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Freed {
    pub block: Block,
    /// Freed by the thread that allocated it, with no other allocation of that thread between.
    pub temporary: bool,
}

/// What a free did.
pub(crate) enum FreeOutcome {
    Released(Freed),
    /// The address is not live; it is kept for one tick (see [`Heap::alloc`]).
    Pending,
    /// The address was not live, twice: the earlier free released a block the capture never
    /// saw allocated.
    Untracked,
}

#[derive(Default)]
pub(crate) struct Heap {
    live: AddrMap<Block>,
    live_bytes: u64,
    last_alloc: HashMap<ThreadId, u64>,
    /// Frees of unknown addresses, kept for a moment in case the allocation they release was
    /// stamped a little later by another thread's clock and merged after them.
    pending: HashMap<u64, (u64, ThreadId)>,
    /// How far apart (in record time) two threads' stamps of causally ordered events can be.
    skew: u64,
    /// Frees found untracked while allocating.
    untracked: u64,
    /// Blocks whose address another allocation took before their free was merged. Threads'
    /// clocks can disagree by a few nanoseconds, so a free in one thread and the reuse of the
    /// address in another can be stamped in the wrong order; the late free then releases the
    /// displaced block, not the new one.
    displaced: HashMap<u64, Block>,
    /// Displaced blocks whose free never came.
    lost: u64,
}

impl Heap {
    /// An empty heap whose threads' clocks may disagree by up to `skew` (record time).
    pub fn new(skew: u64) -> Heap {
        Heap {
            skew,
            ..Heap::default()
        }
    }

    /// Adds a block. Returns the block at once released again when a free of its address was
    /// stamped at the same tick by another thread and merged first.
    pub fn alloc(&mut self, time: u64, thread: ThreadId, addr: u64, block: Block) -> Option<Freed> {
        if let Some(old) = self.live.insert(addr, block) {
            // Its free is late (or lost): it is no longer live either way.
            self.live_bytes -= old.size;
            if self.displaced.insert(addr, old).is_some() {
                self.lost += 1;
            }
        }
        self.live_bytes += block.size;
        self.last_alloc.insert(thread, addr);
        if !self.pending.is_empty() {
            if let Some((t, freer)) = self.pending.remove(&addr) {
                if freer != thread && time.saturating_sub(t) <= self.skew {
                    if let FreeOutcome::Released(f) = self.free(time, freer, addr) {
                        return Some(f);
                    }
                }
                self.untracked += 1;
            }
        }
        None
    }

    pub fn free(&mut self, time: u64, thread: ThreadId, addr: u64) -> FreeOutcome {
        if !self.displaced.is_empty() {
            if let Some(block) = self.displaced.remove(&addr) {
                // Already taken out of the live bytes.
                return FreeOutcome::Released(Freed {
                    block,
                    temporary: self.took_last(thread, addr),
                });
            }
        }
        let Some(block) = self.live.remove(&addr) else {
            return match self.pending.insert(addr, (time, thread)) {
                Some(_) => FreeOutcome::Untracked,
                None => FreeOutcome::Pending,
            };
        };
        self.live_bytes -= block.size;
        FreeOutcome::Released(Freed {
            block,
            temporary: self.took_last(thread, addr),
        })
    }

    /// Whether `addr` is `thread`'s most recent allocation (then it no longer is).
    fn took_last(&mut self, thread: ThreadId, addr: u64) -> bool {
        let last = self.last_alloc.get(&thread) == Some(&addr);
        if last {
            self.last_alloc.remove(&thread);
        }
        last
    }

    /// Blocks displaced by a reuse of their address whose free never came.
    pub fn lost_frees(&self) -> u64 {
        self.lost + self.displaced.len() as u64
    }

    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    pub fn live_blocks(&self) -> impl Iterator<Item = &Block> {
        self.live.values()
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Frees that released blocks the capture never saw allocated, once the replay is over.
    pub fn untracked_frees(&self) -> u64 {
        self.untracked + self.pending.len() as u64
    }
}
