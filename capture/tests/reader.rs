//! The reader on captures built in memory: exact figures, and no panic whatever the bytes.

use memprof_capture::{analyze, Capture, Error, HeapIndex, Range, Site, Stacks, Summary};
use memprof_format::{chunk, encode, header as h, AllocKind, ChunkState, Record, StackRef};
use memprof_format::{CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE, MAGIC, VERSION};

/// A capture with one chunk per (tid, records) pair, in the given order.
fn build(threads: &[(u32, Vec<Record<'static>>)], flags: u32) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_SIZE];
    b[..8].copy_from_slice(&MAGIC);
    let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(&mut b, h::VERSION, &VERSION.to_le_bytes());
    put(&mut b, h::HEADER_SIZE, &(HEADER_SIZE as u32).to_le_bytes());
    put(&mut b, h::CHUNK_SIZE, &(CHUNK_SIZE as u32).to_le_bytes());
    put(
        &mut b,
        h::POINTER_SIZE,
        &[8, 1, memprof_format::TIME_SHIFT as u8],
    );
    put(&mut b, h::FLAGS, &flags.to_le_bytes());
    put(&mut b, h::PID, &42u32.to_le_bytes());
    // 1 tick = 8 ns: START 0, END 8000 ticks = 8000 ns.
    put(&mut b, h::END_TSC, &8000u64.to_le_bytes());
    put(&mut b, h::END_MONO_NS, &8000u64.to_le_bytes());
    for (tid, records) in threads {
        let start = b.len();
        b.resize(start + CHUNK_SIZE, 0);
        let mut st = ChunkState::new(0);
        let mut pos = start + CHUNK_HEADER_SIZE;
        for r in records {
            pos += encode(&mut b[pos..], &mut st, r);
        }
        put(&mut b, start + chunk::MAGIC, &CHUNK_MAGIC.to_le_bytes());
        put(&mut b, start + chunk::TID, &tid.to_le_bytes());
        put(
            &mut b,
            start + chunk::USED,
            &((pos - start - CHUNK_HEADER_SIZE) as u32).to_le_bytes(),
        );
    }
    b
}

fn stack(node: u64) -> StackRef {
    StackRef {
        node,
        truncated: false,
    }
}

fn alloc(time: u64, addr: u64, size: u64) -> Record<'static> {
    Record::Alloc {
        time,
        kind: AllocKind::Malloc,
        stack: stack(2),
        size,
        addr,
    }
}

fn sample() -> Vec<u8> {
    let main = vec![
        Record::StackNode {
            id: 1,
            parent: 0,
            ip: 0x401000,
        },
        Record::StackNode {
            id: 2,
            parent: 1,
            ip: 0x401234,
        },
        alloc(10, 0x1000, 100),
        alloc(11, 0x2000, 50),
        Record::Free {
            time: 12,
            addr: 0x2000,
        }, // temporary
        Record::Realloc {
            time: 20,
            done: 21,
            stack: stack(2),
            size: 300,
            old: 0x1000,
            new: 0x3000,
        },
        Record::Failed {
            time: 22,
            kind: AllocKind::Calloc,
            stack: stack(2),
            size: u64::MAX,
        },
        Record::Marker {
            time: 23,
            label: b"phase 2",
        },
        alloc(30, 0x4000, 7),
        Record::Exit { time: 40 },
    ];
    // Another thread frees the realloc'd block, then allocates and frees one of its own.
    let other = vec![
        Record::Free {
            time: 25,
            addr: 0x3000,
        },
        alloc(26, 0x5000, 1000),
        Record::Free {
            time: 27,
            addr: 0x5000,
        },
    ];
    build(
        &[(100, main), (101, other)],
        h::flags::CLAIMED | h::flags::EXITED,
    )
}

#[test]
fn the_summary_follows_the_definitions() {
    let c = Capture::from_bytes("sample", sample()).unwrap();
    let s = Summary::of(&c);
    assert_eq!(s.allocations, 5);
    assert_eq!(s.frees, 4);
    assert_eq!(s.bytes_allocated, 100 + 50 + 300 + 7 + 1000);
    assert_eq!(s.failed_allocations, 1);
    assert_eq!(s.leaked_blocks, 1);
    assert_eq!(s.leaked_bytes, 7);
    // 150, then 300 after the realloc, then the other thread's 1000 once 0x3000 is freed.
    assert_eq!(s.peak_bytes, 1000);
    assert_eq!(s.peak_time_ns, 26 * 8);
    // The free at 12 (no allocation in between) and the other thread's free of its own last
    // allocation at 27; not the realloc's release of 0x1000, allocated before 0x2000.
    assert_eq!(s.temporary_allocations, 2);
    assert_eq!(s.threads, 2);
    assert_eq!(s.markers, 1);
    assert!(!s.truncated);
    assert_eq!(s.duration_ns, 8000);
    let stacks = Stacks::read(&c);
    assert_eq!(
        stacks.frames(stack(2)).collect::<Vec<_>>(),
        vec![0x401234, 0x401000]
    );
}

#[test]
fn a_free_merged_before_its_allocation_at_the_same_tick_still_matches() {
    let a = vec![alloc(50, 0x9000, 64)];
    let b = vec![Record::Free {
        time: 50,
        addr: 0x9000,
    }];
    // Thread 1 sorts first, so its free is merged before thread 2's allocation.
    let c = Capture::from_bytes("tie", build(&[(1, b), (2, a)], h::flags::EXITED)).unwrap();
    let s = Summary::of(&c);
    assert_eq!(
        (s.allocations, s.frees, s.leaked_blocks, s.untracked_frees),
        (1, 1, 0, 0)
    );
}

#[test]
fn foreign_empty_and_future_files_are_refused() {
    assert!(matches!(
        Capture::from_bytes("e", vec![]),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Capture::from_bytes("f", b"GIF89a....".to_vec()),
        Err(Error::Foreign { .. })
    ));
    let mut future = sample();
    future[h::VERSION] = 99;
    let err = Capture::from_bytes("v", future).err().unwrap();
    assert!(matches!(err, Error::Version { version: 99, .. }), "{err}");
    let short = sample()[..100].to_vec();
    assert!(matches!(
        Capture::from_bytes("s", short),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn every_prefix_reads_without_panic_and_never_counts_more() {
    let full = sample();
    let whole = Summary::of(&Capture::from_bytes("full", full.clone()).unwrap());
    for cut in (HEADER_SIZE..HEADER_SIZE + 200).chain([full.len() - 1]) {
        let c = Capture::from_bytes("cut", full[..cut].to_vec()).unwrap();
        let s = Summary::of(&c);
        assert!(s.allocations <= whole.allocations);
    }
}

#[test]
fn random_corruption_never_panics() {
    let base = sample();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..2000 {
        let mut b = base.clone();
        for _ in 0..1 + next() % 8 {
            // Mostly the records and chunk headers, sometimes the header.
            let region = if next() % 4 == 0 {
                0..HEADER_SIZE
            } else {
                HEADER_SIZE..HEADER_SIZE + 2 * CHUNK_HEADER_SIZE + 200
            };
            let i = region.start + (next() as usize) % region.len();
            b[i] = next() as u8;
        }
        if let Ok(c) = Capture::from_bytes("fuzz", b) {
            let _ = Summary::of(&c);
            let _ = c.modules();
            let stacks = Stacks::read(&c);
            let _ = stacks.frames(stack(2)).count();
        }
    }
}

#[test]
fn a_free_stamped_after_the_reuse_of_its_address_releases_the_old_block() {
    // Thread 1 allocates 0x7000 at 10 and frees it at 31; thread 2's allocation of the same
    // address is stamped 30, a moment before, by a clock that runs a little behind.
    let a = vec![
        alloc(10, 0x7000, 64),
        Record::Free {
            time: 31,
            addr: 0x7000,
        },
    ];
    let b = vec![
        alloc(30, 0x7000, 32),
        Record::Free {
            time: 40,
            addr: 0x7000,
        },
    ];
    let c = Capture::from_bytes("skew", build(&[(1, a), (2, b)], h::flags::EXITED)).unwrap();
    let s = Summary::of(&c);
    assert_eq!(
        (
            s.allocations,
            s.frees,
            s.leaked_blocks,
            s.untracked_frees,
            s.lost_frees
        ),
        (2, 2, 0, 0, 0)
    );
    assert_eq!(s.peak_bytes, 64);
}

#[test]
fn a_free_stamped_before_its_allocation_by_another_thread_still_matches() {
    // Thread 2 allocates 0xa000 at 20 and hands it to thread 1, whose free is stamped 18 by a
    // clock a little ahead; merged, the free comes first.
    let a = vec![Record::Free {
        time: 18,
        addr: 0xa000,
    }];
    let b = vec![alloc(20, 0xa000, 64)];
    let c = Capture::from_bytes("skew2", build(&[(1, a), (2, b)], h::flags::EXITED)).unwrap();
    let s = Summary::of(&c);
    assert_eq!(
        (s.allocations, s.frees, s.leaked_blocks, s.untracked_frees),
        (1, 1, 0, 0)
    );
}

/// Summary and sites, sites in stack order.
fn analysis(c: &Capture, range: Range) -> (Summary, Vec<Site>) {
    let a = analyze(c, range);
    let mut sites = a.sites;
    sites.sort_by_key(|s| s.stack);
    (a.summary, sites)
}

fn scratch(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("memprof-{name}-{}.mprof", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_stored_heap_index_gives_the_figures_of_a_replay() {
    let path = scratch("index", &sample());
    let before = Capture::open(&path).unwrap();
    assert!(!HeapIndex::is_in(&before));
    let ranges = [
        Range::ALL,
        Range { from: 0, to: 24 },
        Range { from: 11, to: 26 },
        Range { from: 25, to: 100 },
    ];
    let expected: Vec<_> = ranges.iter().map(|&r| analysis(&before, r)).collect();
    // The heap peaks at 300 bytes within (0, 24], with the realloc at 21.
    assert_eq!(expected[1].1[0].figures.peak_bytes, 300);
    HeapIndex::build(&before).append_to(&path).unwrap();
    // A second index, as two first analyses at once would append, changes nothing.
    HeapIndex::build(&before).append_to(&path).unwrap();
    let after = Capture::open(&path).unwrap();
    assert!(HeapIndex::is_in(&after) && HeapIndex::of(&after).is_stored());
    for (&r, e) in ranges.iter().zip(&expected) {
        assert_eq!(&analysis(&after, r), e, "range {r:?}");
    }
    // Stacks, modules and markers come from the index's copies now.
    assert_eq!(after.markers(), before.markers());
    assert_eq!(after.markers().len(), 1);
    assert_eq!(after.modules(), before.modules());
    assert_eq!(
        Stacks::read(&after).frames(stack(2)).collect::<Vec<_>>(),
        vec![0x401234, 0x401000]
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn an_index_that_does_not_fit_the_records_is_not_trusted() {
    let path = scratch("misfit", &sample());
    let expected = analysis(&Capture::open(&path).unwrap(), Range::ALL);
    // An index of another capture with as many threads but other allocations.
    let other = build(
        &[(100, vec![alloc(1, 0x10, 1)]), (101, vec![])],
        h::flags::EXITED,
    );
    let other = Capture::from_bytes("other", other).unwrap();
    HeapIndex::build(&other).append_to(&path).unwrap();
    let c = Capture::open(&path).unwrap();
    assert!(HeapIndex::is_in(&c));
    assert_eq!(analysis(&c, Range::ALL), expected);
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_corrupt_heap_index_never_panics() {
    let path = scratch("corrupt-index", &sample());
    HeapIndex::build(&Capture::open(&path).unwrap())
        .append_to(&path)
        .unwrap();
    let base = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let tables = HEADER_SIZE + 2 * CHUNK_SIZE;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        let mut b = base.clone();
        for _ in 0..1 + rng % 4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = tables + (rng as usize) % (CHUNK_HEADER_SIZE + 120);
            b[i] = (rng >> 32) as u8;
        }
        if let Ok(c) = Capture::from_bytes("fuzz", b) {
            for range in [Range::ALL, Range { from: 0, to: 24 }] {
                let _ = analyze(&c, range).series.columns(&c, range, 50);
            }
            let _ = Stacks::read(&c).frames(stack(2)).count();
        }
    }
}

#[test]
fn building_the_index_tells_its_progress_and_can_be_cancelled() {
    // 10 chunks of one thread, 8,000 events each.
    let chunks: Vec<(u32, Vec<Record<'static>>)> = (0..10u64)
        .map(|c| {
            let records = (0..4000u64)
                .flat_map(|i| {
                    let (t, addr) = (1 + (c * 4000 + i) * 2, 0x10_0000 + i * 16);
                    [alloc(t, addr, 10), Record::Free { time: t + 1, addr }]
                })
                .collect();
            (7, records)
        })
        .collect();
    let c = Capture::from_bytes("many", build(&chunks, h::flags::EXITED)).unwrap();
    let mut told = Vec::new();
    let index = HeapIndex::build_with(&c, &mut |done| {
        told.push(done);
        true
    })
    .unwrap();
    assert_eq!(index.peak_bytes, 10);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0] > 0.7 && told[0] <= 0.9, "{told:?}");
    assert!(HeapIndex::build_with(&c, &mut |_| false).is_none());
    assert_eq!(Summary::of(&c).allocations, 40_000);
    // Stored and read back, its series (many records long) is the same.
    let path = scratch("many", &build(&chunks, h::flags::EXITED));
    index.append_to(&path).unwrap();
    let stored = Capture::open(&path).unwrap();
    let again = HeapIndex::of(&stored);
    assert!(again.is_stored());
    assert!(index.series.buckets.len() > 1000);
    assert_eq!(again.series, index.series);
    std::fs::remove_file(&path).ok();
}

#[test]
fn the_peak_of_any_range_is_the_highest_heap_in_it() {
    // One thread, 12,000 events a tick apart: blocks of varied sizes, freed in a shuffled
    // order, so that the heap rises and falls many times over many series buckets.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut records, mut live, mut heap_after) = (Vec::new(), Vec::new(), Vec::new());
    let mut heap = 0u64;
    for t in 1..=12_000u64 {
        if live.is_empty() || rand() % 5 < 3 {
            let (addr, size) = (0x10_0000 + t * 64, 1 + rand() % 5000);
            records.push(alloc(t, addr, size));
            live.push((addr, size));
            heap += size;
            heap_after.push((t, Some(heap)));
        } else {
            let (addr, size) = live.swap_remove((rand() % live.len() as u64) as usize);
            records.push(Record::Free { time: t, addr });
            heap -= size;
            heap_after.push((t, None));
        }
    }
    // Chunks of 2,000 records.
    let chunks: Vec<(u32, Vec<Record<'static>>)> =
        records.chunks(2000).map(|c| (9, c.to_vec())).collect();
    let c = Capture::from_bytes("peaks", build(&chunks, h::flags::EXITED)).unwrap();
    assert!(HeapIndex::of(&c).series.buckets.len() > 1000);
    for _ in 0..40 {
        let (a, b) = (rand() % 12_001, rand() % 12_001);
        let range = Range {
            from: a.min(b),
            to: a.max(b),
        };
        // The highest heap after an allocation within (from, to].
        let expected = heap_after
            .iter()
            .filter(|(t, _)| range.contains(*t))
            .filter_map(|(_, h)| *h)
            .max()
            .unwrap_or(0);
        let peak: u64 = analyze(&c, range)
            .sites
            .iter()
            .map(|s| s.figures.peak_bytes)
            .sum();
        assert_eq!(peak, expected, "{range:?}");
    }
}
