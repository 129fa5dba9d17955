//! Record encoding.
//!
//! Every record starts with a tag byte. Times are deltas (shifted TSC ticks) from the previous
//! record of the same chunk; addresses are zigzag deltas from the previous address of the
//! chunk, divided by 16 when the delta is a multiple of 16 (glibc's alignment), which keeps a
//! typical allocation record at 7–9 bytes and a free at 4–5.

use crate::varint::{read_varint, write_varint, zigzag_decode, zigzag_encode};

/// Largest encoding of any record except [`Record::ModuleLoad`], [`Record::Marker`] and
/// [`Record::SymbolString`].
pub const MAX_FIXED_RECORD: usize = 64;
/// Longest path or label stored; longer ones are cut.
pub const MAX_PATH_BYTES: usize = 4096;

pub(crate) const TAG_ALLOC: u8 = 0x10; // | kind
pub(crate) const TAG_FREE: u8 = 0x20;
pub(crate) const TAG_FAILED: u8 = 0x30; // | kind
pub(crate) const TAG_REALLOC: u8 = 0x40;
pub(crate) const TAG_REALLOC_FREE: u8 = 0x41;
pub(crate) const TAG_STACK_NODE: u8 = 0x50;
pub(crate) const TAG_MODULE_LOAD: u8 = 0x60;
pub(crate) const TAG_MODULE_UNLOAD: u8 = 0x61;
pub(crate) const TAG_THREAD_START: u8 = 0x70;
pub(crate) const TAG_THREAD_END: u8 = 0x71;
pub(crate) const TAG_EXIT: u8 = 0x72;
pub(crate) const TAG_MARKER: u8 = 0x80;
pub(crate) const TAG_SYMBOL_STRING: u8 = 0x90;
pub(crate) const TAG_SYMBOL_FRAME: u8 = 0x91;
pub(crate) const TAG_MODULE_STATUS: u8 = 0x92;
pub(crate) const TAG_HEAP_INDEX: u8 = 0xa0;
pub(crate) const TAG_LIFETIMES: u8 = 0xa1;
pub(crate) const TAG_HEAP_SERIES: u8 = 0xa2;

/// Which allocating function produced a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AllocKind {
    Malloc = 0,
    Calloc = 1,
    /// `realloc(NULL, n)`, `reallocarray(NULL, ...)`, or a failed `realloc`.
    Realloc = 2,
    PosixMemalign = 3,
    AlignedAlloc = 4,
    Memalign = 5,
    Valloc = 6,
    Pvalloc = 7,
}

impl AllocKind {
    /// All kinds, in tag order.
    pub const ALL: [AllocKind; 8] = [
        AllocKind::Malloc,
        AllocKind::Calloc,
        AllocKind::Realloc,
        AllocKind::PosixMemalign,
        AllocKind::AlignedAlloc,
        AllocKind::Memalign,
        AllocKind::Valloc,
        AllocKind::Pvalloc,
    ];

    /// The C function's name.
    pub fn name(self) -> &'static str {
        match self {
            AllocKind::Malloc => "malloc",
            AllocKind::Calloc => "calloc",
            AllocKind::Realloc => "realloc",
            AllocKind::PosixMemalign => "posix_memalign",
            AllocKind::AlignedAlloc => "aligned_alloc",
            AllocKind::Memalign => "memalign",
            AllocKind::Valloc => "valloc",
            AllocKind::Pvalloc => "pvalloc",
        }
    }
}

/// A reference to an interned stack: the id of its innermost trie node (0: no frames) and
/// whether frames beyond the maximum depth were cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StackRef {
    pub node: u64,
    pub truncated: bool,
}

