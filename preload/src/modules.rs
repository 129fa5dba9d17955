//! The module list: which executable and shared objects are mapped where, with their build-ids,
//! written to the capture at start and whenever it changes.
//!
//! Changes are noticed without hooking `dlopen` (which would change the caller glibc sees and so
//! its library search scope): a new module's code shows up as unwind-cache misses, and after a
//! miss the list is compared with `dl_iterate_phdr`'s load/unload counters.

use core::ffi::{c_int, c_void, CStr};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memprof_format::Record;

use crate::writer::Writer;
use crate::{global, sys};

const MAX_MODULES: usize = 2048;

struct Known {
    count: usize,
    base: [u64; MAX_MODULES],
    seen: [bool; MAX_MODULES],
}

struct KnownCell(core::cell::UnsafeCell<Known>);
// SAFETY: the contents are only touched by the thread holding `BUSY`.
unsafe impl Sync for KnownCell {}

static KNOWN: KnownCell = KnownCell(core::cell::UnsafeCell::new(Known {
    count: 0,
    base: [0; MAX_MODULES],
    seen: [false; MAX_MODULES],
}));
static BUSY: AtomicBool = AtomicBool::new(false);
/// `dlpi_adds`/`dlpi_subs` at the last refresh.
static ADDS: AtomicU64 = AtomicU64::new(u64::MAX);
static SUBS: AtomicU64 = AtomicU64::new(u64::MAX);

struct Scan<'a> {
    known: &'a mut Known,
    writer: &'a mut Writer,
    quick: bool,
}

/// Forgets what was written (a followed fork child writes the list to its own capture).
pub fn reset() {
    ADDS.store(u64::MAX, Ordering::Relaxed);
    SUBS.store(u64::MAX, Ordering::Relaxed);
    // SAFETY: called by the only thread of a freshly forked child, or at start.
    unsafe { (*KNOWN.0.get()).count = 0 };
}

/// Writes the modules loaded or unloaded since the last call. Another thread already doing so
/// is left to it.
pub fn refresh(writer: &mut Writer) {
    if BUSY.swap(true, Ordering::Acquire) {
        return;
    }
    // SAFETY: `BUSY` gives this thread exclusive use of `KNOWN`.
    let known = unsafe { &mut *KNOWN.0.get() };
    known.seen[..known.count].fill(false);
    let mut scan = Scan {
        known,
        writer,
        quick: true,
    };
    // SAFETY: the callback matches dl_iterate_phdr's contract and `scan` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut scan as *mut Scan as *mut c_void) };
    if !scan.quick {
        let known = scan.known;
        let mut kept = 0;
        let mut unloaded = false;
        for i in 0..known.count {
            if known.seen[i] {
                known.base[kept] = known.base[i];
                known.seen[kept] = true;
                kept += 1;
            } else {
                scan.writer.write(&Record::ModuleUnload {
                    time: sys::now(),
                    base: known.base[i],
                });
                unloaded = true;
            }
        }
        known.count = kept;
        if unloaded {
            global::MODULE_GENERATION.fetch_add(1, Ordering::Release);
        }
    }
    BUSY.store(false, Ordering::Release);
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info pointer and our `Scan` as `data`.
    let (info, scan) = unsafe { (&*info, &mut *(data as *mut Scan)) };
    if scan.quick {
        // The first module carries the process-wide counters: nothing changed, stop.
        if info.dlpi_adds == ADDS.load(Ordering::Relaxed)
            && info.dlpi_subs == SUBS.load(Ordering::Relaxed)
        {
            return 1;
        }
        ADDS.store(info.dlpi_adds, Ordering::Relaxed);
        SUBS.store(info.dlpi_subs, Ordering::Relaxed);
        scan.quick = false;
    }
    let base = info.dlpi_addr;
    let known = &mut *scan.known;
    if let Some(i) = known.base[..known.count].iter().position(|&b| b == base) {
        known.seen[i] = true;
        return 0;
    }
    if known.count < MAX_MODULES {
        known.base[known.count] = base;
        known.seen[known.count] = true;
        known.count += 1;
    }
    // SAFETY: the program headers of a loaded module are mapped while the loader lists it.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let end = phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD)
        .map(|p| p.p_vaddr + p.p_memsz)
        .max()
        .unwrap_or(0);
    let mut exe = [0u8; 1024];
    let path: &[u8] = if info.dlpi_name.is_null() {
        b""
    } else {
        // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    // The loader gives the main executable an empty name.
    let path = if path.is_empty() {
        let n = sys::readlink(b"/proc/self/exe\0", &mut exe);
        &exe[..n]
    } else {
        path
    };
    let build_id = build_id(base, phdrs);
    scan.writer.write(&Record::ModuleLoad {
        time: sys::now(),
        base,
        size: end,
        build_id,
        path,
    });
    0
}

/// The GNU build-id note of a loaded module, read from its PT_NOTE segments in memory.
fn build_id(base: u64, phdrs: &[libc::Elf64_Phdr]) -> &'static [u8] {
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
        let start = base.wrapping_add(p.p_vaddr) as *const u8;
        // SAFETY: PT_NOTE segments lie inside a PT_LOAD segment, which is mapped and readable
        // for as long as the module is loaded; the 'static lifetime is only used until the
        // record is written, inside the loader's iteration.
        let notes = unsafe { core::slice::from_raw_parts(start, p.p_memsz as usize) };
        let mut off = 0usize;
        while off + 12 <= notes.len() {
            let word = |o: usize| {
                u32::from_ne_bytes([notes[o], notes[o + 1], notes[o + 2], notes[o + 3]]) as usize
            };
            let (namesz, descsz, kind) = (word(off), word(off + 4), word(off + 8));
            let name_at = off + 12;
            let desc_at = name_at + namesz.next_multiple_of(4);
            let next = desc_at.saturating_add(descsz.next_multiple_of(4));
            if next > notes.len() {
                break;
            }
            if kind == 3 && namesz == 4 && &notes[name_at..name_at + 4] == b"GNU\0" {
                return &notes[desc_at..desc_at + descsz];
            }
            off = next;
        }
    }
    &[]
}
