//! OpenTelemetry context interop: a new mv37 trace continues the span of the current
//! OpenTelemetry context (one request, one trace), and an mv37 context converts back to an
//! OpenTelemetry context and to W3C headers for outgoing calls.

#![cfg(feature = "opentelemetry")]
#![allow(clippy::panic)]

mod support;

use mv37::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use support::memory::{flushed, memory_client};

fn otel_span(trace_hex: &str, span_hex: &str) -> SpanContext {
    SpanContext::new(
        opentelemetry::trace::TraceId::from_hex(trace_hex).expect("trace id"),
        opentelemetry::trace::SpanId::from_hex(span_hex).expect("span id"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )
}

#[test]
fn a_new_trace_continues_the_current_opentelemetry_span() {
    let (client, memory) = memory_client();
    let request = opentelemetry::Context::current()
        .with_remote_span_context(otel_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"));
    {
        let _attached = request.attach();
        client.trace("handle_request").run(|_| {});
    }
    // Outside the OpenTelemetry context: a trace of its own.
    client.trace("background_job").run(|_| {});
    flushed(&client);
    let handled = memory.trace("handle_request").expect("trace");
    assert_eq!(handled.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        handled.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("00f067aa0ba902b7")
    );
    let background = memory.trace("background_job").expect("trace");
    assert_ne!(background.trace_id, handled.trace_id);
    assert_eq!(background.parent_span_id, None);
}

#[test]
fn an_explicit_opentelemetry_parent_and_an_invalid_one() {
    let (client, memory) = memory_client();
    let parent = opentelemetry::Context::new()
        .with_remote_span_context(otel_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"));
    client.trace("explicit").otel_parent(&parent).run(|_| {});
    client
        .trace("no_span")
        .otel_parent(&opentelemetry::Context::new())
        .run(|_| {});
    flushed(&client);
    let explicit = memory.trace("explicit").expect("trace");
    assert_eq!(explicit.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(memory.trace("no_span").expect("trace").parent_span_id, None);
}

#[test]
fn an_mv37_context_converts_to_an_opentelemetry_context_and_w3c_headers() {
    let (client, memory) = memory_client();
    let (otel, headers) = client
        .trace("outgoing")
        .user_id("u-1")
        .session_id("s 1;x")
        .run(|trace| {
            trace.tool("call_api").run(|_| {
                let context = Context::current();
                (context.to_otel(), context.w3c_headers(true))
            })
        });
    flushed(&client);
    let span = memory.span("call_api").expect("span");
    let span_context = otel.span().span_context().clone();
    assert_eq!(span_context.trace_id().to_string(), span.trace_id.to_string());
    assert_eq!(span_context.span_id().to_string(), span.span_id.to_string());
    assert!(span_context.is_remote() && span_context.is_sampled());
    assert_eq!(
        headers[0],
        ("traceparent", format!("00-{}-{}-01", span.trace_id, span.span_id))
    );
    assert_eq!(headers[1], ("baggage", "user.id=u-1,session.id=s%201%3Bx".to_owned()));
    assert!(Context::current().w3c_headers(true).is_empty(), "no trace open here");
}
