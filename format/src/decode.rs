//! Decoding records (the inverse of [`crate::encode`]).

use crate::record::*;
use crate::varint::read_varint;

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
#[inline]
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
    let rec = decode_body(tag, buf, &mut pos, &mut s).ok_or_else(|| {
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
                | TAG_HEAP_INDEX
                | TAG_LIFETIMES
                | TAG_HEAP_SERIES
        )
}

#[inline(always)]
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
        TAG_HEAP_INDEX => Record::HeapIndex {
            peak_bytes: read_varint(buf, pos)?,
            peak_time: read_varint(buf, pos)?,
            untracked_frees: read_varint(buf, pos)?,
            lost_frees: read_varint(buf, pos)?,
            threads: read_varint(buf, pos)?,
        },
        TAG_LIFETIMES => Record::Lifetimes {
            thread: read_varint(buf, pos)?,
            chunk: read_varint(buf, pos)?,
            data: get_bytes(buf, pos)?,
        },
        TAG_HEAP_SERIES => Record::HeapSeries {
            start: read_varint(buf, pos)?,
            width: read_varint(buf, pos)?,
            data: get_bytes(buf, pos)?,
        },
        _ => return None,
    })
}
