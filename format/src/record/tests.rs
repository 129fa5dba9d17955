//! Round trips and edge cases of the record encoding.

use super::*;
use crate::decode::{decode, DecodeError};

pub(crate) fn samples() -> [Record<'static>; 18] {
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
        Record::Exit { time: 190 },
        Record::SymbolString {
            id: 3,
            text: b"std::vector<int>::push_back",
        },
        Record::SymbolFrame {
            ip: 0x7f00_1234_5678,
            depth: 1,
            function: 3,
            file: 0,
            line: 1287,
        },
        Record::ModuleStatus {
            base: 0x7f00_0000_0000,
            status: crate::module_status::CHANGED,
        },
        Record::HeapIndex {
            peak_bytes: 17_235_200,
            peak_time: 1 << 40,
            untracked_frees: 3,
            lost_frees: 0,
            threads: 5,
        },
        Record::Lifetimes {
            thread: 2,
            chunk: 7,
            data: &[0, 5, 0x81, 0x01],
        },
        Record::HeapSeries {
            start: 1 << 41,
            width: 4096,
            data: &[1, 2, 3, 4, 5, 6, 7, 0],
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

#[test]
fn lifetimes_round_trip() {
    use crate::Lifetime;
    for l in [
        Lifetime::Live,
        Lifetime::Freed {
            after: 0,
            temporary: true,
            elsewhere: false,
        },
        Lifetime::Freed {
            after: 123_456,
            temporary: false,
            elsewhere: true,
        },
        Lifetime::Lost { after: 7 },
        Lifetime::Freed {
            after: u64::MAX >> 4,
            temporary: false,
            elsewhere: true,
        },
    ] {
        assert_eq!(Lifetime::from_code(l.code()), l);
    }
    assert_eq!(Lifetime::Live.code(), 0);
}
