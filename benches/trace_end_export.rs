//! How trace ends turn into requests: a program ending 1,000 traces a second through the
//! OTLP exporter to a loopback collector (requests per second), and how long an isolated
//! trace takes from its end to the collector (p50, p99, max).
//!
//! `cargo bench --bench trace_end_export` (optionally `-- SECONDS RATE`).

// A benchmark reports by printing and fails by panicking.
#![allow(clippy::panic, clippy::unwrap_used)]

#[path = "../tests/support/collector.rs"]
mod collector;

use std::time::{Duration, Instant};

use collector::{Collector, Reply};
use mv37::{Client, OtlpConfig, OtlpExporter, OtlpProtocol, ResourceInfo};

fn otlp_client(collector: &Collector) -> Client {
    let config = OtlpConfig {
        endpoint: format!("{}/v1/traces", collector.url()),
        protocol: OtlpProtocol::Protobuf,
        ..OtlpConfig::default()
    };
    Client::builder()
        .exporter(OtlpExporter::new(config, &ResourceInfo::default()).unwrap())
        .build()
        .unwrap()
}

fn one_trace(client: &Client, i: usize) {
    client.trace("agent_turn").run(|trace| {
        trace
            .llm("chat")
            .model("gpt-4.1-mini")
            .run(|span| span.record_input(&i));
        trace.tool("lookup").run(|span| span.record_output(&"ok"));
    });
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);

    // Steady load: `rate` traces a second, paced on a fixed schedule.
    let sink = Collector::start(|_| Reply::Ok);
    let client = otlp_client(&sink);
    let started = Instant::now();
    let total = (seconds * rate) as usize;
    for i in 0..total {
        let due = started + Duration::from_nanos(i as u64 * 1_000_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        one_trace(&client, i);
    }
    let elapsed = started.elapsed();
    client.shutdown().unwrap();
    let stats = client.stats();
    assert!(stats.is_balanced() && stats.exported == stats.produced, "{stats:?}");
    let requests = sink.received().len();
    println!(
        "steady load: {total} traces in {elapsed:.2?} ({:.0} traces/s): {requests} requests, {:.1} requests/s, {:.1} records per request",
        total as f64 / elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        stats.exported as f64 / requests.max(1) as f64,
    );

    // Isolated traces: each ends alone, and we time its arrival at the collector.
    let sink = Collector::start(|_| Reply::Ok);
    let client = otlp_client(&sink);
    let mut delays = Vec::new();
    for i in 0..50 {
        let before = sink.received().len();
        one_trace(&client, i);
        let ended = Instant::now();
        let give_up = ended + Duration::from_secs(5);
        while sink.received().len() == before {
            assert!(Instant::now() < give_up, "trace {i} never arrived");
            std::thread::sleep(Duration::from_micros(200));
        }
        delays.push(ended.elapsed());
    }
    client.shutdown().unwrap();
    delays.sort();
    let at = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!(
        "isolated trace, end to collector: p50 {:.1?}, p99 {:.1?}, max {:.1?} (export linger 20 ms)",
        at(0.5),
        at(0.99),
        delays[delays.len() - 1]
    );
}
