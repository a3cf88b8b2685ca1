//! tracing + tracing-subscriber's registry + tracing-opentelemetry, over the same
//! opentelemetry_sdk batch pipeline as the otel stack.

use std::hint::black_box;

use mv37_bench::{block_on, run_producers, Case, Delivery, Meter, Query, PRODUCER_THREADS};
use opentelemetry::trace::TracerProvider as _;
use tracing::{field, info_span, Instrument as _};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::{otel_stack, Settings};

#[tracing::instrument(name = "step", skip_all)]
fn step(i: u64) -> u64 {
    black_box(i)
}

#[tracing::instrument(name = "step", skip_all)]
async fn step_async(i: u64) -> u64 {
    black_box(i)
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, settings: Settings, meter: &mut Meter) -> Delivery {
    let (provider, received) = otel_stack::pipeline(settings);
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("mv37-bench"));
    let subscriber = tracing_subscriber::registry().with(layer);
    if let Err(error) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("error: tracing subscriber: {error}");
        std::process::exit(1);
    }
    let expected = match case {
        Case::Tiny => spans,
        Case::Threads2 => spans + PRODUCER_THREADS as u64,
        _ => spans + 1,
    };
    let json = |value: &Query| serde_json::to_string(value).unwrap_or_default();
    match case {
        Case::Sync => info_span!("bench").in_scope(|| {
            meter.start();
            for i in 0..spans {
                info_span!("step").in_scope(|| black_box(i));
            }
            meter.stop();
        }),
        Case::Macro => info_span!("bench").in_scope(|| {
            meter.start();
            for i in 0..spans {
                black_box(step(i));
            }
            meter.stop();
        }),
        Case::Async => block_on(
            async {
                meter.start();
                for i in 0..spans {
                    black_box(step_async(i).await);
                }
                meter.stop();
            }
            .instrument(info_span!("bench")),
        ),
        Case::Capture => {
            let query = Query::sample();
            info_span!("bench").in_scope(|| {
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
                info_span!("bench").in_scope(|| info_span!("step").in_scope(|| black_box(i)));
            }
            meter.stop();
        }
        Case::Threads2 => run_producers(meter, spans, |share, gate| {
            info_span!("bench").in_scope(|| {
                gate.measure(|| {
                    for i in 0..share {
                        info_span!("step").in_scope(|| black_box(i));
                    }
                })
            })
        }),
        Case::NoClient | Case::Agent => {}
    }
    otel_stack::finish(provider, &received, expected)
}
