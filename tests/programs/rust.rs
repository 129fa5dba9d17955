// Rust allocations through the system allocator: Vec, String, Box, HashMap. Everything is
// dropped except one boxed slice of 777 bytes, leaked on purpose.
use std::collections::HashMap;

fn work() -> bool {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1000 {
        v.push(i);
    }
    let mut m: HashMap<u32, String> = HashMap::new();
    for i in 0..100 {
        m.insert(i, format!("value {i}"));
    }
    let b = Box::new([0u8; 4096]);
    std::hint::black_box(&b);
    v.len() == 1000 && m.len() == 100 && b[0] == 0
}

fn main() {
    let ok = work();
    let leaked: &'static mut [u8] = Box::leak(vec![1u8; 777].into_boxed_slice());
    std::hint::black_box(&leaked);
    if !ok || leaked[0] != 1 {
        std::process::exit(1);
    }
}
