//! The timeline: a visible span of the capture (zoomed and panned), a selected range, and
//! rows of equal height — the time ruler, the heap, the allocation rate, one per thread, the
//! markers — each drawn as one value range per pixel column.

use memprof_capture::{Column, ThreadActivity, ThreadId};

use super::units;

/// The kinds of rows, top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lane {
    Ruler,
    Heap,
    Rate,
    Thread(ThreadId),
    Markers,
}

impl Lane {
    pub fn label(&self) -> String {
        match self {
            Lane::Ruler => "Time".into(),
            Lane::Heap => "Heap".into(),
            Lane::Rate => "Allocations".into(),
            Lane::Thread(t) => format!("Thread {}", t.0),
            Lane::Markers => "Markers".into(),
        }
    }
}

/// The rows for a capture with these threads.
pub fn lanes(threads: &[ThreadId]) -> Vec<Lane> {
    let mut v = vec![Lane::Ruler, Lane::Heap, Lane::Rate];
    v.extend(threads.iter().map(|&t| Lane::Thread(t)));
    v.push(Lane::Markers);
    v
}

/// The visible span and the selection, in nanoseconds since the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub duration: u64,
    pub from: u64,
    pub to: u64,
    /// The selected range, if any, in order.
    pub selection: Option<(u64, u64)>,
}

/// The narrowest span one can zoom to.
const NARROWEST_NS: u64 = 1_000;

impl View {
    pub fn new(duration: u64) -> View {
        let duration = duration.max(1);
        View {
            duration,
            from: 0,
            to: duration,
            selection: None,
        }
    }

    pub fn span(&self) -> u64 {
        self.to - self.from
    }

    /// The time at fraction `x` of the width.
    pub fn time_at(&self, x: f64) -> u64 {
        let x = x.clamp(0.0, 1.0);
        self.from + (self.span() as f64 * x).round() as u64
    }

    /// The fraction of the width at time `t` (outside 0..1 when not visible).
    pub fn x_of(&self, t: u64) -> f64 {
        (t as f64 - self.from as f64) / self.span() as f64
    }

    /// Zooms by `factor` (below 1: in) keeping the time at fraction `x` where it is.
    pub fn zoom(&mut self, factor: f64, x: f64) {
        let at = self.time_at(x) as f64;
        let span = (self.span() as f64 * factor)
            .clamp(NARROWEST_NS.min(self.duration) as f64, self.duration as f64);
        let from = (at - span * x.clamp(0.0, 1.0)).max(0.0);
        self.set(from as u64, (from + span) as u64);
    }

    /// Moves the visible span by `dx` widths (positive: later).
    pub fn pan(&mut self, dx: f64) {
        let shift = (self.span() as f64 * dx) as i128;
        let span = self.span();
        let from = (i128::from(self.from) + shift).clamp(0, i128::from(self.duration - span));
        self.set(from as u64, from as u64 + span);
    }

    fn set(&mut self, from: u64, to: u64) {
        let span = to.saturating_sub(from).clamp(1, self.duration);
        let from = from.min(self.duration - span);
        (self.from, self.to) = (from, from + span);
    }

    /// Selects from fraction `a` to fraction `b` of the width (in either order); a selection
    /// narrower than a pixel clears it.
    pub fn select(&mut self, a: f64, b: f64, width_px: f64) {
        if (a - b).abs() * width_px < 1.0 {
            self.selection = None;
            return;
        }
        let (a, b) = (self.time_at(a.min(b)), self.time_at(a.max(b)));
        self.selection = Some((a, b));
    }
}

/// Ruler ticks: `(time, label)`, about one per `px_per_tick` pixels, on round times.
pub fn ticks(view: &View, width_px: f64, px_per_tick: f64) -> Vec<(u64, String)> {
    let wanted = (width_px / px_per_tick).max(1.0);
    let raw = view.span() as f64 / wanted;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0) as u64;
    let first = view.from.div_ceil(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|&t| t <= view.to)
        .map(|t| (t, units::time(t)))
        .collect()
}

/// One pixel column of a chart: the lowest and highest value, as fractions of the row's
/// height.
pub type Bar = (f64, f64);

