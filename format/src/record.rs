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

const TAG_ALLOC: u8 = 0x10; // | kind
const TAG_FREE: u8 = 0x20;
const TAG_FAILED: u8 = 0x30; // | kind
const TAG_REALLOC: u8 = 0x40;
const TAG_REALLOC_FREE: u8 = 0x41;
const TAG_STACK_NODE: u8 = 0x50;
const TAG_MODULE_LOAD: u8 = 0x60;
const TAG_MODULE_UNLOAD: u8 = 0x61;
const TAG_THREAD_START: u8 = 0x70;
const TAG_THREAD_END: u8 = 0x71;
const TAG_EXIT: u8 = 0x72;
const TAG_MARKER: u8 = 0x80;
const TAG_SYMBOL_STRING: u8 = 0x90;
const TAG_SYMBOL_FRAME: u8 = 0x91;
const TAG_MODULE_STATUS: u8 = 0x92;

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

    fn get_time(&mut self, buf: &[u8], pos: &mut usize) -> Option<u64> {
        self.time = self.time.checked_add(read_varint(buf, pos)?)?;
        Some(self.time)
    }

    fn get_addr(&mut self, buf: &[u8], pos: &mut usize) -> Option<u64> {
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

fn get_stack(buf: &[u8], pos: &mut usize) -> Option<StackRef> {
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

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
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
    };
    buf[0] = tag;
    pos
}

/// Why a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside the record.
    Incomplete,
    /// The tag byte is not a known record type.
    UnknownTag(u8),
}

/// Decodes the record at the start of `buf`, returning it and its length; `Ok(None)` at a zero
/// tag (the unwritten rest of a chunk) or at the end of `buf`.
pub fn decode<'a>(
    buf: &'a [u8],
    st: &mut ChunkState,
) -> Result<Option<(Record<'a>, usize)>, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag == 0 {
        return Ok(None);
    }
    let mut pos = 1;
    let mut s = *st;
    let rec = decode_body(tag, buf, &mut pos, &mut s).ok_or({
        if is_known_tag(tag) {
            DecodeError::Incomplete
        } else {
            DecodeError::UnknownTag(tag)
        }
    })?;
    *st = s;
    Ok(Some((rec, pos)))
}

fn is_known_tag(tag: u8) -> bool {
    matches!(tag & 0xf0, TAG_ALLOC | TAG_FAILED) && tag & 0x0f < 8
        || matches!(
            tag,
            TAG_FREE
                | TAG_REALLOC
                | TAG_REALLOC_FREE
                | TAG_STACK_NODE
                | TAG_MODULE_LOAD
                | TAG_MODULE_UNLOAD
                | TAG_THREAD_START
                | TAG_THREAD_END
                | TAG_EXIT
                | TAG_MARKER
                | TAG_SYMBOL_STRING
                | TAG_SYMBOL_FRAME
                | TAG_MODULE_STATUS
        )
}

