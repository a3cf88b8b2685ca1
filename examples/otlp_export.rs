//! Ships the support agent's trace to an OpenTelemetry backend over OTLP/HTTP.
//!
//! ```text
//! # an OpenTelemetry Collector, Jaeger or Tempo on this machine
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example otlp_export
//! # Arize Phoenix (serves OTLP/HTTP on its UI port)
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 cargo run --example otlp_export
//! # Langfuse (OTLP endpoint under /api/public/otel, basic auth with the project keys)
//! OTEL_EXPORTER_OTLP_ENDPOINT=https://cloud.langfuse.com/api/public/otel \
//! OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic $(printf pk-lf-…:sk-lf-… | base64 -w0)" \
//!   cargo run --example otlp_export
//! ```
//!
//! Every `OTEL_EXPORTER_OTLP_*` variable (protocol, compression, headers, timeout),
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` apply. Without an endpoint it sends
//! to `http://localhost:4318/v1/traces`; if nothing listens there the spans are counted
//! as dropped (`export_failed`) and the program still exits cleanly.

use mv37::{Client, ConsoleExporter, ExporterKind, Role, Usage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder()
        .service_name("support-agent-example")
        .exporter_kinds([ExporterKind::Otlp])
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .shutdown_timeout(std::time::Duration::from_secs(3))
        .build()?;

    client
        .trace("support_agent")
        .conversation_id("thread_123")
        .user_id("cus_123")
        .run(|trace| {
            trace.message(Role::User, "Where is my order?");
            trace.retrieval("search_docs").run(|span| {
                span.record_input(&serde_json::json!({ "query": "order status" }));
                span.record_output(&serde_json::json!({ "hits": 1 }));
            });
            trace.task("resolve_ticket").run(|_| {
                trace
                    .llm("openai.responses")
                    .model("gpt-4.1-mini")
                    .provider("openai")
                    .run(|span| {
                        span.message(Role::User, "Where is my order?");
                        span.message(Role::Assistant, "It shipped yesterday.");
                        span.set_usage(Usage {
                            input_tokens: Some(812),
                            output_tokens: Some(64),
                            cached_tokens: Some(512),
                            cost_usd: Some(0.00042),
                            ..Usage::default()
                        });
                    });
                trace
                    .tool("track_order")
                    .arguments(&serde_json::json!({ "order": "4421" }))
                    .run(|call| call.record_output(&serde_json::json!({ "status": "shipped" })));
            });
            trace.message(Role::Assistant, "It shipped yesterday.");
        });

    if let Err(error) = client.shutdown() {
        eprintln!("mv37: {error}");
    }
    let stats = client.stats();
    println!(
        "mv37: {} records exported, {} dropped ({:?})",
        stats.exported,
        stats.dropped.total(),
        stats.dropped
    );
    Ok(())
}
