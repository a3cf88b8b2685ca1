//! One request, one trace: an axum service instrumented with `tracing` and
//! `tracing-opentelemetry` (the HTTP span, and its OpenTelemetry trace), with mv37's
//! `tracing` layer beside it. The handler's mv37 trace continues the HTTP span's trace:
//! same trace id, the HTTP span as its parent. Needs the `tracing` and `opentelemetry`
//! features; runs offline (the example calls itself on 127.0.0.1).
//!
//! ```text
//! cargo run --example axum_otel --features tracing,opentelemetry
//! ```

use std::error::Error;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use mv37::{Client, ConsoleExporter};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// `GET /orders/{id}`: the request's `tracing` span (an OpenTelemetry span, current while
/// the handler runs) and, inside it, the mv37 trace of the agent that answers.
#[tracing::instrument(name = "GET /orders/{id}", skip(client))]
async fn order(State(client): State<Client>, Path(id): Path<String>) -> String {
    let http = tracing::Span::current().context();
    let (http_trace, http_span) = (
        http.span().span_context().trace_id().to_string(),
        http.span().span_context().span_id().to_string(),
    );
    let answer = client
        .trace("answer_order")
        .user_id("cus_123")
        .run_async(|trace| async move {
            trace.tool("lookup_order").run(|span| {
                span.record_input(&serde_json::json!({ "order": id }));
                span.record_output(&serde_json::json!({ "status": "shipped" }));
            });
            let mv37_trace = trace.id().map(|id| id.to_string()).unwrap_or_default();
            format!("order {id} has shipped (mv37 trace {mv37_trace})")
        })
        .await;
    format!("{answer}; http trace {http_trace} span {http_span}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;
    // The service's OpenTelemetry tracing (no exporter here: a real service would send
    // these spans to its collector), and mv37's layer for GenAI spans.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("support-service")))
        .with(mv37::tracing::layer());
    tracing::subscriber::set_global_default(subscriber)?;

    let app = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(client.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let body = reqwest::get(format!("http://{address}/orders/4421"))
        .await?
        .text()
        .await?;
    println!("{body}");

    server.abort();
    client.shutdown_async().await?;
    let stats = client.stats();
    println!(
        "mv37: {} records exported to {destination} ({} dropped, {} queued)",
        stats.exported,
        stats.dropped.total(),
        stats.queued
    );
    Ok(())
}
