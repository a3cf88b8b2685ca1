//! tracing + mv37's `tracing` bridge: the tracing stack's spans recorded by
//! `mv37::tracing::layer()` inside an mv37 trace, exported to a counting exporter.
//! `filtered`: the layer with its default filter, which these spans (no GenAI field, no
//! allowed target) do not pass: the cost of a span the bridge rejects.

use std::hint::black_box;

use mv37_bench::{block_on, run_producers, Case, Delivery, Meter, Query, PRODUCER_THREADS};
use tracing::{field, info_span};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::mv37_stack::{self, CountingExporter};
use crate::Settings;

#[tracing::instrument(name = "step", skip_all)]
fn step(i: u64) -> u64 {
    black_box(i)
}

#[tracing::instrument(name = "step", skip_all)]
async fn step_async(i: u64) -> u64 {
    black_box(i)
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, settings: Settings, filtered: bool, meter: &mut Meter) -> Delivery {
    let exporter = CountingExporter::default();
    let client = mv37_stack::client(settings, exporter.clone());
    let layer = mv37::tracing::layer()
        .client(client.clone())
        .record_all_spans(!filtered);
    if let Err(error) = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)) {
        eprintln!("error: tracing subscriber: {error}");
        std::process::exit(1);
    }
    // The mv37 trace around the spans; the spans themselves unless the filter rejects them.
    let expected = match (case, filtered) {
        (Case::Tiny, false) => spans,
        (Case::Tiny, true) => spans / 2,
        (Case::Threads2, false) => PRODUCER_THREADS as u64 + spans,
        (Case::Threads2, true) => PRODUCER_THREADS as u64,
        (_, false) => 1 + spans,
        (_, true) => 1,
    };
    let json = |value: &Query| serde_json::to_string(value).unwrap_or_default();
    match case {
        Case::Sync => client.trace("bench").run(|_| {
            meter.start();
            for i in 0..spans {
                info_span!("step").in_scope(|| black_box(i));
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
            client.trace("bench").run(|_| {
                meter.start();
                for _ in 0..spans {
                    let span = info_span!("step", input = json(black_box(&query)).as_str(), output = field::Empty);
                    let _entered = span.enter();
                    span.record("output", json(black_box(&query)).as_str());
                }
                meter.stop();
            })
        }
        Case::Tiny => {
            meter.start();
            for i in 0..spans / 2 {
                client
                    .trace("bench")
                    .run(|_| info_span!("step").in_scope(|| black_box(i)));
            }
            meter.stop();
        }
        Case::Threads2 => run_producers(meter, spans, |share, gate| {
            client.trace("bench").run(|_| {
                gate.measure(|| {
                    for i in 0..share {
                        info_span!("step").in_scope(|| black_box(i));
                    }
                })
            })
        }),
        Case::NoClient | Case::Agent => {}
    }
    mv37_stack::delivery(&client, &exporter, expected)
}
