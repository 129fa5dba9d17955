//! A hash map keyed by block address that keeps neighbouring addresses in neighbouring
//! buckets: allocators hand out addresses in clusters, so the live-block map of a large capture
//! stays in cache instead of missing on every lookup as with a scrambling hash.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A map from block address to `V`.
pub type AddrMap<V> = HashMap<u64, V, AddrHash>;

/// Bucket position from the address itself (divided by malloc's 16-byte alignment); the top
/// bits, which the table uses to tell entries apart, from a multiplicative hash.
#[derive(Clone, Copy, Default)]
pub struct AddrHash;

impl BuildHasher for AddrHash {
    type Hasher = AddrHasher;

    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(0)
    }
}

pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        let a = self.0;
        (a >> 4 & 0x01FF_FFFF_FFFF_FFFF)
            | (a.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFE00_0000_0000_0000)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut m: AddrMap<u32> = AddrMap::default();
        for i in 0..10_000u64 {
            m.insert(0x5555_0000_0000 + i * 16, i as u32);
        }
        for i in (0..10_000u64).step_by(2) {
            assert_eq!(m.remove(&(0x5555_0000_0000 + i * 16)), Some(i as u32));
        }
        assert_eq!(m.len(), 5_000);
        assert_eq!(m.get(&(0x5555_0000_0000 + 16)), Some(&1));
    }
}
