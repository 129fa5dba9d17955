//! LEB128 varints and zigzag encoding.

/// Writes `v` as an unsigned LEB128 varint at `buf[*pos..]`, advancing `pos`.
///
/// The caller guarantees room for 10 bytes; the recorder checks the remaining chunk space once
/// per record rather than once per byte.
#[inline(always)]
pub fn write_varint(buf: &mut [u8], pos: &mut usize, mut v: u64) {
    // One bounds check for the longest varint rather than one per byte: this runs several
    // times for every allocation the recorder sees.
    let out = buf[*pos..]
        .first_chunk_mut::<MAX_VARINT>()
        .expect("room for a varint");
    let mut n = 0;
    while v >= 0x80 && n < MAX_VARINT - 1 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    *pos += n + 1;
}

/// Bytes of the longest varint (a `u64`).
pub const MAX_VARINT: usize = 10;

/// Reads an unsigned LEB128 varint at `buf[*pos..]`, advancing `pos`; `None` when it runs past
/// the end of `buf` or is longer than 10 bytes.
#[inline(always)]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    // Most values in a capture take one byte.
    let b0 = *buf.get(*pos)?;
    if b0 < 0x80 {
        *pos += 1;
        return Some(u64::from(b0));
    }
    // Up to eight bytes at once: the first byte without the high bit ends the value.
    if let Some(b) = buf.get(*pos..*pos + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        let w = u64::from_le_bytes(word);
        let stops = !w & 0x8080_8080_8080_8080;
        if stops != 0 {
            let len = (stops.trailing_zeros() / 8 + 1) as usize;
            let mut v = 0;
            for i in 0..len {
                v |= (w >> (8 * i) & 0x7f) << (7 * i);
            }
            *pos += len;
            return Some(v);
        }
    }
    read_varint_slow(buf, pos)
}

#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Maps signed to unsigned so that small magnitudes get small codes.
#[inline(always)]
pub fn zigzag_encode(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag_encode`].
#[inline(always)]
pub fn zigzag_decode(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_followed_by_more_bytes_read_alike() {
        // With other bytes after it, a varint is read eight bytes at a time.
        let mut v = 1u64;
        for _ in 0..64 {
            for x in [v - 1, v, v | 0x55, v.wrapping_mul(3)] {
                let mut buf = [0xffu8; 24];
                let mut pos = 0;
                write_varint(&mut buf, &mut pos, x);
                let mut rpos = 0;
                assert_eq!(read_varint(&buf, &mut rpos), Some(x), "{x:#x}");
                assert_eq!(rpos, pos);
            }
            v <<= 1;
        }
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [
            0,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut buf = [0u8; 10];
            let mut pos = 0;
            write_varint(&mut buf, &mut pos, v);
            let mut rpos = 0;
            assert_eq!(read_varint(&buf[..pos], &mut rpos), Some(v));
            assert_eq!(rpos, pos);
            // Every proper prefix is incomplete.
            for cut in 0..pos {
                let mut p = 0;
                assert_eq!(read_varint(&buf[..cut], &mut p), None);
            }
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        let buf = [0xffu8; 11];
        assert_eq!(read_varint(&buf, &mut 0), None);
        let mut buf = [0x80u8; 10];
        buf[9] = 0x02; // bit 64 set
        assert_eq!(read_varint(&buf, &mut 0), None);
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, -1, 1, -64, 63, i64::MIN, i64::MAX] {
            assert_eq!(zigzag_decode(zigzag_encode(v)), v);
        }
        assert_eq!(zigzag_encode(-1), 1);
        assert_eq!(zigzag_encode(1), 2);
    }
}
