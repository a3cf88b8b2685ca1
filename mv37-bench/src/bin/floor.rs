//! What a span cannot cost less than on this machine: the pieces every stack pays, each
//! timed alone in a tight loop (median of 7 runs of 10 million).
//!
//! ```text
//! cargo run --release -p mv37-bench --bin floor
//! ```
//!
//! - two reads of the clock mv37 uses (`fastant`, the CPU's time-stamp counter where it
//!   is stable) and, for comparison, of `std::time::Instant` (a vDSO call);
//! - an uncontended atomic add (a reference count taken and released is two);
//! - a record handed to another thread: one push into a bounded lock-free queue here
//!   and one pop there, with the consumer on the other core (the cache lines of each
//!   record move between the cores);
//! - the same hand-over in chunks of 64 records (what mv37 does: a thread gathers its
//!   records and hands them over together).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_queue::ArrayQueue;

const N: u64 = 10_000_000;
const RUNS: usize = 7;

/// A record the size of mv37's compact span item.
#[derive(Clone, Copy)]
struct Item([u64; 16]);

fn median_ns(mut f: impl FnMut() -> f64) -> f64 {
    let mut runs: Vec<f64> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn per_op(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_secs_f64() * 1e9 / ops as f64
}

/// Pushes `N` items (in chunks of `chunk` items, one queue slot per chunk) to a consumer
/// thread; ns per item.
fn hand_over(chunk: usize) -> f64 {
    let queue = Arc::new(ArrayQueue::<Vec<Item>>::new(1024));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seen = 0u64;
            loop {
                match queue.pop() {
                    Some(items) => {
                        seen += items.iter().map(|i| i.0[0]).sum::<u64>();
                    }
                    None if done.load(Ordering::Acquire) => {
                        if queue.is_empty() {
                            break;
                        }
                    }
                    None => std::hint::spin_loop(),
                }
            }
            seen
        })
    };
    let start = Instant::now();
    let mut batch = Vec::with_capacity(chunk);
    for i in 0..N {
        batch.push(Item([i; 16]));
        if batch.len() == chunk {
            let mut full = std::mem::replace(&mut batch, Vec::with_capacity(chunk));
            while let Err(back) = queue.push(full) {
                full = back;
                std::hint::spin_loop();
            }
        }
    }
    done.store(true, Ordering::Release);
    let sum = consumer.join().unwrap_or(0);
    black_box(sum);
    per_op(start, N)
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).map(str::to_owned))
        .and_then(|line| line.split(':').nth(1).map(|m| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!(
        "Machine: {cpu}, {} cores; median of {RUNS} runs of {N} operations.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("fastant TSC available: {}", fastant::is_tsc_available());
    println!();
    println!("| piece | ns |");
    println!("|---|---:|");
    let fastant_pair = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            let a = fastant::Instant::now();
            let b = fastant::Instant::now();
            black_box((a, b));
        }
        per_op(start, N)
    });
    println!("| two clock reads, `fastant::Instant::now` | {fastant_pair:.1} |");
    let std_pair = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            let a = Instant::now();
            let b = Instant::now();
            black_box((a, b));
        }
        per_op(start, N)
    });
    println!("| two clock reads, `std::time::Instant::now` | {std_pair:.1} |");
    let counter = AtomicU64::new(0);
    let atomic = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            black_box(counter.fetch_add(1, Ordering::AcqRel));
        }
        per_op(start, N)
    });
    println!("| one uncontended atomic add | {atomic:.1} |");
    let single = median_ns(|| hand_over(1));
    println!("| a 128-byte record handed to a thread on the other core, one at a time | {single:.1} |");
    let chunked = median_ns(|| hand_over(64));
    println!("| the same, in chunks of 64 records (per record) | {chunked:.1} |");
    println!();
    println!(
        "Floor of a span (two clock reads + one record handed over in a chunk): {:.1} ns.",
        fastant_pair + chunked
    );
}
