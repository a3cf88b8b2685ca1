//! What `#[task]` costs over the hand-written builder for the same span (a bench binary,
//! not a test).
//!
//! ```text
//! cargo bench --bench macro_overhead
//! ```
//!
//! Each pair runs in this one process, interleaved over several rounds (best round
//! kept), inside one open trace with an exporter that only counts what it receives, and
//! prints ns per call for both forms and their ratio. It keeps its books: at the end it
//! prints the records produced, exported and dropped, and fails unless every span it
//! made reached the exporter (none dropped, the client's stats balanced and equal to the
//! exporter's own count). Run without `--bench` (as `cargo test --all-targets` does) it
//! only smoke-tests.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mv37::{Client, ExportError, Exporter, Record, SpanKind};
use serde::Serialize;

/// Discards every batch, like `NoopExporter`, after counting its spans and other records.
#[derive(Clone, Default)]
struct CountingExporter {
    spans: Arc<AtomicU64>,
    others: Arc<AtomicU64>,
}

impl Exporter for CountingExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let spans = batch.iter().filter(|record| matches!(record, Record::Span(_))).count() as u64;
        self.spans.fetch_add(spans, Ordering::Relaxed);
        self.others.fetch_add(batch.len() as u64 - spans, Ordering::Relaxed);
        Ok(())
    }
}

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
    let exporter = CountingExporter::default();
    let client = Client::builder()
        .exporter(exporter.clone())
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
    println!("mv37 macro overhead ({calls} calls per round, best of {rounds} rounds, counting exporter)");
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

    // Every call made one span; each case ran in one trace.
    let spans = (cases.len() * rounds * 2) as u64 * calls;
    let traces = cases.len() as u64;
    let stats = client.stats();
    let received = (
        exporter.spans.load(Ordering::Relaxed),
        exporter.others.load(Ordering::Relaxed),
    );
    println!(
        "  records: {} produced, {} exported, {} dropped, {} queued; the exporter received {} spans + {} trace records",
        stats.produced,
        stats.exported,
        stats.dropped.total(),
        stats.queued,
        received.0,
        received.1
    );
    assert!(stats.is_balanced(), "accounting must balance: {stats:?}");
    assert_eq!(
        stats.dropped.total(),
        0,
        "a record was dropped, the timings are not comparable: {stats:?}"
    );
    assert_eq!(
        stats.produced,
        spans + traces,
        "one record per call and per trace: {stats:?}"
    );
    assert_eq!(stats.exported, stats.produced, "{stats:?}");
    assert_eq!(received, (spans, traces), "the exporter received every record once");
}
