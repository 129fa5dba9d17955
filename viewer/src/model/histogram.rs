//! The size histogram: one bar per power-of-two class of request sizes.

use memprof_capture::SizeClass;

use super::units;

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The class, `"64 B – 127 B"`.
    pub label: String,
    pub allocations: u64,
    pub bytes: u64,
    /// The bar's length: its allocations as a fraction of the largest class's.
    pub fraction: f64,
}

/// The bars of `classes` (smallest sizes first, as the analysis lists them).
pub fn bars(classes: &[SizeClass]) -> Vec<Bar> {
    let top = classes
        .iter()
        .map(|c| c.allocations)
        .max()
        .unwrap_or(0)
        .max(1);
    classes
        .iter()
        .map(|c| Bar {
            label: if c.from == c.to {
                units::bytes(c.from)
            } else {
                format!("{} – {}", units::bytes(c.from), units::bytes(c.to))
            },
            allocations: c.allocations,
            bytes: c.bytes,
            fraction: c.allocations as f64 / top as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_shares_of_the_largest_class() {
        let classes = [
            SizeClass {
                from: 0,
                to: 0,
                allocations: 1,
                bytes: 0,
            },
            SizeClass {
                from: 64,
                to: 127,
                allocations: 4,
                bytes: 400,
            },
        ];
        let b = bars(&classes);
        assert_eq!(b[0].label, "0 B");
        assert_eq!(b[1].label, "64 B – 127 B");
        assert_eq!((b[0].fraction, b[1].fraction), (0.25, 1.0));
    }
}