/// One decoded record. Times are absolute shifted TSC ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A successful allocation of `size` requested bytes at `addr`.
    Alloc {
        time: u64,
        kind: AllocKind,
        stack: StackRef,
        size: u64,
        addr: u64,
    },
    /// `free(addr)` of a non-NULL pointer, stamped before the block was released.
    Free { time: u64, addr: u64 },
    /// A successful `realloc(old, size)` with `old` non-NULL that returned `new`. `old` was
    /// released at `time` (stamped before the call) and `new` obtained at `done` (stamped after
    /// it), so that another thread reusing either address is ordered correctly.
    Realloc {
        time: u64,
        done: u64,
        stack: StackRef,
        size: u64,
        old: u64,
        new: u64,
    },
    /// `realloc(old, 0)` that released `old` and returned NULL.
    ReallocFree {
        time: u64,
        stack: StackRef,
        old: u64,
    },
    /// An allocating call that returned NULL (or an error code).
    Failed {
        time: u64,
        kind: AllocKind,
        stack: StackRef,
        size: u64,
    },
    /// Trie node `id` = the stack of node `parent` (0: the root) called from return address
    /// `ip`, which is one frame further in.
    StackNode { id: u64, parent: u64, ip: u64 },
    /// A module (executable or shared object) mapped at `base`.
    ModuleLoad {
        time: u64,
        base: u64,
        size: u64,
        build_id: &'a [u8],
        path: &'a [u8],
    },
    /// The module at `base` was unmapped.
    ModuleUnload { time: u64, base: u64 },
    /// The writing thread started recording.
    ThreadStart { time: u64 },
    /// The writing thread exited.
    ThreadEnd { time: u64 },
    /// The process began to exit normally: what follows is the release of libc's and
    /// libstdc++'s internal buffers, some of which the loader allocated before any hook ran
    /// (their frees match no recorded allocation and are not errors).
    Exit { time: u64 },
    /// A label for a point in time.
    Marker { time: u64, label: &'a [u8] },
    /// String `id` of the symbol tables (function and file names), written after the run.
    SymbolString { id: u64, text: &'a [u8] },
    /// Frame `depth` (0: innermost inlined function) of return address `ip`: function,
    /// source file (string ids, 0: unknown) and line (0: unknown).
    SymbolFrame {
        ip: u64,
        depth: u64,
        function: u64,
        file: u64,
        line: u64,
    },
    /// How the module mapped at `base` could be symbolized (see `module_status`).
    ModuleStatus { base: u64, status: u64 },
    /// Heads the heap index written after the run: the figures that only a replay of every
    /// thread's events in time order can give. `threads` is the number of recorded threads the
    /// index covers.
    HeapIndex {
        peak_bytes: u64,
        peak_time: u64,
        untracked_frees: u64,
        lost_frees: u64,
        threads: u64,
    },
    /// The next lifetimes of the allocations in chunk number `chunk` of recorded thread number
    /// `thread` (both counted in file order among the thread ids' chunks), one varint
    /// ([`crate::Lifetime::code`]) per allocation in record order.
    Lifetimes {
        thread: u64,
        chunk: u64,
        data: &'a [u8],
    },
    /// The next buckets of the heap over time, of `width` time units each from `start`: per
    /// bucket, varints of its event count and, when not 0, its smallest, largest, first and
    /// last heap size, allocations and bytes.
    HeapSeries {
        start: u64,
        width: u64,
        data: &'a [u8],
    },
}

impl Record<'_> {
    /// When the record happened, for the records that carry a time (a realloc: when it was
    /// called).
    pub fn time(&self) -> Option<u64> {
        match *self {
            Record::Alloc { time, .. }
            | Record::Free { time, .. }
            | Record::Realloc { time, .. }
            | Record::ReallocFree { time, .. }
            | Record::Failed { time, .. }
            | Record::ModuleLoad { time, .. }
            | Record::ModuleUnload { time, .. }
            | Record::ThreadStart { time }
            | Record::ThreadEnd { time }
            | Record::Exit { time }
            | Record::Marker { time, .. } => Some(time),
            Record::StackNode { .. }
            | Record::SymbolString { .. }
            | Record::SymbolFrame { .. }
            | Record::ModuleStatus { .. }
            | Record::HeapIndex { .. }
            | Record::Lifetimes { .. }
            | Record::HeapSeries { .. } => None,
        }
    }
}

/// Delta-encoding state of one chunk; starts at `(base_time, 0)` for every chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkState {
    pub time: u64,
    pub addr: u64,
}

