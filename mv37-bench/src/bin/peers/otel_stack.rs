//! opentelemetry_sdk: spans through `Tracer::in_span` and a `BatchSpanProcessor` whose
//! exporter counts what it receives and discards it. The tracing stack reuses the
//! pipeline.

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mv37_bench::{block_on, Case, Delivery, Meter, Query};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

use crate::Settings;

#[derive(Debug)]
struct CountingExporter {
    received: Arc<AtomicU64>,
}

impl SpanExporter for CountingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// A tracer provider with a batch span processor (queue bound `settings.queue_records`,
/// batches of 512) in front of a counting exporter, and the exporter's count.
pub fn pipeline(settings: Settings) -> (SdkTracerProvider, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let exporter = CountingExporter {
        received: Arc::clone(&received),
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(settings.queue_records)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).build();
    (provider, received)
}

/// Flushes and shuts the provider down, then tells where the `expected` spans went. The
/// batch span processor counts its drops privately, so a drop shows as a missing span.
pub fn finish(provider: SdkTracerProvider, received: &AtomicU64, expected: u64) -> Delivery {
    if let Err(error) = provider.force_flush() {
        eprintln!("opentelemetry_sdk: force_flush: {error}");
    }
    if let Err(error) = provider.shutdown() {
        eprintln!("opentelemetry_sdk: shutdown: {error}");
    }
    Delivery {
        expected,
        produced: expected,
        exported: received.load(Ordering::Relaxed),
        dropped: 0,
        balanced: true,
    }
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, settings: Settings, meter: &mut Meter) -> Delivery {
    let (provider, received) = pipeline(settings);
    let tracer = provider.tracer("mv37-bench");
    let expected = match case {
        Case::Tiny => spans,
        _ => spans + 1,
    };
    let json = |value: &Query| serde_json::to_string(value).unwrap_or_default();
    let root = || Context::current_with_span(tracer.start("bench"));
    match case {
        Case::Sync => {
            let root = root();
            {
                let _attached = root.clone().attach();
                meter.start();
                for i in 0..spans {
                    tracer.in_span("step", |_| black_box(i));
                }
                meter.stop();
            }
            root.span().end();
        }
        Case::Async => {
            let root = root();
            block_on(
                async {
                    meter.start();
                    for i in 0..spans {
                        let span = tracer.start("step");
                        black_box(
                            async { black_box(i) }
                                .with_context(Context::current_with_span(span))
                                .await,
                        );
                    }
                    meter.stop();
                }
                .with_context(root.clone()),
            );
            root.span().end();
        }
        Case::Capture => {
            let query = Query::sample();
            let root = root();
            {
                let _attached = root.clone().attach();
                meter.start();
                for _ in 0..spans {
                    let builder = tracer
                        .span_builder("step")
                        .with_attributes([KeyValue::new("input", json(black_box(&query)))]);
                    tracer.in_span_with_builder(builder, |cx| {
                        cx.span()
                            .set_attribute(KeyValue::new("output", json(black_box(&query))));
                    });
                }
                meter.stop();
            }
            root.span().end();
        }
        Case::Tiny => {
            meter.start();
            for i in 0..spans / 2 {
                tracer.in_span("bench", |_| tracer.in_span("step", |_| black_box(i)));
            }
            meter.stop();
        }
        Case::Macro | Case::NoClient => {}
    }
    finish(provider, &received, expected)
}
