//! The live heap, kept up to date event by event, with figures per call site.

use rustc_hash::FxHashMap;

use memprof_capture::{AddrMap, ThreadId};

use crate::order::{Change, Event};

/// Index of a site: one call stack in one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct SiteId(u32);

/// Where allocations came from: a stack node (see `memprof_capture::NodeId`) in a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Site {
    pub thread: ThreadId,
    pub stack: u64,
}

/// What a site holds now and did since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SiteFigures {
    pub live_bytes: u64,
    pub live_blocks: u64,
    pub allocations: u64,
    pub bytes: u64,
}

#[derive(Clone, Copy, Default)]
struct Block {
    size: u64,
    site: SiteId,
}

/// The heap as far as the events applied so far built it.
#[derive(Default)]
pub(crate) struct LiveHeap {
    blocks: AddrMap<Block>,
    sites: Vec<(Site, SiteFigures)>,
    site_ids: FxHashMap<Site, SiteId>,
    /// Frees of addresses not live, with their times: the allocation they release may still
    /// come, out of order, when its thread's record was read late.
    pending: FxHashMap<u64, u64>,
    pub heap_bytes: u64,
    pub peak_bytes: u64,
    /// Time of the last event applied.
    pub time: u64,
    /// Since the start or the last reset.
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    /// Frees that matched no recorded allocation and can no longer.
    untracked_frees: u64,
}

impl LiveHeap {
    pub fn apply(&mut self, thread: ThreadId, event: Event) {
        self.time = self.time.max(event.time);
        match event.change {
            // Not a block (only a corrupt record says so).
            Change::Alloc { addr: 0, .. } | Change::Free { addr: 0 } => {}
            Change::Alloc { addr, size, stack } => {
                self.alloc(event.time, thread, addr, size, stack)
            }
            Change::Free { addr } => self.free(event.time, addr),
        }
    }

    fn alloc(&mut self, time: u64, thread: ThreadId, addr: u64, size: u64, stack: u64) {
        let site = self.site(Site { thread, stack });
        let f = &mut self.sites[site.0 as usize].1;
        f.allocations += 1;
        f.bytes += size;
        self.allocations += 1;
        self.bytes_allocated += size;
        if self.pending.get(&addr).is_some_and(|&freed| freed >= time) {
            // Its free was applied first: the block came and went.
            self.pending.remove(&addr);
            self.frees += 1;
            return;
        }
        f.live_bytes += size;
        f.live_blocks += 1;
        self.heap_bytes += size;
        self.peak_bytes = self.peak_bytes.max(self.heap_bytes);
        if let Some(old) = self.blocks.insert(addr, Block { size, site }) {
            // Its free was never seen: it is gone all the same.
            self.release(old);
        }
    }

    fn free(&mut self, time: u64, addr: u64) {
        match self.blocks.remove(addr) {
            Some(block) => {
                self.release(block);
                self.frees += 1;
            }
            None => {
                self.pending.insert(addr, time);
            }
        }
    }

    /// Starts loading what applying `event` will look up.
    pub fn prefetch(&self, event: &Event) {
        match event.change {
            Change::Alloc { addr, .. } | Change::Free { addr } => self.blocks.prefetch(addr),
        }
    }

    fn release(&mut self, block: Block) {
        let f = &mut self.sites[block.site.0 as usize].1;
        f.live_bytes -= block.size;
        f.live_blocks -= 1;
        self.heap_bytes -= block.size;
    }

    fn site(&mut self, site: Site) -> SiteId {
        *self.site_ids.entry(site).or_insert_with(|| {
            self.sites.push((site, SiteFigures::default()));
            SiteId(self.sites.len() as u32 - 1)
        })
    }

    /// Forgets pending frees stamped before `time`: no allocation can be that late any more,
    /// so they released memory allocated before recording started.
    pub fn expire_pending(&mut self, time: u64) {
        let before = self.pending.len();
        self.pending.retain(|_, &mut t| t >= time);
        self.untracked_frees += (before - self.pending.len()) as u64;
    }

    /// Frees that matched no recorded allocation (so far).
    pub fn untracked_frees(&self) -> u64 {
        self.untracked_frees + self.pending.len() as u64
    }

    /// Every site with its figures.
    pub fn sites(&self) -> impl Iterator<Item = &(Site, SiteFigures)> {
        self.sites.iter()
    }

    /// Starts the counts of allocations (not the live heap) afresh, and the peak at the
    /// current heap.
    pub fn reset(&mut self) {
        for (_, f) in &mut self.sites {
            f.allocations = 0;
            f.bytes = 0;
        }
        self.allocations = 0;
        self.frees = 0;
        self.bytes_allocated = 0;
        self.peak_bytes = self.heap_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ThreadId = ThreadId(1);
    const B: ThreadId = ThreadId(2);

    fn alloc(time: u64, addr: u64, size: u64, stack: u64) -> Event {
        Event {
            time,
            change: Change::Alloc { addr, size, stack },
        }
    }

    fn free(time: u64, addr: u64) -> Event {
        Event {
            time,
            change: Change::Free { addr },
        }
    }

    fn figures(h: &LiveHeap, thread: ThreadId, stack: u64) -> SiteFigures {
        h.sites()
            .find(|(s, _)| *s == Site { thread, stack })
            .map(|(_, f)| *f)
            .unwrap_or_default()
    }

    #[test]
    fn frees_release_the_site_that_allocated() {
        let mut h = LiveHeap::default();
        h.apply(A, alloc(1, 0x10, 100, 7));
        h.apply(A, alloc(2, 0x20, 50, 7));
        h.apply(A, alloc(3, 0x30, 8, 9));
        h.apply(B, free(4, 0x10));
        assert_eq!(h.heap_bytes, 58);
        assert_eq!(h.peak_bytes, 158);
        let f = figures(&h, A, 7);
        assert_eq!(
            (f.live_bytes, f.live_blocks, f.allocations, f.bytes),
            (50, 1, 2, 150)
        );
        assert_eq!(figures(&h, A, 9).live_bytes, 8);
        assert_eq!(figures(&h, B, 7), SiteFigures::default());
        h.reset();
        assert_eq!((h.allocations, h.peak_bytes), (0, 58));
        assert_eq!(figures(&h, A, 7).allocations, 0);
        assert_eq!(figures(&h, A, 7).live_bytes, 50);
    }

    #[test]
    fn a_free_applied_before_its_late_allocation_cancels_it() {
        let mut h = LiveHeap::default();
        h.apply(B, free(5, 0x10));
        h.apply(A, alloc(4, 0x10, 100, 7));
        assert_eq!(h.heap_bytes, 0);
        assert_eq!((h.allocations, h.frees), (1, 1));
        // A later allocation at the same address is a new block.
        h.apply(A, alloc(6, 0x10, 10, 7));
        assert_eq!(h.heap_bytes, 10);
    }

    #[test]
    fn pending_frees_expire_as_untracked() {
        let mut h = LiveHeap::default();
        h.apply(A, free(5, 0x10));
        h.apply(A, free(9, 0x20));
        h.expire_pending(6);
        assert_eq!(h.untracked_frees(), 2);
        h.apply(A, alloc(10, 0x10, 4, 1));
        assert_eq!(h.heap_bytes, 4);
    }

    #[test]
    fn an_address_reused_without_a_free_drops_the_old_block() {
        let mut h = LiveHeap::default();
        h.apply(A, alloc(1, 0x10, 100, 7));
        h.apply(A, alloc(2, 0x10, 30, 8));
        assert_eq!(h.heap_bytes, 30);
        assert_eq!(figures(&h, A, 7).live_bytes, 0);
    }
}