impl ChunkState {
    /// The state at the top of a chunk whose header holds `base_time`.
    pub fn new(base_time: u64) -> Self {
        ChunkState {
            time: base_time,
            addr: 0,
        }
    }

    #[inline(always)]
    fn put_time(&mut self, buf: &mut [u8], pos: &mut usize, time: u64) {
        // A clock that steps back (it should not) is clamped so that order is kept.
        let dt = time.saturating_sub(self.time);
        self.time += dt;
        write_varint(buf, pos, dt);
    }

    #[inline(always)]
    fn put_addr(&mut self, buf: &mut [u8], pos: &mut usize, addr: u64) {
        let delta = addr.wrapping_sub(self.addr) as i64;
        self.addr = addr;
        let code = if delta & 15 == 0 {
            zigzag_encode(delta >> 4) << 1
        } else {
            (zigzag_encode(delta) << 1) | 1
        };
        write_varint(buf, pos, code);
    }

    #[inline(always)]
    pub(crate) fn get_time(&mut self, buf: &[u8], pos: &mut usize) -> Option<u64> {
        self.time = self.time.checked_add(read_varint(buf, pos)?)?;
        Some(self.time)
    }

    #[inline(always)]
    pub(crate) fn get_addr(&mut self, buf: &[u8], pos: &mut usize) -> Option<u64> {
        let code = read_varint(buf, pos)?;
        let delta = if code & 1 == 0 {
            zigzag_decode(code >> 1) << 4
        } else {
            zigzag_decode(code >> 1)
        };
        self.addr = self.addr.wrapping_add(delta as u64);
        Some(self.addr)
    }
}

#[inline(always)]
fn put_stack(buf: &mut [u8], pos: &mut usize, s: StackRef) {
    write_varint(buf, pos, (s.node << 1) | s.truncated as u64);
}

#[inline(always)]
pub(crate) fn get_stack(buf: &[u8], pos: &mut usize) -> Option<StackRef> {
    let v = read_varint(buf, pos)?;
    Some(StackRef {
        node: v >> 1,
        truncated: v & 1 == 1,
    })
}

fn put_bytes(buf: &mut [u8], pos: &mut usize, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(MAX_PATH_BYTES)];
    write_varint(buf, pos, bytes.len() as u64);
    buf[*pos..*pos + bytes.len()].copy_from_slice(bytes);
    *pos += bytes.len();
}

pub(crate) fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_varint(buf, pos)?).ok()?;
    if len > MAX_PATH_BYTES {
        return None;
    }
    let b = buf.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(b)
}

/// Bytes that [`encode`] may need for `rec`.
#[inline(always)]
pub fn encoded_len_bound(rec: &Record) -> usize {
    match rec {
        Record::ModuleLoad { build_id, path, .. } => {
            MAX_FIXED_RECORD + build_id.len().min(MAX_PATH_BYTES) + path.len().min(MAX_PATH_BYTES)
        }
        Record::Marker { label, .. } => MAX_FIXED_RECORD + label.len().min(MAX_PATH_BYTES),
        Record::SymbolString { text, .. } => MAX_FIXED_RECORD + text.len().min(MAX_PATH_BYTES),
        Record::Lifetimes { data, .. } | Record::HeapSeries { data, .. } => {
            MAX_FIXED_RECORD + data.len().min(MAX_PATH_BYTES)
        }
        _ => MAX_FIXED_RECORD,
    }
}

