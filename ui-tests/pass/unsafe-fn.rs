//! `unsafe fn`: the body keeps its unsafe context.
#![deny(warnings)]

/// # Safety
/// `ptr` must point to a live `u32`.
#[mv37::task(skip(ptr))]
unsafe fn read(ptr: *const u32, label: &str) -> u32 {
    let _ = label;
    unsafe { *ptr }
}

fn main() {
    let value = 1;
    // SAFETY: `value` is live.
    let _ = unsafe { read(&value, "v") };
}
