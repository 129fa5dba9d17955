//! Compact unwind rules and the per-thread cache that maps a return address to its rule.

use alloc::boxed::Box;
use alloc::vec;

/// How to find the caller's frame from a frame whose code is at a given address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    pub kind: Kind,
    /// CFA = base register + `cfa_off`.
    pub cfa_off: i32,
    /// The return address is saved at CFA + `ra_off`.
    pub ra_off: i16,
    /// The caller's RBP is saved at CFA + 8 * `rbp_off8`; 0 when RBP is not saved (it keeps
    /// its value).
    pub rbp_off8: i8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Kind {
    /// The slot is empty (cache) or there is no frame to go to (end of the stack, no unwind
    /// information, or a rule too complex for the fast path such as a signal frame).
    #[default]
    Stop,
    /// CFA = RSP + offset.
    Rsp,
    /// CFA = RBP + offset.
    Rbp,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    ip: u64,
    rule: Rule,
}

const SLOTS: usize = 4096;
const PROBES: usize = 8;

/// Open-addressing table from code address to rule, one per thread (so no locks). Negative
/// results are cached too. Full probe sequences evict their first slot.
pub struct RuleCache {
    entries: Box<[Entry]>,
}

impl RuleCache {
    pub fn new() -> RuleCache {
        RuleCache {
            entries: vec![Entry::default(); SLOTS].into_boxed_slice(),
        }
    }

    #[inline(always)]
    fn start(ip: u64) -> usize {
        (ip.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize
    }

    /// The cached rule for `ip`, if any.
    #[inline(always)]
    pub fn get(&self, ip: u64) -> Option<Rule> {
        let s = Self::start(ip);
        for i in 0..PROBES {
            let e = self.entries.get((s + i) & (SLOTS - 1))?;
            if e.ip == ip {
                return Some(e.rule);
            }
            if e.ip == 0 {
                return None;
            }
        }
        None
    }

    pub fn insert(&mut self, ip: u64, rule: Rule) {
        let s = Self::start(ip);
        let mut target = s & (SLOTS - 1);
        for i in 0..PROBES {
            let slot = (s + i) & (SLOTS - 1);
            if self.entries[slot].ip == 0 || self.entries[slot].ip == ip {
                target = slot;
                break;
            }
        }
        self.entries[target] = Entry { ip, rule };
    }

    pub fn clear(&mut self) {
        self.entries.fill(Entry::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_found_after_collisions_and_cleared() {
        let mut c = RuleCache::new();
        let r = Rule {
            kind: Kind::Rsp,
            cfa_off: 16,
            ra_off: -8,
            rbp_off8: 0,
        };
        for ip in 1..=20u64 {
            c.insert(
                ip * 4096,
                Rule {
                    cfa_off: ip as i32,
                    ..r
                },
            );
        }
        for ip in 1..=20u64 {
            assert_eq!(c.get(ip * 4096).map(|r| r.cfa_off), Some(ip as i32));
        }
        assert_eq!(c.get(12345), None);
        c.clear();
        assert_eq!(c.get(4096), None);
    }
}
