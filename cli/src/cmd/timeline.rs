//! `memprof report --timeline`: the heap and the allocation rate over time, as sparklines.

use std::io::Write;

use memprof_capture::Column;

use memprof_capture::units;

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per column: `value` of each on a scale from 0 to the largest.
fn sparkline(columns: &[Column], value: impl Fn(&Column) -> u64) -> (String, u64) {
    let most = columns.iter().map(&value).max().unwrap_or(0);
    let line = columns
        .iter()
        .map(|c| match value(c) {
            0 => ' ',
            v => LEVELS[((v * 8 - 1) / most.max(1)).min(7) as usize],
        })
        .collect();
    (line, most)
}

pub fn write(out: &mut impl Write, columns: &[Column]) -> std::io::Result<()> {
    let (Some(first), Some(last)) = (columns.first(), columns.last()) else {
        return Ok(());
    };
    let width = first.to_ns - first.from_ns;
    writeln!(out)?;
    writeln!(
        out,
        "Heap over time, {} to {} in {} columns of {}:",
        units::duration(first.from_ns),
        units::duration(last.to_ns),
        columns.len(),
        units::duration(width)
    )?;
    let (heap, most) = sparkline(columns, |c| c.heap.max);
    writeln!(out, "{:>12} |{heap}|", units::bytes(most))?;
    let (rate, most) = sparkline(columns, |c| c.heap.allocations);
    let per_second = (most as u128 * 1_000_000_000 / u128::from(width.max(1))) as u64;
    let per_second = units::count(per_second);
    writeln!(
        out,
        "{:>12} |{rate}|  allocations (at most {per_second} per second)",
        units::count(most)
    )?;
    Ok(())
}
