//! The heap as a replay of the events builds it: live blocks by address, with the rules every
//! analysis shares (what a free releases, what is temporary, ties at one tick).

use rustc_hash::FxHashMap as HashMap;

use crate::addr_map::AddrMap;

/// Which allocation a block came from: its thread stream and its number among that stream's
/// allocations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AllocId {
    pub stream: u32,
    pub ordinal: u32,
}

/// A live block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    pub size: u64,
    /// When it was allocated.
    pub time: u64,
    pub id: AllocId,
}

/// A block that was just released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Freed {
    pub block: Block,
    /// Freed by the thread that allocated it, with no other allocation of that thread between.
    pub temporary: bool,
    /// Freed by another thread than the one that allocated it.
    pub elsewhere: bool,
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
    /// The address each stream allocated last (0: none, or released since).
    last_alloc: Vec<u64>,
    /// Frees of unknown addresses, kept for a moment in case the allocation they release was
    /// stamped a little later by another thread's clock and merged after them.
    pending: HashMap<u64, (u64, usize)>,
    /// How far apart (in record time) two threads' stamps of causally ordered events can be.
    skew: u64,
    /// Frees found untracked while allocating.
    untracked: u64,
    /// Blocks whose address another allocation took before their free was merged, with the
    /// time it did. Threads' clocks can disagree by a few nanoseconds, so a free in one thread
    /// and the reuse of the address in another can be stamped in the wrong order; the late free
    /// then releases the displaced block, not the new one.
    displaced: HashMap<u64, (Block, u64)>,
    /// Displaced blocks whose free never came, with the time they were displaced.
    pub lost: Vec<(Block, u64)>,
}

impl Heap {
    /// An empty heap of `streams` thread streams whose clocks may disagree by up to `skew`.
    pub fn new(streams: usize, skew: u64) -> Heap {
        Heap {
            skew,
            last_alloc: vec![0; streams],
            ..Heap::default()
        }
    }

    /// Adds a block. Returns the block at once released again when a free of its address was
    /// stamped at the same tick by another thread and merged first.
    pub fn alloc(&mut self, time: u64, stream: usize, addr: u64, block: Block) -> Option<Freed> {
        if addr == 0 {
            // Only a corrupt capture says a block was obtained at NULL.
            return None;
        }
        if let Some(old) = self.live.insert(addr, block) {
            // Its free is late (or lost): it is no longer live either way.
            self.live_bytes -= old.size;
            if let Some(gone) = self.displaced.insert(addr, (old, time)) {
                self.lost.push(gone);
            }
        }
        self.live_bytes += block.size;
        if self.last_alloc.len() <= stream {
            // A stream met while the capture is being written.
            self.last_alloc.resize(stream + 1, 0);
        }
        self.last_alloc[stream] = addr;
        if !self.pending.is_empty() {
            if let Some((t, freer)) = self.pending.remove(&addr) {
                if freer != stream && time.saturating_sub(t) <= self.skew {
                    if let FreeOutcome::Released(f) = self.free(time, freer, addr) {
                        return Some(f);
                    }
                }
                self.untracked += 1;
            }
        }
        None
    }

    pub fn free(&mut self, time: u64, stream: usize, addr: u64) -> FreeOutcome {
        if addr == 0 {
            return FreeOutcome::Untracked;
        }
        if !self.displaced.is_empty() {
            if let Some((block, _)) = self.displaced.remove(&addr) {
                // Already taken out of the live bytes.
                return FreeOutcome::Released(self.released(block, stream, addr));
            }
        }
        let Some(block) = self.live.remove(addr) else {
            return match self.pending.insert(addr, (time, stream)) {
                Some(_) => FreeOutcome::Untracked,
                None => FreeOutcome::Pending,
            };
        };
        self.live_bytes -= block.size;
        FreeOutcome::Released(self.released(block, stream, addr))
    }

    /// `block`, at `addr`, released by `stream`.
    fn released(&mut self, block: Block, stream: usize, addr: u64) -> Freed {
        Freed {
            block,
            temporary: self.took_last(stream, addr),
            elsewhere: block.id.stream as usize != stream,
        }
    }

    /// Starts loading what a later [`Heap::alloc`] or [`Heap::free`] of `addr` will look at.
    pub fn prefetch(&self, addr: u64) {
        self.live.prefetch(addr);
    }

    /// Whether `addr` is `stream`'s most recent allocation (then it no longer is).
    fn took_last(&mut self, stream: usize, addr: u64) -> bool {
        match self.last_alloc.get_mut(stream) {
            Some(last) if *last == addr => {
                *last = 0;
                true
            }
            _ => false,
        }
    }

    /// Ends the replay: every block still displaced is lost.
    pub fn finish(&mut self) {
        let displaced = std::mem::take(&mut self.displaced);
        self.lost.extend(displaced.into_values());
    }

    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Frees that released blocks the capture never saw allocated, once the replay is over.
    pub fn untracked_frees(&self) -> u64 {
        self.untracked + self.pending.len() as u64
    }
}
