//! What `#[task]` costs over the hand-written builder for the same span (a bench binary,
//! not a test).
//!
//! ```text
//! cargo bench --bench macro_overhead
//! ```
//!
//! Each pair runs in this one process, interleaved over several rounds (best round
//! kept), inside one open trace with a noop exporter, and prints ns per call for both
//! forms and their ratio. Run without `--bench` (as `cargo test --all-targets` does) it
//! only smoke-tests.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mv37::{Client, NoopExporter, SpanKind};
use serde::Serialize;

#[mv37::task(name = "step")]
fn step_macro(user: &str, top_k: u32) -> u32 {
    black_box(top_k) + black_box(user.len() as u32)
}

#[derive(Serialize)]
struct StepInput<'a> {
    user: &'a str,
    top_k: u32,
}

fn step_by_hand(user: &str, top_k: u32) -> u32 {
    mv37::span(SpanKind::Task)
        .name("step")
        .input(&StepInput { user, top_k })
        .run(|span| {
            let output = black_box(top_k) + black_box(user.len() as u32);
            span.record_output(&output);
            output
        })
}

#[mv37::task(name = "bare", skip_all, output = false)]
fn bare_macro(top_k: u32) -> u32 {
    black_box(top_k)
}

fn bare_by_hand(top_k: u32) -> u32 {
    mv37::span(SpanKind::Task).name("bare").run(|_| black_box(top_k))
}

/// One way to make the span: by the macro or by hand.
type Call = fn(u64) -> u32;

fn ns_per_call(calls: u64, f: impl Fn(u64) -> u32) -> f64 {
    let start = Instant::now();
    for i in 0..calls {
        black_box(f(i));
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, rounds) = if full { (200_000, 7) } else { (500, 1) };
    let client = Client::builder()
        .exporter(NoopExporter)
        .max_queue_records(1 << 20)
        .max_queue_bytes(1 << 30)
        .batch_interval(Duration::from_millis(20))
        .build()
        .expect("client");
    let _default = client.set_default();

    let cases: [(&str, Call, Call); 2] = [
        (
            "capture 2 args + output",
            |i| step_macro("cus_123", i as u32),
            |i| step_by_hand("cus_123", i as u32),
        ),
        ("no capture", |i| bare_macro(i as u32), |i| bare_by_hand(i as u32)),
    ];
    println!("mv37 macro overhead ({calls} calls per round, best of {rounds} rounds, noop exporter)");
    for (case, by_macro, by_hand) in cases {
        let (mut best_macro, mut best_hand) = (f64::MAX, f64::MAX);
        client.trace("bench").run(|_| {
            for _ in 0..rounds {
                best_hand = best_hand.min(ns_per_call(calls, by_hand));
                best_macro = best_macro.min(ns_per_call(calls, by_macro));
            }
        });
        client.flush().expect("flush");
        println!(
            "  {case}: #[task] {best_macro:.1} ns/call, builder {best_hand:.1} ns/call, ratio {:.2}",
            best_macro / best_hand
        );
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert!(stats.is_balanced(), "accounting must balance: {stats:?}");
}
