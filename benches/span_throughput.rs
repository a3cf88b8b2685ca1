//! Quick throughput bench of the span hot path (a bench binary, not a test).
//!
//! ```text
//! cargo bench --bench span_throughput
//! ```
//!
//! Each case runs in this one process, one after another, and reports ns per span on
//! the calling thread, the ratio against the no-client baseline measured in the same run,
//! and the exporter's accounting (every span exported or counted as dropped).
//! Run without `--bench` (as `cargo test --all-targets` does) it only smoke-tests.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mv37::{Client, NoopExporter, Trace};
use serde::Serialize;

#[derive(Serialize)]
struct Query<'a> {
    user: &'a str,
    top_k: u32,
    score: f64,
}

fn time_per_span(spans: u64, trace: &Trace, body: impl Fn(&Trace)) -> f64 {
    let start = Instant::now();
    for _ in 0..spans {
        body(trace);
    }
    start.elapsed().as_nanos() as f64 / spans as f64
}

fn client() -> Client {
    Client::builder()
        .exporter(NoopExporter)
        .max_queue_records(1 << 20)
        .max_queue_bytes(1 << 30)
        .batch_interval(Duration::from_millis(50))
        .build()
        .expect("client")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let spans: u64 = if full { 2_000_000 } else { 2_000 };
    let query = Query {
        user: "cus_123",
        top_k: 5,
        score: 0.75,
    };

    let disabled = Trace::disabled();
    let off = time_per_span(spans, &disabled, |t| {
        t.task("step").run(|s| {
            black_box(s);
        })
    });

    let mut rows = Vec::new();
    for (case, capture) in [("child span, no capture", false), ("child span, struct in+out", true)] {
        let client = client();
        let started = Instant::now();
        let per_span = client.trace("bench").run(|trace| {
            time_per_span(spans, trace, |t| {
                t.task("step").run(|s| {
                    if capture {
                        s.record_input(&query);
                        s.record_output(&query);
                    }
                })
            })
        });
        client.shutdown().expect("shutdown");
        let elapsed = started.elapsed();
        let stats = client.stats();
        assert!(stats.is_balanced(), "accounting must balance: {stats:?}");
        assert_eq!(stats.produced, spans + 1, "every span is produced once");
        rows.push((case, per_span, stats, elapsed));
    }

    println!("mv37 span throughput ({spans} spans per case, one process, noop exporter)");
    println!("  no client installed: {off:.1} ns/span (baseline)");
    for (case, per_span, stats, elapsed) in rows {
        println!(
            "  {case}: {per_span:.1} ns/span = {:.2} M spans/s on the caller ({:.0}x baseline); exported {} dropped {} in {:.0} ms incl. drain",
            1e3 / per_span,
            per_span / off.max(0.01),
            stats.exported,
            stats.dropped.total(),
            elapsed.as_secs_f64() * 1e3,
        );
    }
}
