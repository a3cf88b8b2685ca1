//! OpenTelemetry context interop (feature `opentelemetry`): the span of the current
//! `opentelemetry::Context` as the remote parent a new trace continues, and mv37 ids as an
//! OpenTelemetry span context.

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};

use crate::ids::{SpanId, TraceId, TraceParent};

/// The valid span of the current OpenTelemetry context, as a parent to continue.
pub(crate) fn current_parent() -> Option<TraceParent> {
    let context = opentelemetry::Context::current();
    parent_of(&context)
}

/// The valid span of `context`, as a parent to continue.
pub(crate) fn parent_of(context: &opentelemetry::Context) -> Option<TraceParent> {
    if !context.has_active_span() {
        return None;
    }
    let span = context.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    Some(TraceParent {
        trace_id: TraceId::from_u128(u128::from_be_bytes(span_context.trace_id().to_bytes()))?,
        parent_span_id: SpanId::from_u64(u64::from_be_bytes(span_context.span_id().to_bytes()))?,
        sampled: span_context.is_sampled(),
    })
}

/// `base` with mv37's span as its (remote) span: what an OpenTelemetry-instrumented
/// client under this mv37 span propagates.
pub(crate) fn with_span(base: opentelemetry::Context, trace_id: TraceId, span_id: SpanId) -> opentelemetry::Context {
    let span_context = SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(trace_id.to_bytes()),
        opentelemetry::trace::SpanId::from_bytes(span_id.to_bytes()),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    base.with_remote_span_context(span_context)
}
