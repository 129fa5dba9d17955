//! Points in time on the command line: `1.5s`, `250ms`, `2` (seconds), `start`, `peak`,
//! `end`, or the label of a marker.

use memprof_capture::{Capture, Range, Summary};

use crate::cmd::fail;
use memprof_capture::units;

/// A point in time as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    Start,
    Peak,
    End,
    Ns(u64),
    Marker(String),
}

/// Parses a time; anything that is not a number with a unit or a keyword is a marker label.
pub fn parse(text: &str) -> Result<TimeSpec, String> {
    let t = text.trim();
    match t {
        "start" => return Ok(TimeSpec::Start),
        "peak" => return Ok(TimeSpec::Peak),
        "end" => return Ok(TimeSpec::End),
        _ => {}
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "ns" => 1.0,
        _ => return Ok(TimeSpec::Marker(t.to_string())),
    };
    match number.parse::<f64>() {
        Ok(v) if v >= 0.0 => Ok(TimeSpec::Ns((v * scale).round() as u64)),
        _ => Ok(TimeSpec::Marker(t.to_string())),
    }
}

/// The record time `spec` names in `capture`.
fn resolve(spec: &TimeSpec, capture: &Capture, end_ns: u64) -> anyhow::Result<u64> {
    Ok(match spec {
        TimeSpec::Start => 0,
        TimeSpec::End => u64::MAX,
        // One tick of slack: the peak's own allocation belongs to a range ending there.
        TimeSpec::Peak => capture.ticks(Summary::of(capture).peak_time_ns) + 1,
        TimeSpec::Ns(ns) => {
            if *ns > end_ns {
                return fail(
                    2,
                    format!(
                        "{} is after the end of the capture ({})",
                        units::seconds(*ns),
                        units::seconds(end_ns)
                    ),
                );
            }
            capture.ticks(*ns)
        }
        TimeSpec::Marker(label) => {
            let markers = capture.markers();
            match markers.iter().find(|m| &m.0 == label) {
                Some(m) => m.1,
                None => {
                    let known: Vec<&str> = markers.iter().map(|m| m.0.as_str()).collect();
                    let known = if known.is_empty() {
                        "it has none".to_string()
                    } else {
                        format!("it has: {}", known.join(", "))
                    };
                    return fail(
                        2,
                        format!(
                            "no marker {label:?} in {} ({known})",
                            capture.path().display()
                        ),
                    );
                }
            }
        }
    })
}

/// The range `--at`/`--from`/`--to` select; the whole capture when none is given.
pub fn range(
    capture: &Capture,
    at: Option<&TimeSpec>,
    from: Option<&TimeSpec>,
    to: Option<&TimeSpec>,
) -> anyhow::Result<Range> {
    if at.is_none() && from.is_none() && to.is_none() {
        return Ok(Range::ALL);
    }
    let end_ns = Summary::of(capture).duration_ns;
    let (from, to) = match at {
        // At the start itself the heap is (nearly) empty, not an error.
        Some(at) => (0, resolve(at, capture, end_ns)?.max(1)),
        None => (
            from.map_or(Ok(0), |f| resolve(f, capture, end_ns))?,
            to.map_or(Ok(u64::MAX), |t| resolve(t, capture, end_ns))?,
        ),
    };
    if from >= to {
        return fail(2, "the range is empty: --from must come before --to");
    }
    Ok(Range { from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse("1.5s"), Ok(TimeSpec::Ns(1_500_000_000)));
        assert_eq!(parse("250ms"), Ok(TimeSpec::Ns(250_000_000)));
        assert_eq!(parse("2"), Ok(TimeSpec::Ns(2_000_000_000)));
        assert_eq!(parse("peak"), Ok(TimeSpec::Peak));
        assert_eq!(parse("phase 2"), Ok(TimeSpec::Marker("phase 2".into())));
        assert_eq!(parse("3 apples"), Ok(TimeSpec::Marker("3 apples".into())));
    }
}
