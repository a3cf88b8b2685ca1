//! mv37: spans through the builder (`trace.task(..).run(..)`) and the `#[mv37::task]`
//! macro, exported to an exporter that counts what it receives and discards it (as
//! `NoopExporter` does), accounted by `client.stats()` and checked against that count.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mv37::{Client, ExportError, Exporter, Record};
use mv37_bench::{block_on, Case, Delivery, Meter, Query};

use crate::Settings;

#[mv37::task(name = "step", skip_all, output = false)]
fn step(i: u64) -> u64 {
    black_box(i)
}

#[mv37::task(name = "step", skip_all, output = false)]
async fn step_async(i: u64) -> u64 {
    black_box(i)
}

/// Discards every batch after counting its records: the harness's own count of what
/// arrived, next to the client's.
#[derive(Clone, Default)]
pub(crate) struct CountingExporter {
    received: Arc<AtomicU64>,
}

impl Exporter for CountingExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        self.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

pub(crate) fn client(settings: Settings, exporter: CountingExporter) -> Client {
    Client::builder()
        .exporter(exporter)
        .max_queue_records(settings.queue_records)
        .build()
        .unwrap_or_else(|error| {
            eprintln!("error: mv37 client: {error}");
            std::process::exit(1)
        })
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, settings: Settings, meter: &mut Meter) -> Delivery {
    if case == Case::NoClient {
        return without_client(spans, meter);
    }
    let exporter = CountingExporter::default();
    let client = client(settings, exporter.clone());
    let _default = client.set_default();
    // The long-lived trace adds one trace record; the tiny traces are all measured.
    let expected = match case {
        Case::Tiny => spans,
        _ => spans + 1,
    };
    match case {
        Case::Sync => client.trace("bench").run(|trace| {
            meter.start();
            for i in 0..spans {
                trace.task("step").run(|_| black_box(i));
            }
            meter.stop();
        }),
        Case::Macro => client.trace("bench").run(|_| {
            meter.start();
            for i in 0..spans {
                black_box(step(i));
            }
            meter.stop();
        }),
        Case::Async => block_on(client.trace("bench").run_async(|_| async {
            meter.start();
            for i in 0..spans {
                black_box(step_async(i).await);
            }
            meter.stop();
        })),
        Case::Capture => {
            let query = Query::sample();
            client.trace("bench").run(|trace| {
                meter.start();
                for _ in 0..spans {
                    trace.task("step").run(|span| {
                        span.record_input(black_box(&query));
                        span.record_output(black_box(&query));
                    });
                }
                meter.stop();
            })
        }
        Case::Tiny => {
            meter.start();
            for i in 0..spans / 2 {
                client
                    .trace("bench")
                    .run(|trace| trace.task("step").run(|_| black_box(i)));
            }
            meter.stop();
        }
        Case::NoClient => unreachable!("handled above"),
    }
    delivery(&client, &exporter, expected)
}

/// Shuts `client` down and reports what arrived, checking the client's count against the
/// exporter's.
pub(crate) fn delivery(client: &Client, exporter: &CountingExporter, expected: u64) -> Delivery {
    if let Err(error) = client.shutdown() {
        eprintln!("mv37: shutdown: {error}");
    }
    let stats = client.stats();
    let received = exporter.received.load(Ordering::Relaxed);
    if received != stats.exported {
        eprintln!("error: the exporter received {received} records, the client counted {stats:?}");
    }
    Delivery {
        expected,
        produced: stats.produced,
        exported: received,
        dropped: stats.dropped.total(),
        balanced: stats.is_balanced() && stats.queued == 0 && stats.spooled == 0 && received == stats.exported,
    }
}

fn without_client(spans: u64, meter: &mut Meter) -> Delivery {
    let installed = mv37::client().is_some();
    meter.start();
    for i in 0..spans {
        black_box(step(i));
    }
    meter.stop();
    Delivery {
        balanced: !installed,
        ..Delivery::default()
    }
}
