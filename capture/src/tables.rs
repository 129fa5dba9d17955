//! Appending tables to a capture after the run, as chunks of their own (thread id
//! [`SYMBOLS_TID`]) after the recorded ones.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use memprof_format::{chunk, encode, encoded_len_bound, header as h, read_u64, ChunkState, Record};
use memprof_format::{CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE, SYMBOLS_TID};

use crate::Error;

/// Appends `records` to the capture at `path` and counts the new chunks in its header.
pub(crate) fn append_records<'r>(
    path: &Path,
    records: impl IntoIterator<Item = Record<'r>>,
) -> Result<(), Error> {
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut header = vec![0u8; HEADER_SIZE];
    std::io::Read::read_exact(&mut file, &mut header).map_err(io)?;
    // After every chunk the header counts, and never over bytes of the file (a header that
    // undercounts must not make tables overwrite records).
    let len = file.metadata().map_err(io)?.len();
    let in_file = len
        .saturating_sub(HEADER_SIZE as u64)
        .div_ceil(CHUNK_SIZE as u64);
    let mut chunks = read_u64(&header, h::CHUNKS).unwrap_or(0).max(in_file);
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut pos = CHUNK_HEADER_SIZE;
    let mut state = ChunkState::new(0);
    let mut flush = |buf: &mut Vec<u8>, pos: usize, chunks: &mut u64| -> Result<(), Error> {
        buf[chunk::MAGIC..chunk::MAGIC + 4].copy_from_slice(&CHUNK_MAGIC.to_le_bytes());
        buf[chunk::TID..chunk::TID + 4].copy_from_slice(&SYMBOLS_TID.to_le_bytes());
        buf[chunk::USED..chunk::USED + 4]
            .copy_from_slice(&((pos - CHUNK_HEADER_SIZE) as u32).to_le_bytes());
        let offset = HEADER_SIZE as u64 + *chunks * CHUNK_SIZE as u64;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.write_all(buf).map_err(io)?;
        *chunks += 1;
        buf.fill(0);
        Ok(())
    };
    for rec in records {
        if pos + encoded_len_bound(&rec) > CHUNK_SIZE {
            flush(&mut buf, pos, &mut chunks)?;
            pos = CHUNK_HEADER_SIZE;
            state = ChunkState::new(0);
        }
        pos += encode(&mut buf[pos..], &mut state, &rec);
    }
    if pos > CHUNK_HEADER_SIZE {
        flush(&mut buf, pos, &mut chunks)?;
    }
    file.seek(SeekFrom::Start(h::CHUNKS as u64)).map_err(io)?;
    file.write_all(&chunks.to_le_bytes()).map_err(io)?;
    Ok(())
}
