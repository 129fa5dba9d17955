//! The summary view's lines: the whole capture's figures, then those of the selected range.

use memprof_capture::{Figures, Summary, ThreadFigures};

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
        // By its own allocations: those made before it are not the range's.
        v.push(figure("Held at its peak", units::bytes(f.peak_bytes)));
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

/// A section for each thread's share of the range shown (the whole capture, or the
/// selection): its allocations, bytes, what it still held at the end, and how many of its
/// blocks other threads freed.
pub fn thread_lines(threads: &[ThreadFigures]) -> Vec<Line> {
    let mut v = vec![Line::Heading("Threads".into())];
    for t in threads {
        let f = &t.figures;
        let mut text = format!(
            "{} allocations, {}, {} live at the end",
            units::count(f.allocations),
            units::bytes(f.bytes),
            units::bytes(f.leaked_bytes)
        );
        if t.freed_by_other_threads > 0 {
            text += &format!(
                ", {} freed by other threads",
                units::count(t.freed_by_other_threads)
            );
        }
        v.push(figure(&format!("Thread {}", t.thread.0), text));
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

    #[test]
    fn each_thread_has_a_line() {
        let t = ThreadFigures {
            thread: memprof_capture::ThreadId(42),
            figures: Figures {
                allocations: 1000,
                bytes: 64_000,
                leaked_bytes: 64,
                ..Figures::default()
            },
            freed_by_other_threads: 3,
        };
        assert_eq!(
            thread_lines(&[t]),
            [
                Line::Heading("Threads".into()),
                figure(
                    "Thread 42",
                    "1,000 allocations, 64.0 kB, 64 B live at the end, 3 freed by other threads"
                        .into()
                )
            ]
        );
    }
}
