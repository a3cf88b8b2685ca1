//! opentelemetry_sdk: spans through `Tracer::in_span` and a `BatchSpanProcessor` whose
//! exporter counts what it receives and discards it. The tracing stack reuses the
//! pipeline. The agent case exports through opentelemetry-otlp to the loopback receiver
//! instead.

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mv37_bench::agent::{self, Payloads};
use mv37_bench::remote::RemoteSink;
use mv37_bench::{block_on, measured, run_producers, Case, Delivery, Meter, Query, PRODUCER_THREADS};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;

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

/// A tracer provider with a batch span processor (queue bound `settings.otel_queue()`,
/// batches of 512) in front of a counting exporter, and the exporter's count.
pub fn pipeline(settings: Settings) -> (SdkTracerProvider, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let exporter = CountingExporter {
        received: Arc::clone(&received),
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(settings.otel_queue())
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
        Case::Threads2 => spans + PRODUCER_THREADS as u64,
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
                measured(|| {
                    for i in 0..spans {
                        tracer.in_span("step", |_| black_box(i));
                    }
                });
                meter.stop();
            }
            root.span().end();
        }
        Case::Async => {
            let root = root();
            measured(|| {
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
                )
            });
            root.span().end();
        }
        Case::Capture => {
            let query = Query::sample();
            let root = root();
            {
                let _attached = root.clone().attach();
                meter.start();
                measured(|| {
                    for _ in 0..spans {
                        let builder = tracer
                            .span_builder("step")
                            .with_attributes([KeyValue::new("input", json(black_box(&query)))]);
                        tracer.in_span_with_builder(builder, |cx| {
                            cx.span()
                                .set_attribute(KeyValue::new("output", json(black_box(&query))));
                        });
                    }
                });
                meter.stop();
            }
            root.span().end();
        }
        Case::Threads2 => run_producers(meter, spans, |share, gate| {
            let root = root();
            {
                let _attached = root.clone().attach();
                gate.measure(|| {
                    for i in 0..share {
                        tracer.in_span("step", |_| black_box(i));
                    }
                });
            }
            root.span().end();
        }),
        Case::Tiny => {
            meter.start();
            measured(|| {
                for i in 0..spans / 2 {
                    tracer.in_span("bench", |_| tracer.in_span("step", |_| black_box(i)));
                }
            });
            meter.stop();
        }
        Case::Macro | Case::NoClient | Case::Agent => {}
    }
    finish(provider, &received, expected)
}

/// The agent case: `spans / 9` agent turns through a batch span processor (queue bound
/// `settings.otel_queue()`, batches of 512) in front of opentelemetry-otlp's HTTP
/// exporter (protobuf, gzip, its default blocking reqwest client), sending to `sink`,
/// flushed every [`agent::TURNS_PER_FLUSH`] turns. The processor counts its drops privately: a drop shows as a span the receiver never
/// got.
pub fn agent(spans: u64, settings: Settings, sink: &RemoteSink, meter: &mut Meter) -> Delivery {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(sink.traces_url())
        .with_protocol(Protocol::HttpBinary)
        .with_compression(Compression::Gzip)
        .build()
        .unwrap_or_else(|error| {
            eprintln!("error: opentelemetry-otlp exporter: {error}");
            std::process::exit(1)
        });
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(settings.otel_queue())
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name("mv37-bench").build())
        .build();
    let tracer = provider.tracer("mv37-bench");
    let payloads = Payloads::sample();
    meter.start();
    measured(|| {
        for turn in 1..=spans / agent::SPANS_PER_TURN {
            agent_turn(&tracer, &payloads);
            if turn % agent::TURNS_PER_FLUSH == 0 {
                if let Err(error) = meter.pause(|| provider.force_flush()) {
                    eprintln!("opentelemetry_sdk: force_flush: {error}");
                }
            }
        }
    });
    meter.stop();
    if let Err(error) = provider.force_flush() {
        eprintln!("opentelemetry_sdk: force_flush: {error}");
    }
    if let Err(error) = provider.shutdown() {
        eprintln!("opentelemetry_sdk: shutdown: {error}");
    }
    Delivery {
        expected: spans,
        produced: spans,
        exported: sink.spans_received(),
        dropped: 0,
        balanced: true,
    }
}

fn json(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One agent turn ([`mv37_bench::agent`]) with the GenAI attributes a program would set
/// by hand.
fn agent_turn(tracer: &SdkTracer, payloads: &Payloads) {
    let root = tracer
        .span_builder(agent::TURN)
        .with_attributes([KeyValue::new("input.value", json(&payloads.question))]);
    tracer.in_span_with_builder(root, |turn| {
        let agent_span = tracer.span_builder(agent::AGENT_SPAN).with_attributes([
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.name", agent::AGENT),
        ]);
        tracer.in_span_with_builder(agent_span, |_| {
            for _ in 0..agent::TOOL_CALLS {
                model_call(tracer, payloads);
                let tool = tracer.span_builder(agent::TOOL_SPAN).with_attributes([
                    KeyValue::new("gen_ai.operation.name", "execute_tool"),
                    KeyValue::new("gen_ai.tool.name", agent::TOOL),
                    KeyValue::new("gen_ai.tool.call.arguments", json(&payloads.tool_arguments)),
                ]);
                tracer.in_span_with_builder(tool, |call| {
                    call.span()
                        .set_attribute(KeyValue::new("gen_ai.tool.call.result", json(&payloads.tool_result)));
                });
            }
            model_call(tracer, payloads);
        });
        turn.span()
            .set_attribute(KeyValue::new("output.value", json(&payloads.answer)));
    });
}

fn model_call(tracer: &SdkTracer, payloads: &Payloads) {
    let builder = tracer
        .span_builder(agent::LLM_SPAN)
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", agent::MODEL),
            KeyValue::new("gen_ai.provider.name", agent::PROVIDER),
            KeyValue::new("input.value", json(&payloads.llm_input)),
        ]);
    tracer.in_span_with_builder(builder, |cx| {
        let span = cx.span();
        span.set_attribute(KeyValue::new("output.value", json(&payloads.llm_output)));
        span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", agent::INPUT_TOKENS));
        span.set_attribute(KeyValue::new("gen_ai.usage.output_tokens", agent::OUTPUT_TOKENS));
    });
}
