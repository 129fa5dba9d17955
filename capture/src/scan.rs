//! One read of every thread's records beside the heap index: the summary and the sites of a
//! range. Chunks decode on their own, so runs of them are read on every core at once.

use std::ops::Range as Span;

use rustc_hash::FxHashMap as HashMap;

use memprof_format::{Brief, Lifetime};

use crate::events::ThreadStream;
use crate::index::HeapIndex;
use crate::sites::end_of;
use crate::sites::{Analysis, Scope, SizeClass, ThreadFigures};
use crate::{Capture, DecodeProblem, Figures, NodeId, Site, Summary};

/// Chunks read as one piece of work: enough to make the hand-over cheap, few enough to share
/// a capture of a few hundred chunks between cores evenly.
const CHUNKS_PER_PART: usize = 16;

/// A run of one thread stream's chunks.
struct Part {
    stream: usize,
    chunks: Span<usize>,
}

/// What the reading of some parts found.
#[derive(Default)]
struct Partial {
    summary: Summary,
    sites: SiteTable,
    /// Per thread stream.
    threads: Vec<ThreadFigures>,
    /// Per size class: allocations and bytes.
    sizes: Vec<(u64, u64)>,
    last_time: u64,
    problem: Option<DecodeProblem>,
    /// The index did not fit the records.
    misfit: bool,
}

/// The analysis of `scope`, whose peak (if it has one) is at `peak_time`. `None` when the
/// index does not fit the records.
pub(crate) fn scan(
    capture: &Capture,
    index: &HeapIndex,
    scope: Scope,
    peak_time: Option<u64>,
) -> Option<Analysis> {
    let parts: Vec<Part> = capture
        .threads
        .iter()
        .enumerate()
        .flat_map(|(stream, t)| {
            (0..t.chunks.len())
                .step_by(CHUNKS_PER_PART)
                .map(move |c| Part {
                    stream,
                    chunks: c..(c + CHUNKS_PER_PART).min(t.chunks.len()),
                })
        })
        .collect();
    let threads: Vec<ThreadFigures> = capture
        .threads
        .iter()
        .map(|t| ThreadFigures {
            thread: t.tid,
            ..ThreadFigures::default()
        })
        .collect();
    let partials: Vec<Partial> = crate::cores::share(
        &parts,
        || Partial {
            threads: threads.clone(),
            sizes: vec![(0, 0); SizeClass::COUNT],
            ..Partial::default()
        },
        |p, _, part| read_part(capture, index, part, scope, peak_time, p),
    );
    let mut s = Summary::from_header(capture);
    let mut sites = SiteTable::default();
    let mut threads = threads;
    let mut sizes: Vec<SizeClass> = (0..SizeClass::COUNT).map(SizeClass::nth).collect();
    let (mut last_time, mut problem) = (0, None::<DecodeProblem>);
    for p in partials {
        if p.misfit {
            return None;
        }
        add(&mut s, &p.summary);
        sites.merge(p.sites);
        for (all, part) in threads.iter_mut().zip(&p.threads) {
            all.figures.add(&part.figures);
            all.freed_by_other_threads += part.freed_by_other_threads;
        }
        for (class, &(n, bytes)) in sizes.iter_mut().zip(&p.sizes) {
            class.allocations += n;
            class.bytes += bytes;
        }
        last_time = last_time.max(p.last_time);
        if let Some(q) = p.problem {
            if problem.is_none_or(|r| q.offset < r.offset) {
                problem = Some(q);
            }
        }
    }
    Some(Analysis {
        summary: s.complete(capture, index, last_time, problem),
        sites: sites.into_sites(),
        threads,
        sizes: sizes.into_iter().filter(|c| c.allocations > 0).collect(),
        series: Default::default(),
    })
}

/// Adds the counts of `b` to `a`.
fn add(a: &mut Summary, b: &Summary) {
    a.allocations += b.allocations;
    a.frees += b.frees;
    a.bytes_allocated += b.bytes_allocated;
    a.failed_allocations += b.failed_allocations;
    a.leaked_bytes += b.leaked_bytes;
    a.leaked_blocks += b.leaked_blocks;
    a.temporary_allocations += b.temporary_allocations;
    a.markers += b.markers;
    a.truncated_stacks += b.truncated_stacks;
    a.cross_thread_frees += b.cross_thread_frees;
}

