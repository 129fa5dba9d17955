//! `memprof export --format pprof`, read back with a decoder of its own.

use std::collections::HashMap;
use std::io::Read;

use memprof_tests::{memprof_ok, Scratch};

/// The fields of a protocol buffer message: (field number, varint or bytes).
fn fields(mut b: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let value = match key & 7 {
            0 => Field::Int(varint(&mut b)),
            2 => {
                let n = varint(&mut b) as usize;
                let (v, rest) = b.split_at(n);
                b = rest;
                Field::Bytes(v)
            }
            w => panic!("wire type {w} in a profile"),
        };
        out.push((key >> 3, value));
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Field<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

impl<'a> Field<'a> {
    fn int(self) -> u64 {
        match self {
            Field::Int(v) => v,
            Field::Bytes(_) => panic!("not a varint"),
        }
    }

    fn bytes(self) -> &'a [u8] {
        match self {
            Field::Bytes(b) => b,
            Field::Int(_) => panic!("not bytes"),
        }
    }

    fn packed(self) -> Vec<u64> {
        let mut b = self.bytes();
        let mut v = Vec::new();
        while !b.is_empty() {
            v.push(varint(&mut b));
        }
        v
    }
}

fn varint(b: &mut &[u8]) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let c = b[0];
        *b = &b[1..];
        v |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn all<'a>(fields: &[(u64, Field<'a>)], number: u64) -> Vec<Field<'a>> {
    fields
        .iter()
        .filter(|f| f.0 == number)
        .map(|f| f.1)
        .collect()
}

fn one(fields: &[(u64, Field<'_>)], number: u64) -> u64 {
    all(fields, number).first().map_or(0, |f| f.int())
}

#[test]
fn export_writes_a_pprof_profile() {
    let s = Scratch::new("pprof");
    let prog = s.c("hooks.c", &[]);
    let r = s.record("leaks", &["-q"], &prog, &["leaks"]);
    let path = s.path("leaks.pb.gz");
    let args = ["export", "--format", "pprof", "--metric", "leaked", "-o"];
    let args = args
        .iter()
        .map(|a| a.as_ref())
        .chain([path.as_os_str(), r.capture.as_os_str()]);
    memprof_ok(args);
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let profile = fields(&raw);
    let strings: Vec<String> = all(&profile, 6)
        .iter()
        .map(|f| String::from_utf8(f.bytes().to_vec()).unwrap())
        .collect();
    assert_eq!(strings[0], "");
    let types: Vec<(&str, &str)> = all(&profile, 1)
        .iter()
        .map(|t| {
            let t = fields(t.bytes());
            (
                &*strings[one(&t, 1) as usize],
                &*strings[one(&t, 2) as usize],
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
            ("peak_space", "bytes")
        ]
    );
    assert_eq!(strings[one(&profile, 14) as usize], "inuse_space");

    // Functions by id, and each location's innermost function.
    let functions: HashMap<u64, String> = all(&profile, 5)
        .iter()
        .map(|f| {
            let f = fields(f.bytes());
            (one(&f, 1), strings[one(&f, 2) as usize].clone())
        })
        .collect();
    let locations: HashMap<u64, String> = all(&profile, 4)
        .iter()
        .map(|l| {
            let l = fields(l.bytes());
            let name = all(&l, 4).first().map_or(String::new(), |line| {
                functions[&one(&fields(line.bytes()), 1)].clone()
            });
            (one(&l, 1), name)
        })
        .collect();
    let mut totals = [0u64; 5];
    let mut leak = None;
    for sample in all(&profile, 2) {
        let sample = fields(sample.bytes());
        let stack = all(&sample, 1)[0].packed();
        let values = all(&sample, 2)[0].packed();
        for (t, v) in totals.iter_mut().zip(&values) {
            *t += v;
        }
        if values[3] > 0 {
            leak = Some((locations[&stack[0]].clone(), values));
        }
    }
    // All 90 allocations and 1,030,800 bytes; the leak by leak_some.
    assert_eq!(totals[..2], [90, 1_030_800]);
    assert_eq!(
        leak,
        Some((
            "leak_some".to_string(),
            vec![30, 30_000, 30, 30_000, 30_000]
        ))
    );
    assert_eq!(totals[4], 1_030_000, "the peak");
}