/// Encodes `rec` at the start of `buf` and returns its length.
///
/// `buf` must hold at least [`encoded_len_bound`] bytes; otherwise this panics (the recorder
/// checks the space before it calls).
#[inline(always)]
pub fn encode(buf: &mut [u8], st: &mut ChunkState, rec: &Record) -> usize {
    let mut pos = 1;
    let tag = match *rec {
        Record::Alloc {
            time,
            kind,
            stack,
            size,
            addr,
        } => {
            st.put_time(buf, &mut pos, time);
            put_stack(buf, &mut pos, stack);
            write_varint(buf, &mut pos, size);
            st.put_addr(buf, &mut pos, addr);
            TAG_ALLOC | kind as u8
        }
        Record::Free { time, addr } => {
            st.put_time(buf, &mut pos, time);
            st.put_addr(buf, &mut pos, addr);
            TAG_FREE
        }
        Record::Realloc {
            time,
            done,
            stack,
            size,
            old,
            new,
        } => {
            st.put_time(buf, &mut pos, time);
            st.put_time(buf, &mut pos, done);
            put_stack(buf, &mut pos, stack);
            write_varint(buf, &mut pos, size);
            st.put_addr(buf, &mut pos, old);
            st.put_addr(buf, &mut pos, new);
            TAG_REALLOC
        }
        Record::ReallocFree { time, stack, old } => {
            st.put_time(buf, &mut pos, time);
            put_stack(buf, &mut pos, stack);
            st.put_addr(buf, &mut pos, old);
            TAG_REALLOC_FREE
        }
        Record::Failed {
            time,
            kind,
            stack,
            size,
        } => {
            st.put_time(buf, &mut pos, time);
            put_stack(buf, &mut pos, stack);
            write_varint(buf, &mut pos, size);
            TAG_FAILED | kind as u8
        }
        Record::StackNode { id, parent, ip } => {
            write_varint(buf, &mut pos, id);
            write_varint(buf, &mut pos, parent);
            write_varint(buf, &mut pos, ip);
            TAG_STACK_NODE
        }
        Record::ModuleLoad {
            time,
            base,
            size,
            build_id,
            path,
        } => {
            st.put_time(buf, &mut pos, time);
            write_varint(buf, &mut pos, base);
            write_varint(buf, &mut pos, size);
            put_bytes(buf, &mut pos, build_id);
            put_bytes(buf, &mut pos, path);
            TAG_MODULE_LOAD
        }
        Record::ModuleUnload { time, base } => {
            st.put_time(buf, &mut pos, time);
            write_varint(buf, &mut pos, base);
            TAG_MODULE_UNLOAD
        }
        Record::ThreadStart { time } => {
            st.put_time(buf, &mut pos, time);
            TAG_THREAD_START
        }
        Record::ThreadEnd { time } => {
            st.put_time(buf, &mut pos, time);
            TAG_THREAD_END
        }
        Record::Exit { time } => {
            st.put_time(buf, &mut pos, time);
            TAG_EXIT
        }
        Record::SymbolString { id, text } => {
            write_varint(buf, &mut pos, id);
            put_bytes(buf, &mut pos, text);
            TAG_SYMBOL_STRING
        }
        Record::SymbolFrame {
            ip,
            depth,
            function,
            file,
            line,
        } => {
            write_varint(buf, &mut pos, ip);
            write_varint(buf, &mut pos, depth);
            write_varint(buf, &mut pos, function);
            write_varint(buf, &mut pos, file);
            write_varint(buf, &mut pos, line);
            TAG_SYMBOL_FRAME
        }
        Record::ModuleStatus { base, status } => {
            write_varint(buf, &mut pos, base);
            write_varint(buf, &mut pos, status);
            TAG_MODULE_STATUS
        }
        Record::Marker { time, label } => {
            st.put_time(buf, &mut pos, time);
            put_bytes(buf, &mut pos, label);
            TAG_MARKER
        }
        Record::HeapIndex {
            peak_bytes,
            peak_time,
            untracked_frees,
            lost_frees,
            threads,
        } => {
            for v in [peak_bytes, peak_time, untracked_frees, lost_frees, threads] {
                write_varint(buf, &mut pos, v);
            }
            TAG_HEAP_INDEX
        }
        Record::Lifetimes {
            thread,
            chunk,
            data,
        } => {
            write_varint(buf, &mut pos, thread);
            write_varint(buf, &mut pos, chunk);
            put_bytes(buf, &mut pos, data);
            TAG_LIFETIMES
        }
        Record::HeapSeries { start, width, data } => {
            write_varint(buf, &mut pos, start);
            write_varint(buf, &mut pos, width);
            put_bytes(buf, &mut pos, data);
            TAG_HEAP_SERIES
        }
    };
    buf[0] = tag;
    pos
}

#[cfg(test)]
pub(crate) mod tests;
