//! Decoding just what the analysis of a capture reads: times, and the stack and size of each
//! allocation. Addresses are skipped rather than decoded, which makes a pass over every record
//! of a capture markedly cheaper.

use crate::decode::{decode, DecodeError};
use crate::record::*;
use crate::varint::read_varint;

/// What [`decode_brief`] tells of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Brief {
    /// An allocation (not a realloc).
    Alloc {
        time: u64,
        stack: StackRef,
        size: u64,
    },
    /// A release (`free`, or `realloc(p, 0)`).
    Free {
        time: u64,
    },
    /// A realloc: its old block released at `time`, its new one obtained at `done`.
    Realloc {
        time: u64,
        done: u64,
        stack: StackRef,
        size: u64,
    },
    Failed {
        time: u64,
    },
    Marker {
        time: u64,
    },
    /// Any other record, with its time if it has one.
    Other {
        time: Option<u64>,
    },
}

impl Brief {
    /// The block the record obtained, if it did: `(time, stack, size)` (for a realloc, its new
    /// block, at `done`).
    #[inline]
    pub fn allocation(&self) -> Option<(u64, StackRef, u64)> {
        match *self {
            Brief::Alloc { time, stack, size }
            | Brief::Realloc {
                done: time,
                stack,
                size,
                ..
            } => Some((time, stack, size)),
            _ => None,
        }
    }

    /// The latest time the record tells of.
    #[inline]
    pub fn time(&self) -> Option<u64> {
        match *self {
            Brief::Alloc { time, .. }
            | Brief::Free { time }
            | Brief::Failed { time }
            | Brief::Marker { time } => Some(time),
            Brief::Realloc { done, .. } => Some(done),
            Brief::Other { time } => time,
        }
    }
}

/// Decodes the record at the start of `buf` as [`decode`] does, but only as far as a
/// [`Brief`] needs. The address state of `st` is left behind: a chunk read with this
/// function must be read with it to its end.
#[inline]
pub fn decode_brief(
    buf: &[u8],
    st: &mut ChunkState,
) -> Result<Option<(Brief, usize)>, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let mut pos = 1;
    let mut s = *st;
    let brief = match tag {
        0 => return Ok(None),
        t if t & 0xf0 == TAG_ALLOC && t & 0x0f < 8 => (|| {
            let time = s.get_time(buf, &mut pos)?;
            let stack = get_stack(buf, &mut pos)?;
            let size = read_varint(buf, &mut pos)?;
            skip_varint(buf, &mut pos)?;
            Some(Brief::Alloc { time, stack, size })
        })(),
        TAG_FREE => (|| {
            let time = s.get_time(buf, &mut pos)?;
            skip_varint(buf, &mut pos)?;
            Some(Brief::Free { time })
        })(),
        TAG_REALLOC => (|| {
            let time = s.get_time(buf, &mut pos)?;
            let done = s.get_time(buf, &mut pos)?;
            let stack = get_stack(buf, &mut pos)?;
            let size = read_varint(buf, &mut pos)?;
            skip_varint(buf, &mut pos)?;
            skip_varint(buf, &mut pos)?;
            Some(Brief::Realloc {
                time,
                done,
                stack,
                size,
            })
        })(),
        TAG_REALLOC_FREE => (|| {
            let time = s.get_time(buf, &mut pos)?;
            get_stack(buf, &mut pos)?;
            skip_varint(buf, &mut pos)?;
            Some(Brief::Free { time })
        })(),
        _ => {
            // Rare records: decode them whole (none of them has a delta-coded address).
            let Some((rec, len)) = decode(buf, st)? else {
                return Ok(None);
            };
            let brief = match rec {
                Record::Failed { time, .. } => Brief::Failed { time },
                Record::Marker { time, .. } => Brief::Marker { time },
                _ => Brief::Other { time: rec.time() },
            };
            return Ok(Some((brief, len)));
        }
    };
    let brief = brief.ok_or(DecodeError::Incomplete)?;
    *st = s;
    Ok(Some((brief, pos)))
}

#[inline(always)]
fn skip_varint(buf: &[u8], pos: &mut usize) -> Option<()> {
    let rest = buf.get(*pos..)?;
    let len = rest.iter().take(10).position(|&b| b < 0x80)? + 1;
    *pos += len;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::samples;

    #[test]
    fn agrees_with_the_full_decoder() {
        let mut buf = [0u8; 1024];
        let mut st = ChunkState::new(100);
        let mut pos = 0;
        for r in samples() {
            pos += encode(&mut buf[pos..], &mut st, &r);
        }
        let (mut full, mut brief) = (ChunkState::new(100), ChunkState::new(100));
        let (mut fpos, mut bpos) = (0, 0);
        while let Some((rec, len)) = decode(&buf[fpos..pos], &mut full).unwrap() {
            let (b, blen) = decode_brief(&buf[bpos..pos], &mut brief).unwrap().unwrap();
            assert_eq!(len, blen, "{rec:?}");
            let expected = match rec {
                Record::Alloc {
                    time, stack, size, ..
                } => Brief::Alloc { time, stack, size },
                Record::Free { time, .. } | Record::ReallocFree { time, .. } => {
                    Brief::Free { time }
                }
                Record::Realloc {
                    time,
                    done,
                    stack,
                    size,
                    ..
                } => Brief::Realloc {
                    time,
                    done,
                    stack,
                    size,
                },
                Record::Failed { time, .. } => Brief::Failed { time },
                Record::Marker { time, .. } => Brief::Marker { time },
                _ => Brief::Other { time: rec.time() },
            };
            assert_eq!(b, expected);
            assert_eq!(brief.time, full.time);
            (fpos, bpos) = (fpos + len, bpos + blen);
        }
        assert_eq!(fpos, pos);
        // Every proper prefix of a record is incomplete, never misread.
        for cut in 1..pos {
            let mut st = ChunkState::new(100);
            let mut p = 0;
            while let Ok(Some((_, len))) = decode_brief(&buf[p..cut], &mut st) {
                p += len;
            }
            assert!(p <= cut);
        }
    }
}