fn decode_body<'a>(
    tag: u8,
    buf: &'a [u8],
    pos: &mut usize,
    st: &mut ChunkState,
) -> Option<Record<'a>> {
    let kind = AllocKind::ALL.get(usize::from(tag & 0x0f)).copied();
    Some(match tag {
        t if t & 0xf0 == TAG_ALLOC => Record::Alloc {
            kind: kind?,
            time: st.get_time(buf, pos)?,
            stack: get_stack(buf, pos)?,
            size: read_varint(buf, pos)?,
            addr: st.get_addr(buf, pos)?,
        },
        TAG_FREE => Record::Free {
            time: st.get_time(buf, pos)?,
            addr: st.get_addr(buf, pos)?,
        },
        t if t & 0xf0 == TAG_FAILED => Record::Failed {
            kind: kind?,
            time: st.get_time(buf, pos)?,
            stack: get_stack(buf, pos)?,
            size: read_varint(buf, pos)?,
        },
        TAG_REALLOC => Record::Realloc {
            time: st.get_time(buf, pos)?,
            done: st.get_time(buf, pos)?,
            stack: get_stack(buf, pos)?,
            size: read_varint(buf, pos)?,
            old: st.get_addr(buf, pos)?,
            new: st.get_addr(buf, pos)?,
        },
        TAG_REALLOC_FREE => Record::ReallocFree {
            time: st.get_time(buf, pos)?,
            stack: get_stack(buf, pos)?,
            old: st.get_addr(buf, pos)?,
        },
        TAG_STACK_NODE => Record::StackNode {
            id: read_varint(buf, pos)?,
            parent: read_varint(buf, pos)?,
            ip: read_varint(buf, pos)?,
        },
        TAG_MODULE_LOAD => Record::ModuleLoad {
            time: st.get_time(buf, pos)?,
            base: read_varint(buf, pos)?,
            size: read_varint(buf, pos)?,
            build_id: get_bytes(buf, pos)?,
            path: get_bytes(buf, pos)?,
        },
        TAG_MODULE_UNLOAD => Record::ModuleUnload {
            time: st.get_time(buf, pos)?,
            base: read_varint(buf, pos)?,
        },
        TAG_THREAD_START => Record::ThreadStart {
            time: st.get_time(buf, pos)?,
        },
        TAG_THREAD_END => Record::ThreadEnd {
            time: st.get_time(buf, pos)?,
        },
        TAG_EXIT => Record::Exit {
            time: st.get_time(buf, pos)?,
        },
        TAG_SYMBOL_STRING => Record::SymbolString {
            id: read_varint(buf, pos)?,
            text: get_bytes(buf, pos)?,
        },
        TAG_SYMBOL_FRAME => Record::SymbolFrame {
            ip: read_varint(buf, pos)?,
            depth: read_varint(buf, pos)?,
            function: read_varint(buf, pos)?,
            file: read_varint(buf, pos)?,
            line: read_varint(buf, pos)?,
        },
        TAG_MODULE_STATUS => Record::ModuleStatus {
            base: read_varint(buf, pos)?,
            status: read_varint(buf, pos)?,
        },
        TAG_MARKER => Record::Marker {
            time: st.get_time(buf, pos)?,
            label: get_bytes(buf, pos)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> [Record<'static>; 11] {
        let stack = StackRef {
            node: 42,
            truncated: true,
        };
        [
            Record::Alloc {
                time: 110,
                kind: AllocKind::Calloc,
                stack,
                size: 4096,
                addr: 0x5555_0000_1230,
            },
            Record::Free {
                time: 120,
                addr: 0x5555_0000_1230,
            },
            Record::Free {
                time: 120,
                addr: 0x5555_0000_1238,
            },
            Record::Realloc {
                time: 130,
                done: 133,
                stack,
                size: 9,
                old: 0x10,
                new: 0x7fff_ffff_fff0,
            },
            Record::ReallocFree {
                time: 135,
                stack,
                old: 0x7fff_ffff_fff0,
            },
            Record::Failed {
                time: 140,
                kind: AllocKind::Pvalloc,
                stack,
                size: u64::MAX,
            },
            Record::StackNode {
                id: 7,
                parent: 3,
                ip: 0x7f00_1234_5678,
            },
            Record::ModuleLoad {
                time: 150,
                base: 0x7f00_0000_0000,
                size: 1 << 20,
                build_id: b"\x01\x02",
                path: b"/lib/x.so",
            },
            Record::ModuleUnload {
                time: 160,
                base: 0x7f00_0000_0000,
            },
            Record::ThreadEnd { time: 170 },
            Record::Marker {
                time: 180,
                label: b"phase 2",
            },
        ]
    }

    #[test]
    fn records_round_trip_in_sequence() {
        let mut buf = [0u8; 1024];
        let mut st = ChunkState::new(100);
        let mut pos = 0;
        for r in samples() {
            assert!(buf.len() - pos >= encoded_len_bound(&r));
            pos += encode(&mut buf[pos..], &mut st, &r);
        }
        let mut st = ChunkState::new(100);
        let mut rpos = 0;
        for r in samples() {
            let (got, len) = decode(&buf[rpos..pos], &mut st).unwrap().unwrap();
            assert_eq!(got, r);
            rpos += len;
        }
        assert_eq!(decode(&buf[rpos..], &mut st), Ok(None));
    }

    #[test]
    fn a_cut_record_is_incomplete_and_leaves_state_alone() {
        let mut buf = [0u8; 64];
        let mut st = ChunkState::new(0);
        let r = Record::Alloc {
            time: 5,
            kind: AllocKind::Malloc,
            stack: StackRef::default(),
            size: 300,
            addr: 0x1000,
        };
        let len = encode(&mut buf, &mut st, &r);
        for cut in 1..len {
            let mut st = ChunkState::new(0);
            assert_eq!(decode(&buf[..cut], &mut st), Err(DecodeError::Incomplete));
            assert_eq!(st, ChunkState::new(0));
        }
        buf[0] = 0x99;
        assert_eq!(
            decode(&buf, &mut ChunkState::new(0)),
            Err(DecodeError::UnknownTag(0x99))
        );
    }

    #[test]
    fn typical_records_are_small() {
        let mut buf = [0u8; 64];
        let mut st = ChunkState::new(0);
        st.addr = 0x5555_5555_0000;
        let a = Record::Alloc {
            time: 40,
            kind: AllocKind::Malloc,
            stack: StackRef {
                node: 300,
                truncated: false,
            },
            size: 2000,
            addr: 0x5555_5556_0000,
        };
        assert!(encode(&mut buf, &mut st, &a) <= 9);
        let f = Record::Free {
            time: 80,
            addr: 0x5555_5550_0000,
        };
        assert!(encode(&mut buf, &mut st, &f) <= 5);
    }
}
