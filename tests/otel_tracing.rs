//! One request, one trace: an HTTP handler's span made by `tracing` and
//! `tracing-opentelemetry` (which makes its OpenTelemetry context current on entry), and an
//! mv37 trace started inside it: the mv37 trace continues the OpenTelemetry trace.

#![cfg(all(feature = "opentelemetry", feature = "tracing"))]
#![allow(clippy::panic)]

mod support;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use support::memory::{flushed, memory_client};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn an_mv37_trace_inside_a_tracing_opentelemetry_span_joins_its_trace() {
    let (client, memory) = memory_client();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("http")));
    let (otel_trace, otel_span) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("GET /orders/{id}");
        let _entered = request.enter();
        client.trace("answer_order").run(|_| {});
        let context = request.context();
        let span = context.span();
        let span_context = span.span_context();
        (span_context.trace_id().to_string(), span_context.span_id().to_string())
    });
    flushed(&client);
    let trace = memory.trace("answer_order").expect("trace");
    assert_eq!(trace.trace_id.to_string(), otel_trace, "one trace id for the request");
    assert_eq!(
        trace.parent_span_id.map(|id| id.to_string()),
        Some(otel_span),
        "under the HTTP span"
    );
}