/// The heap per column, scaled so that the highest visible heap fills the row.
pub fn heap_bars(columns: &[Column]) -> Vec<Bar> {
    let top = columns.iter().map(|c| c.heap.max).max().unwrap_or(0).max(1) as f64;
    columns
        .iter()
        .map(|c| (c.heap.min as f64 / top, c.heap.max as f64 / top))
        .collect()
}

/// The allocations per column, scaled so that the busiest column fills the row.
pub fn rate_bars(counts: &[u64]) -> Vec<Bar> {
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts.iter().map(|&n| (0.0, n as f64 / top)).collect()
}

/// A thread's allocations resampled into `columns` columns (from the finer or coarser
/// columns it was counted in over the whole capture), for the visible span of `view`.
pub fn thread_counts(activity: &ThreadActivity, view: &View, columns: usize) -> Vec<u64> {
    let n = activity.allocations.len();
    let mut out = vec![0u64; columns];
    if n == 0 || columns == 0 {
        return out;
    }
    for (i, &count) in activity.allocations.iter().enumerate() {
        // The middle of source column i, as a time.
        let t = ((i as f64 + 0.5) / n as f64 * view.duration as f64) as u64;
        let x = view.x_of(t);
        if (0.0..1.0).contains(&x) {
            out[((x * columns as f64) as usize).min(columns - 1)] += count;
        }
    }
    out
}

/// What a column of the heap chart says: its span, the heap's range in it, and how much
/// was allocated.
pub fn describe(column: &Column) -> String {
    let h = &column.heap;
    format!(
        "{} – {}\nheap {} – {}\n{} allocations, {}",
        units::time(column.from_ns),
        units::time(column.to_ns),
        units::bytes(h.min),
        units::bytes(h.max),
        units::count(h.allocations),
        units::bytes(h.bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_keeps_the_pointer_time_and_pan_stays_inside() {
        let mut v = View::new(1_000_000);
        v.zoom(0.5, 0.5);
        assert_eq!((v.from, v.to), (250_000, 750_000));
        v.zoom(0.5, 0.0);
        assert_eq!((v.from, v.to), (250_000, 500_000));
        v.pan(10.0);
        assert_eq!((v.from, v.to), (750_000, 1_000_000));
        v.pan(-10.0);
        assert_eq!((v.from, v.to), (0, 250_000));
        v.zoom(100.0, 0.3);
        assert_eq!((v.from, v.to), (0, 1_000_000));
    }

    #[test]
    fn selection_is_ordered_and_a_click_clears_it() {
        let mut v = View::new(1000);
        v.select(0.75, 0.25, 400.0);
        assert_eq!(v.selection, Some((250, 750)));
        v.select(0.5, 0.501, 400.0);
        assert_eq!(v.selection, None);
    }

    #[test]
    fn a_column_reads_as_its_figures() {
        let c = Column {
            from_ns: 1_000,
            to_ns: 2_000,
            heap: memprof_capture::Bucket {
                events: 3,
                min: 10,
                max: 4_096,
                first: 10,
                last: 4_096,
                allocations: 2,
                bytes: 4_100,
            },
        };
        assert_eq!(
            describe(&c),
            "1.0 µs – 2.0 µs\nheap 10 B – 4.1 kB\n2 allocations, 4.1 kB"
        );
    }

    #[test]
    fn ticks_fall_on_round_times() {
        let v = View::new(1_000_000_000);
        let t = ticks(&v, 1000.0, 100.0);
        assert_eq!(t.len(), 11);
        assert_eq!(t[1], (100_000_000, "100.0 ms".to_string()));
    }

    #[test]
    fn bars_scale_to_the_highest_value() {
        assert_eq!(rate_bars(&[1, 4, 0]), [(0.0, 0.25), (0.0, 1.0), (0.0, 0.0)]);
        let a = ThreadActivity {
            thread: ThreadId(1),
            allocations: vec![1, 2, 3, 4],
            bytes: vec![0; 4],
        };
        let mut v = View::new(400_000);
        assert_eq!(thread_counts(&a, &v, 2), [3, 7]);
        v.zoom(0.5, 0.0);
        assert_eq!(thread_counts(&a, &v, 2), [1, 2]);
    }
}
