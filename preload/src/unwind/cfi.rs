//! The slow path: the unwind rule of one code address, from the module's `.eh_frame`.
//!
//! The module is found with glibc's `_dl_find_object`, which is lock-free and sees modules
//! loaded with `dlopen` at once; its `.eh_frame_hdr` search table leads to the FDE, which gimli
//! evaluates. Only the common rule shapes are kept (CFA from RSP or RBP, return address and
//! RBP saved at CFA offsets); anything else ends the stack.

use alloc::boxed::Box;
use core::ffi::c_void;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, EndianSlice, NativeEndian, RegisterRule,
    UnwindContext, UnwindSection, X86_64,
};

use super::rules::{Kind, Rule};

/// glibc's `struct dl_find_object` on x86_64 (glibc 2.35 and later).
#[repr(C)]
struct DlFindObject {
    flags: u64,
    map_start: *mut c_void,
    map_end: *mut c_void,
    link_map: *mut c_void,
    eh_frame: *mut c_void,
    reserved: [u64; 7],
}

extern "C" {
    fn _dl_find_object(address: *mut c_void, result: *mut DlFindObject) -> core::ffi::c_int;
}

/// The module that contains `pc`: its mapping and its `.eh_frame_hdr`.
pub struct Module {
    pub start: u64,
    pub end: u64,
    eh_frame_hdr: u64,
}

/// Looks up the module containing `pc`.
pub fn module_of(pc: u64) -> Option<Module> {
    // SAFETY: an all-zero DlFindObject is a valid out-parameter.
    let mut r: DlFindObject = unsafe { core::mem::zeroed() };
    // SAFETY: `r` is a valid out-pointer; _dl_find_object only reads loader data.
    if unsafe { _dl_find_object(pc as *mut c_void, &mut r) } != 0 {
        return None;
    }
    Some(Module {
        start: r.map_start as u64,
        end: r.map_end as u64,
        eh_frame_hdr: r.eh_frame as u64,
    })
}

type Reader = EndianSlice<'static, NativeEndian>;

/// Evaluation state kept between misses.
pub struct Evaluator {
    ctx: Box<UnwindContext<usize>>,
}

impl Evaluator {
    pub fn new() -> Evaluator {
        Evaluator {
            ctx: Box::new(UnwindContext::new()),
        }
    }

    /// The rule for the frame executing at `lookup` (a return address minus one, or the exact
    /// address of the innermost frame).
    pub fn rule(&mut self, lookup: u64) -> Rule {
        self.try_rule(lookup).unwrap_or_default()
    }

    fn try_rule(&mut self, lookup: u64) -> Option<Rule> {
        let m = module_of(lookup)?;
        if m.eh_frame_hdr == 0 || m.eh_frame_hdr < m.start || m.eh_frame_hdr >= m.end {
            return None;
        }
        // SAFETY: the range lies inside the module's mapping as reported by the loader, which
        // stays mapped while code of the module is on the stack.
        let hdr_bytes = unsafe {
            core::slice::from_raw_parts(
                m.eh_frame_hdr as *const u8,
                (m.end - m.eh_frame_hdr) as usize,
            )
        };
        let bases = BaseAddresses::default().set_eh_frame_hdr(m.eh_frame_hdr);
        let hdr = EhFrameHdr::new(hdr_bytes, NativeEndian)
            .parse(&bases, 8)
            .ok()?;
        let eh_frame_addr = match hdr.eh_frame_ptr() {
            gimli::Pointer::Direct(a) => a,
            gimli::Pointer::Indirect(_) => return None,
        };
        if eh_frame_addr < m.start || eh_frame_addr >= m.end {
            return None;
        }
        // SAFETY: as above, bounded by the module's mapping.
        let eh_bytes: &'static [u8] = unsafe {
            core::slice::from_raw_parts(
                eh_frame_addr as *const u8,
                (m.end - eh_frame_addr) as usize,
            )
        };
        let eh_frame: EhFrame<Reader> = EhFrame::new(eh_bytes, NativeEndian);
        let bases = bases.set_eh_frame(eh_frame_addr).set_text(m.start);
        let table = hdr.table()?;
        let row = table
            .unwind_info_for_address(
                &eh_frame,
                &bases,
                &mut self.ctx,
                lookup,
                EhFrame::cie_from_offset,
            )
            .ok()?;
        let (kind, cfa_off) = match *row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
                (Kind::Rsp, offset)
            }
            CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => {
                (Kind::Rbp, offset)
            }
            _ => return None,
        };
        let ra_off = match row.register(X86_64::RA) {
            RegisterRule::Offset(o) => o,
            _ => return None,
        };
        let rbp_off8 = match row.register(X86_64::RBP) {
            RegisterRule::Offset(o) if o % 8 == 0 && (-1024..0).contains(&o) => (o / 8) as i8,
            RegisterRule::Undefined | RegisterRule::SameValue => 0,
            _ => return None,
        };
        Some(Rule {
            kind,
            cfa_off: i32::try_from(cfa_off).ok()?,
            ra_off: i16::try_from(ra_off).ok()?,
            rbp_off8,
        })
    }
}
