//! The live blocks of a replay, by address: an open-addressing table with linear probing whose
//! keys and values share a slot, so that a lookup costs one cache line, and whose slots can be
//! prefetched ahead of the lookups.

/// A map from non-zero block address to `V`, for replaying allocations and frees.
pub struct AddrMap<V: Copy + Default> {
    /// `(address, value)`; address 0 marks a free slot.
    slots: Vec<(u64, V)>,
    len: usize,
}

impl<V: Copy + Default> Default for AddrMap<V> {
    fn default() -> Self {
        AddrMap {
            slots: vec![(0, V::default()); 1024],
            len: 0,
        }
    }
}

impl<V: Copy + Default> AddrMap<V> {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Home slot. Blocks allocated one after another tend to lie side by side, and are
    /// often freed in the same order (a container's elements): the slots of one 4 KiB page
    /// of addresses are kept together, by their 16-byte granule in the page, so that such
    /// runs go through the table in order instead of missing the cache at every step; pages
    /// are scattered by a multiplicative hash. [`AddrMap::prefetch`] hides the misses left.
    fn home(&self, addr: u64) -> usize {
        let page = (addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24;
        ((page << 8) as usize | ((addr >> 4) & 0xff) as usize) & self.mask()
    }

    /// Starts loading the slot where `addr` would be, for a lookup a little later.
    #[inline]
    pub fn prefetch(&self, addr: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot: *const (u64, V) = &self.slots[self.home(addr)];
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a hint: it
            // reads nothing the program sees and cannot fault.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(slot.cast())
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = addr;
    }

    fn find(&self, addr: u64) -> Result<usize, usize> {
        let mut i = self.home(addr);
        loop {
            match self.slots[i].0 {
                k if k == addr => return Ok(i),
                0 => return Err(i),
                _ => i = (i + 1) & self.mask(),
            }
        }
    }

    /// Inserts `value` at `addr` (never 0), returning the value it replaced.
    pub fn insert(&mut self, addr: u64, value: V) -> Option<V> {
        debug_assert_ne!(addr, 0);
        match self.find(addr) {
            Ok(i) => Some(std::mem::replace(&mut self.slots[i].1, value)),
            Err(i) => {
                self.slots[i] = (addr, value);
                self.len += 1;
                if self.len * 2 > self.slots.len() {
                    self.grow();
                }
                None
            }
        }
    }

    pub fn remove(&mut self, addr: u64) -> Option<V> {
        let mut hole = self.find(addr).ok()?;
        let value = self.slots[hole].1;
        self.len -= 1;
        // Backward-shift deletion: move later members of the cluster into the hole when their
        // home slot is not between the hole and them, so that no tombstones are needed.
        let mask = self.mask();
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let k = self.slots[i].0;
            if k == 0 {
                break;
            }
            let home = self.home(k);
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[i];
                hole = i;
            }
        }
        self.slots[hole] = (0, V::default());
        Some(value)
    }

    fn grow(&mut self) {
        let doubled = vec![(0, V::default()); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for (k, v) in old {
            if k != 0 {
                if let Err(i) = self.find(k) {
                    self.slots[i] = (k, v);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().filter(|s| s.0 != 0).map(|s| &s.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn behaves_as_a_map() {
        let mut m: AddrMap<u32> = AddrMap::default();
        for i in 0..10_000u64 {
            m.insert(0x5555_0000_0000 + i * 16, i as u32);
        }
        for i in (0..10_000u64).step_by(2) {
            assert_eq!(m.remove(0x5555_0000_0000 + i * 16), Some(i as u32));
        }
        assert_eq!(m.len(), 5_000);
        assert_eq!(m.remove(0x5555_0000_0000 + 16), Some(1));
        assert_eq!(m.remove(0x5555_0000_0000 + 16), None);
    }

    #[test]
    fn agrees_with_a_std_map_under_churn() {
        // Addresses from a few windows, with collisions on the home slot and wrap-around.
        let mut m: AddrMap<u64> = AddrMap::default();
        let mut reference = HashMap::new();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let window =
                [0x5555_0000_0000u64, 0x7f00_1000_0000, 0x7f00_2000_0000][(x % 3) as usize];
            let addr = window + (x >> 8) % 4096 * 16;
            if x & 1 == 0 {
                assert_eq!(m.insert(addr, step), reference.insert(addr, step));
            } else {
                assert_eq!(m.remove(addr), reference.remove(&addr));
            }
            assert_eq!(m.len(), reference.len());
        }
        let mut a: Vec<u64> = m.values().copied().collect();
        let mut b: Vec<u64> = reference.values().copied().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
}
