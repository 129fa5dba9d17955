//! `memprof export --format pprof`: Google's profile.proto, gzipped, as `pprof` and Speedscope
//! read it. One sample per call stack, with five values: allocations and bytes allocated in
//! the range, blocks and bytes live at its end (the heap at `--at`, or what leaked), and
//! bytes held at its peak.

use std::collections::HashMap;
use std::io::Write;

use memprof_capture::{Capture, Metric, Resolver, Site, StackRef, Summary};

/// Sample types, in value order: (type, unit).
const SAMPLE_TYPES: [(&str, &str); 5] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
    ("peak_space", "bytes"),
];

/// Writes the profile of `sites` to `out`.
pub fn write(
    out: &mut dyn Write,
    capture: &Capture,
    summary: &Summary,
    sites: &[Site],
    resolver: &Resolver,
    metric: Metric,
) -> std::io::Result<()> {
    let mut p = Profile::default();
    let mut msg = Proto::default();
    for (kind, unit) in SAMPLE_TYPES {
        let (kind, unit) = (p.string(kind), p.string(unit));
        msg.message(1, |m| {
            m.uint(1, kind);
            m.uint(2, unit);
        });
    }
    for s in sites {
        let f = &s.figures;
        let stack = StackRef {
            node: s.stack.0,
            truncated: false,
        };
        let locations: Vec<u64> = resolver
            .stacks
            .frames(stack)
            .map(|ip| p.location(ip, resolver))
            .collect();
        let values = [
            f.allocations,
            f.bytes,
            f.leaked_blocks,
            f.leaked_bytes,
            f.peak_bytes,
        ];
        msg.message(2, |m| {
            m.packed(1, &locations);
            m.packed(2, &values);
        });
    }
    for (i, module) in resolver.modules.iter().enumerate() {
        let (file, build_id) = (p.string(&module.path), p.string(&module.build_id));
        msg.message(3, |m| {
            m.uint(1, i as u64 + 1);
            m.uint(2, module.base);
            m.uint(3, module.base + module.size);
            m.uint(5, file);
            m.uint(6, build_id);
            m.uint(7, 1);
            m.uint(8, 1);
            m.uint(9, 1);
        });
    }
    for loc in &p.locations {
        msg.message(4, |m| {
            m.uint(1, loc.id);
            m.uint(2, loc.mapping);
            m.uint(3, loc.address);
            for &(function, line) in &loc.lines {
                m.message(4, |l| {
                    l.uint(1, function);
                    l.uint(2, line);
                });
            }
        });
    }
    for (id, &(name, file)) in p.function_list.iter().enumerate() {
        msg.message(5, |m| {
            m.uint(1, id as u64 + 1);
            m.uint(2, name);
            m.uint(3, name);
            m.uint(4, file);
        });
    }
    let default = p.string(match metric {
        Metric::Allocations => "alloc_objects",
        Metric::Leaked => "inuse_space",
        Metric::Peak => "peak_space",
        Metric::Bytes | Metric::Temporary => "alloc_space",
    });
    for s in &p.strings {
        msg.bytes(6, s.as_bytes());
    }
    msg.uint(9, capture.start_unix_ns());
    msg.uint(10, summary.duration_ns);
    msg.uint(14, default);
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&msg.buf)?;
    gz.finish()?;
    Ok(())
}

/// The tables a profile refers to by id.
#[derive(Default)]
struct Profile {
    /// The string table; its first entry is "", as the format requires.
    strings: Vec<String>,
    string_ids: HashMap<String, u64>,
    locations: Vec<Location>,
    location_ids: HashMap<u64, u64>,
    /// `(name, file)` string ids, by function id - 1.
    function_list: Vec<(u64, u64)>,
    function_ids: HashMap<(u64, u64), u64>,
}

struct Location {
    id: u64,
    mapping: u64,
    address: u64,
    /// `(function id, line)`, innermost (inlined) first.
    lines: Vec<(u64, u64)>,
}

impl Profile {
    fn string(&mut self, s: &str) -> u64 {
        if self.strings.is_empty() {
            self.strings.push(String::new());
            self.string_ids.insert(String::new(), 0);
        }
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (self.string(name), self.string(file));
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        self.function_list.push(key);
        let id = self.function_list.len() as u64;
        self.function_ids.insert(key, id);
        id
    }

    /// The location id of return address `ip`.
    fn location(&mut self, ip: u64, resolver: &Resolver) -> u64 {
        if let Some(&id) = self.location_ids.get(&ip) {
            return id;
        }
        let mapping = resolver
            .modules
            .iter()
            .rposition(|m| m.contains(ip.saturating_sub(1)))
            .map_or(0, |i| i as u64 + 1);
        let lines = resolver
            .symbols
            .frames(ip)
            .iter()
            .map(|f| {
                let name = f.function.as_deref().unwrap_or("??");
                let function = self.function(name, f.file.as_deref().unwrap_or(""));
                (function, u64::from(f.line.unwrap_or(0)))
            })
            .collect();
        let id = self.locations.len() as u64 + 1;
        self.locations.push(Location {
            id,
            mapping,
            address: ip,
            lines,
        });
        self.location_ids.insert(ip, id);
        id
    }
}

/// A protocol buffer message being written.
#[derive(Default)]
struct Proto {
    buf: Vec<u8>,
}

impl Proto {
    fn varint(&mut self, v: u64) {
        let (mut b, mut n) = ([0u8; 10], 0);
        memprof_format::write_varint(&mut b, &mut n, v);
        self.buf.extend_from_slice(&b[..n]);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    /// A varint field; zero is the default and is left out.
    fn uint(&mut self, field: u64, v: u64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
    }

    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    fn message(&mut self, field: u64, write: impl FnOnce(&mut Proto)) {
        let mut m = Proto::default();
        write(&mut m);
        self.bytes(field, &m.buf);
    }

    fn packed(&mut self, field: u64, values: &[u64]) {
        let mut m = Proto::default();
        for &v in values {
            m.varint(v);
        }
        self.bytes(field, &m.buf);
    }
}
