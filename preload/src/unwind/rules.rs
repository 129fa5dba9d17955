//! Compact unwind rules and the per-thread cache that maps a return address to its rule.

use core::sync::atomic::{AtomicU64, Ordering};

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

impl Rule {
    /// The rule in one word.
    fn pack(self) -> u64 {
        self.kind as u64
            | u64::from(self.cfa_off as u32) << 8
            | u64::from(self.ra_off as u16) << 40
            | u64::from(self.rbp_off8 as u8) << 56
    }

    fn unpack(w: u64) -> Rule {
        Rule {
            kind: match w as u8 {
                1 => Kind::Rsp,
                2 => Kind::Rbp,
                _ => Kind::Stop,
            },
            cfa_off: (w >> 8) as u32 as i32,
            ra_off: (w >> 40) as u16 as i16,
            rbp_off8: (w >> 56) as u8 as i8,
        }
    }
}

/// Entries of the rule cache, shared by every thread: the rules of a code address are the
/// same for all, and one thread's misses then spare the others theirs. Its pages become
/// resident as they are used.
const SLOTS: usize = 1 << 14;
const PROBES: usize = 8;

/// A rule and the code address it is for, mixed with the rule and the generation of the
/// module list it was made under. Threads write entries without a lock, so a reader may see
/// halves of two writes; the address it then works out is not the one it looks for, as for
/// an entry made before a module was unloaded.
struct Entry {
    key: AtomicU64,
    rule: AtomicU64,
}

static TABLE: [Entry; SLOTS] = [const {
    Entry {
        key: AtomicU64::new(0),
        rule: AtomicU64::new(0),
    }
}; SLOTS];

/// What a thread uses of the shared rule cache: the generation of the module list it knows.
pub struct RuleCache {
    generation: u64,
}

impl RuleCache {
    pub fn new(generation: u64) -> RuleCache {
        RuleCache { generation }
    }

    #[inline(always)]
    fn start(ip: u64) -> usize {
        (ip.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize
    }

    /// What is mixed into an entry's address: a change of the rule or of the generation
    /// changes every bit of the address worked out.
    #[inline(always)]
    fn mix(&self, rule: u64) -> u64 {
        let x = (rule ^ self.generation.rotate_left(32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        x ^ (x >> 32)
    }

    /// The cached rule for `ip`, if any.
    #[inline(always)]
    pub fn get(&self, ip: u64) -> Option<Rule> {
        let s = Self::start(ip);
        for i in 0..PROBES {
            let e = &TABLE[(s + i) & (SLOTS - 1)];
            let key = e.key.load(Ordering::Relaxed);
            if key == 0 {
                return None;
            }
            let rule = e.rule.load(Ordering::Relaxed);
            if key ^ self.mix(rule) == ip {
                return Some(Rule::unpack(rule));
            }
        }
        None
    }

    pub fn insert(&self, ip: u64, rule: Rule) {
        let rule = rule.pack();
        let key = ip ^ self.mix(rule);
        if key == 0 {
            // It would read as an empty slot.
            return;
        }
        let s = Self::start(ip);
        let mut target = s & (SLOTS - 1);
        for i in 0..PROBES {
            let slot = (s + i) & (SLOTS - 1);
            let e = &TABLE[slot];
            let k = e.key.load(Ordering::Relaxed);
            if k == 0 || k ^ self.mix(e.rule.load(Ordering::Relaxed)) == ip {
                target = slot;
                break;
            }
        }
        let e = &TABLE[target];
        e.rule.store(rule, Ordering::Relaxed);
        e.key.store(key, Ordering::Relaxed);
    }

    /// Forgets the rules made under older generations of the module list (a module was
    /// unloaded: its addresses may be reused).
    pub fn flush(&mut self, generation: u64) {
        self.generation = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_found_and_forgotten_by_generation() {
        let mut c = RuleCache::new(7);
        let r = Rule {
            kind: Kind::Rbp,
            cfa_off: -40,
            ra_off: -8,
            rbp_off8: -2,
        };
        assert_eq!(Rule::unpack(r.pack()), r);
        let base = 0x5a5a_0000_0000u64;
        for k in 1..=20u64 {
            c.insert(
                base + k * 4096,
                Rule {
                    cfa_off: k as i32,
                    ..r
                },
            );
        }
        for k in 1..=20u64 {
            assert_eq!(c.get(base + k * 4096).map(|r| r.cfa_off), Some(k as i32));
        }
        c.insert(base + 4096, r);
        assert_eq!(c.get(base + 4096), Some(r));
        assert_eq!(c.get(base + 4097), None);
        // Another thread that knows the same generation finds it; one that knows a newer
        // one does not.
        assert_eq!(RuleCache::new(7).get(base + 4096), Some(r));
        c.flush(8);
        assert_eq!(c.get(base + 4096), None);
    }

    #[test]
    fn a_torn_entry_is_not_taken_for_a_rule() {
        let c = RuleCache::new(1);
        let (a, b) = (0x7700_0000_1000u64, 0x7700_0000_2000u64);
        let ra = Rule {
            kind: Kind::Rsp,
            cfa_off: 16,
            ra_off: -8,
            rbp_off8: 0,
        };
        let rb = Rule { cfa_off: 48, ..ra };
        c.insert(a, ra);
        // Half of an entry for `b` over the entry of `a`: its rule word alone.
        let slot = (0..PROBES)
            .map(|i| (RuleCache::start(a) + i) & (SLOTS - 1))
            .find(|&s| TABLE[s].key.load(Ordering::Relaxed) ^ c.mix(ra.pack()) == a)
            .unwrap();
        TABLE[slot].rule.store(rb.pack(), Ordering::Relaxed);
        assert_eq!(c.get(a), None);
        assert_eq!(c.get(b), None);
    }
}
