#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Dwarf,
    FramePointer,
}
pub struct Unwinder;
impl Unwinder {
    pub fn new() -> Unwinder {
        Unwinder
    }
    pub fn capture(&mut self, _mode: Mode, _out: &mut [u64]) -> (usize, bool) {
        (0, false)
    }
    pub fn misses(&self) -> u64 {
        1
    }
    pub fn flush(&mut self) {}
}