fn read_part(
    capture: &Capture,
    index: &HeapIndex,
    part: &Part,
    scope: Scope,
    peak_time: Option<u64>,
    out: &mut Partial,
) {
    let range = scope.range;
    let in_scope = scope
        .thread
        .is_none_or(|t| t == capture.threads[part.stream].tid);
    let walked = walk(
        capture,
        index,
        part.stream,
        part.chunks.clone(),
        |b, lifetime| {
            let s = &mut out.summary;
            out.last_time = out.last_time.max(b.time().unwrap_or(0));
            let (Some((time, stack, size)), Some(lifetime)) = (b.allocation(), lifetime) else {
                match b {
                    Brief::Failed { .. } => s.failed_allocations += 1,
                    Brief::Marker { .. } => s.markers += 1,
                    _ => {}
                }
                return;
            };
            s.allocations += 1;
            s.bytes_allocated += size;
            s.truncated_stacks += u64::from(stack.truncated);
            let (mut temporary, mut elsewhere) = (false, false);
            match lifetime {
                Lifetime::Live => {
                    s.leaked_bytes += size;
                    s.leaked_blocks += 1;
                }
                Lifetime::Freed {
                    temporary: t,
                    elsewhere: e,
                    ..
                } => {
                    s.frees += 1;
                    s.temporary_allocations += u64::from(t);
                    s.cross_thread_frees += u64::from(e);
                    (temporary, elsewhere) = (t, e);
                }
                Lifetime::Lost { .. } => {}
            }
            let end = end_of(time, lifetime);
            let in_range = range.contains(time);
            let at_peak = peak_time.is_some_and(|p| time <= p && end.is_none_or(|e| e > p));
            let ended_in_range = end.is_some_and(|e| e <= range.to);
            // What an allocation adds to the figures of whatever it belongs to.
            let count = |f: &mut Figures| {
                if at_peak {
                    f.peak_bytes += size;
                }
                if in_range {
                    f.allocated(size);
                    f.truncated_stacks += u64::from(stack.truncated);
                    if temporary && ended_in_range {
                        f.temporary += 1;
                    }
                    if !ended_in_range {
                        f.leaked_bytes += size;
                        f.leaked_blocks += 1;
                    }
                }
            };
            let thread = &mut out.threads[part.stream];
            count(&mut thread.figures);
            thread.freed_by_other_threads += u64::from(in_range && elsewhere);
            if in_scope && !scope.summary_only && (in_range || at_peak) {
                count(&mut out.sites.get(NodeId(stack.node)).figures);
                if in_range {
                    let class = &mut out.sizes[SizeClass::of(size)];
                    class.0 += 1;
                    class.1 += size;
                }
            }
        },
    );
    match walked {
        Err(Misfit) => out.misfit = true,
        Ok(Some(p)) if out.problem.is_none_or(|q| p.offset < q.offset) => out.problem = Some(p),
        Ok(_) => {}
    }
}

/// The heap index does not fit the records it is read with.
#[derive(Debug)]
pub(crate) struct Misfit;

/// Reads chunks `chunks` of thread stream `stream` in order, handing `f` each record with the
/// lifetime of the block it obtained, if it obtained one. Returns where decoding stopped
/// early, if it did.
pub(crate) fn walk(
    capture: &Capture,
    index: &HeapIndex,
    stream: usize,
    chunks: Span<usize>,
    mut f: impl FnMut(Brief, Option<Lifetime>),
) -> Result<Option<DecodeProblem>, Misfit> {
    let thread = &capture.threads[stream];
    let mut records =
        ThreadStream::of_chunks(capture.bytes(), thread.tid, &thread.chunks[chunks.clone()]);
    let mut lifetimes = index.lifetimes(stream, chunks);
    while let Some(b) = records.next_brief() {
        let lifetime = match b.allocation() {
            Some(_) => Some(lifetimes.next().ok_or(Misfit)?),
            None => None,
        };
        f(b, lifetime);
    }
    match lifetimes.next() {
        Some(_) => Err(Misfit),
        None => Ok(records.problem),
    }
}

/// Sites by stack, with the last one looked up kept at hand (allocations come in runs from
/// one stack).
#[derive(Default)]
struct SiteTable {
    by_stack: HashMap<NodeId, usize>,
    sites: Vec<Site>,
    last: Option<(NodeId, usize)>,
}

impl SiteTable {
    fn get(&mut self, stack: NodeId) -> &mut Site {
        let i = match self.last {
            Some((s, i)) if s == stack => i,
            _ => {
                let next = self.sites.len();
                let i = *self.by_stack.entry(stack).or_insert(next);
                if i == next {
                    self.sites.push(Site {
                        stack,
                        ..Site::default()
                    });
                }
                self.last = Some((stack, i));
                i
            }
        };
        &mut self.sites[i]
    }

    /// Adds the sites of `other`.
    fn merge(&mut self, other: SiteTable) {
        for o in other.sites {
            self.get(o.stack).figures.add(&o.figures);
        }
    }

    fn into_sites(self) -> Vec<Site> {
        self.sites
    }
}
