//! `memprof mark PID LABEL`: a marker in the capture of a running program, from outside it.
//!
//! The capture is found among the files the process has mapped. A chunk is claimed the way
//! the recorder's threads claim theirs, with one atomic increment of the header's chunk
//! counter in a shared mapping, so that it never collides with theirs; the marker is its one
//! record, stamped with the same clock (the TSC) as the program's records.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use memprof_format::{chunk, encode, header as h, ChunkState, Record, MARKS_TID};
use memprof_format::{CHUNK_HEADER_SIZE, CHUNK_MAGIC, CHUNK_SIZE, HEADER_SIZE};

use super::fail;
use crate::cli::MarkArgs;

pub fn mark(args: MarkArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = capture_of(args.pid) else {
        return fail(
            2,
            format!(
                "process {} is not being recorded by memprof (or is not yours)",
                args.pid
            ),
        );
    };
    let time = super::run::tsc() >> memprof_format::TIME_SHIFT;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let index = claim_chunk(&file, &path)?;
    let mut buf = vec![0u8; CHUNK_SIZE];
    let rec = Record::Marker {
        time,
        label: args.label.as_bytes(),
    };
    let used = encode(
        &mut buf[CHUNK_HEADER_SIZE..],
        &mut ChunkState::new(time),
        &rec,
    );
    let put = |buf: &mut [u8], off: usize, v: &[u8]| buf[off..off + v.len()].copy_from_slice(v);
    put(&mut buf, chunk::TID, &MARKS_TID.to_le_bytes());
    put(&mut buf, chunk::USED, &(used as u32).to_le_bytes());
    put(&mut buf, chunk::BASE_TIME, &time.to_le_bytes());
    put(&mut buf, chunk::PID, &args.pid.to_le_bytes());
    let off = HEADER_SIZE as u64 + index * CHUNK_SIZE as u64;
    file.write_all_at(&buf, off)?;
    // The magic last: a reader never sees a claimed chunk half written.
    file.write_all_at(&CHUNK_MAGIC.to_le_bytes(), off + chunk::MAGIC as u64)?;
    eprintln!("memprof: marked {:?} in {}", args.label, path.display());
    Ok(ExitCode::SUCCESS)
}

/// The capture that process `pid` writes: a mapped file that is a capture of that pid.
fn capture_of(pid: u32) -> Option<PathBuf> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mut seen: Vec<&str> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        if !path.starts_with('/') || seen.contains(&path) {
            continue;
        }
        seen.push(path);
        let path = Path::new(path);
        if super::is_capture(path) && header_pid(path) == Some(pid) {
            return Some(path.to_path_buf());
        }
    }
    None
}

fn header_pid(path: &Path) -> Option<u32> {
    let mut b = [0u8; 4];
    std::fs::File::open(path)
        .ok()?
        .read_exact_at(&mut b, h::PID as u64)
        .ok()?;
    Some(u32::from_le_bytes(b))
}

/// Claims the next chunk of the capture and grows the file over it.
fn claim_chunk(file: &std::fs::File, path: &Path) -> anyhow::Result<u64> {
    // SAFETY: a shared mapping of the header page, which the recorder also maps shared; the
    // only access to it is the atomic increment below, which is what the recorder's threads
    // do to the same 8-aligned word, so no access races with a plain one.
    let mut header = unsafe { memmap2::MmapOptions::new().len(HEADER_SIZE).map_mut(file) }
        .map_err(|e| anyhow::anyhow!("cannot map {}: {e}", path.display()))?;
    let word = &mut header[h::CHUNKS..h::CHUNKS + 8];
    // SAFETY: the pointer is 8-aligned (the map is page-aligned and CHUNKS a multiple of 8)
    // and valid for the life of `header`, which outlives the atomic.
    let chunks = unsafe { AtomicU64::from_ptr(word.as_mut_ptr().cast()) };
    let index = chunks.fetch_add(1, Ordering::AcqRel);
    // Grow the file by writing the chunk's last byte (never shrinking it under a thread that
    // claimed a later chunk).
    let end = HEADER_SIZE as u64 + (index + 1) * CHUNK_SIZE as u64;
    file.write_all_at(&[0], end - 1)?;
    Ok(index)
}
