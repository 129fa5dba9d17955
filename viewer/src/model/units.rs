//! Figures as the views print them: bytes and counts as `memprof report` prints them, and
//! what only the views need.

pub use memprof_capture::units::{bytes, count};

/// A signed byte change: `+4.1 MB`, `-512 B`, `0 B`.
pub fn signed_bytes(n: i128) -> String {
    let magnitude = bytes(u64::try_from(n.unsigned_abs()).unwrap_or(u64::MAX));
    match n.signum() {
        1 => format!("+{magnitude}"),
        -1 => format!("-{magnitude}"),
        _ => magnitude,
    }
}

/// A moment or a span in the unit that suits it: `850 ns`, `12.5 µs`, `3.2 ms`, `1.500 s`.
pub fn time(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", v / 1e6)
    } else {
        format!("{:.3} s", v / 1e9)
    }
}

/// A share as a percentage with one decimal; `part` of 0 total is 0 %.
pub fn percent(part: u64, total: u64) -> String {
    if total == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(4_096_000), "4.1 MB");
        assert_eq!(signed_bytes(-512), "-512 B");
        assert_eq!(signed_bytes(1500), "+1.5 kB");
        assert_eq!(signed_bytes(0), "0 B");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(time(1_500_000_000), "1.500 s");
        assert_eq!(time(2_500), "2.5 µs");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "0.0%");
    }
}
