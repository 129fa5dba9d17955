//! The summary view's lines: the whole capture's figures, then those of the selected range.

use memprof_capture::{Figures, Summary};

use super::units;

/// A heading (a section) or a figure with its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Heading(String),
    Figure(String, String),
}

fn figure(name: &str, value: String) -> Line {
    Line::Figure(name.into(), value)
}

/// The lines for `summary` (the whole capture) and `range`: the figures of the allocations
/// made in the selected range (`None`: no selection), `(from_ns, to_ns)`.
pub fn lines(program: &str, summary: &Summary, range: Option<((u64, u64), &Figures)>) -> Vec<Line> {
    let s = summary;
    let mut v = vec![
        Line::Heading(format!("{program} — whole capture")),
        figure("Duration", units::time(s.duration_ns)),
        figure("Allocations", units::count(s.allocations)),
        figure("Frees", units::count(s.frees)),
        figure("Bytes allocated", units::bytes(s.bytes_allocated)),
        figure(
            "Peak heap",
            format!(
                "{} at {}",
                units::bytes(s.peak_bytes),
                units::time(s.peak_time_ns)
            ),
        ),
        figure(
            "Leaked",
            format!(
                "{} in {} blocks",
                units::bytes(s.leaked_bytes),
                units::count(s.leaked_blocks)
            ),
        ),
        figure(
            "Temporary allocations",
            units::count(s.temporary_allocations),
        ),
        figure("Threads", units::count(s.threads)),
        figure("Markers", units::count(s.markers)),
    ];
    if s.failed_allocations > 0 {
        v.push(figure(
            "Failed allocations",
            units::count(s.failed_allocations),
        ));
    }
    if s.cross_thread_frees > 0 {
        v.push(figure(
            "Freed by another thread",
            units::count(s.cross_thread_frees),
        ));
    }
    match (s.signal, s.exit_code) {
        (Some(sig), _) => v.push(figure("Ended", format!("killed by signal {sig}"))),
        (None, Some(code)) => v.push(figure("Exit status", code.to_string())),
        _ if s.truncated => v.push(figure("Ended", "cut short".into())),
        _ => {}
    }
    if let Some(c) = &s.corruption {
        v.push(figure("Damaged", c.clone()));
    }
    if let Some(((from, to), f)) = range {
        v.push(Line::Heading(format!(
            "Selected range {} – {}",
            units::time(from),
            units::time(to)
        )));
        v.push(figure("Allocations", units::count(f.allocations)));
        v.push(figure("Bytes allocated", units::bytes(f.bytes)));
        v.push(figure("Peak heap in it, held", units::bytes(f.peak_bytes)));
        v.push(figure(
            "Still live at its end",
            format!(
                "{} in {} blocks",
                units::bytes(f.leaked_bytes),
                units::count(f.leaked_blocks)
            ),
        ));
        v.push(figure("Temporary allocations", units::count(f.temporary)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_adds_its_own_section() {
        let s = Summary {
            allocations: 1500,
            leaked_bytes: 4096,
            leaked_blocks: 1,
            exit_code: Some(0),
            ..Summary::default()
        };
        let whole = lines("prog", &s, None);
        assert!(whole.contains(&figure("Allocations", "1,500".into())));
        assert!(whole.contains(&figure("Leaked", "4.1 kB in 1 blocks".into())));
        assert!(whole.contains(&figure("Exit status", "0".into())));
        let f = Figures {
            allocations: 7,
            ..Figures::default()
        };
        let ranged = lines("prog", &s, Some(((0, 2_000_000), &f)));
        assert_eq!(ranged.len(), whole.len() + 6);
        assert_eq!(
            ranged[whole.len()],
            Line::Heading("Selected range 0 ns – 2.0 ms".into())
        );
    }
}
