//! Work shared among the cores: items handed out one at a time to a worker per core, each
//! with a state of its own, so that parts of unequal cost even out.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls `each(state, i, &items[i])` for every item, on a worker per core (the calling thread
/// is one of them), each worker with a state from `init`; returns the workers' states.
pub(crate) fn share<T: Sync, S: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, usize, &T) + Sync,
) -> Vec<S> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return state;
            };
            each(&mut state, i, item);
        }
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut all = vec![work()];
        all.extend(others.into_iter().map(|h| h.join().expect("worker")));
        all
    })
}

/// Drops `value` on a thread of its own: giving back the memory of a large table takes tens
/// of milliseconds that the caller (about to print its result) need not wait for.
pub fn drop_aside<T: Send + 'static>(value: T) {
    // Without a thread, the value is dropped here, with the closure that holds it.
    let _ = std::thread::Builder::new()
        .name("memprof-drop".into())
        .spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_taken_once() {
        let items: Vec<u64> = (0..1000).collect();
        let states = share(&items, Vec::new, |seen: &mut Vec<(usize, u64)>, i, &v| {
            seen.push((i, v))
        });
        let mut all: Vec<(usize, u64)> = states.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).map(|i| (i as usize, i)).collect::<Vec<_>>());
        assert_eq!(share(&[] as &[u64], || 7, |_, _, _| {}), vec![7]);
    }

    #[test]
    fn a_value_dropped_aside_is_dropped() {
        let value = std::sync::Arc::new(vec![0u8; 1 << 20]);
        drop_aside(std::sync::Arc::clone(&value));
        let start = std::time::Instant::now();
        while std::sync::Arc::strong_count(&value) > 1 {
            assert!(start.elapsed().as_secs() < 60, "never dropped");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
