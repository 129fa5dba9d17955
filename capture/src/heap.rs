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
    /// Frees of unknown addresses, kept for one tick in case the allocation they release was
    /// stamped at the same tick by another thread and merged after them.
    pending: HashMap<u64, (u64, ThreadId)>,
    /// Frees found untracked while allocating.
    untracked: u64,
}

impl Heap {
    /// Adds a block. Returns the block at once released again when a free of its address was
    /// stamped at the same tick by another thread and merged first.
    pub fn alloc(&mut self, time: u64, thread: ThreadId, addr: u64, block: Block) -> Option<Freed> {
        if let Some(old) = self.live.insert(addr, block) {
            // Its free was lost; do not count the block twice.
            self.live_bytes -= old.size;
        }
        self.live_bytes += block.size;
        self.last_alloc.insert(thread, addr);
        if !self.pending.is_empty() {
            if let Some((t, freer)) = self.pending.remove(&addr) {
                if t == time {
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
        let Some(block) = self.live.remove(&addr) else {
            return match self.pending.insert(addr, (time, thread)) {
                Some(_) => FreeOutcome::Untracked,
                None => FreeOutcome::Pending,
            };
        };
        self.live_bytes -= block.size;
        let temporary = self.last_alloc.get(&thread) == Some(&addr);
        if temporary {
            self.last_alloc.remove(&thread);
        }
        FreeOutcome::Released(Freed { block, temporary })
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
