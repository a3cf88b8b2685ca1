//! Feedback and signals in the OTLP export: a `gen_ai.evaluation.result` event on the
//! span they are about when that span is in the batch, else a zero-length child span of
//! it carrying the event.

use std::borrow::Cow;

use opentelemetry_proto::tonic::trace::v1::span;
use serde_json::Value;

use super::attributes::{kv_f64, kv_json, kv_str, scope_attributes, ScopeFields};
use super::names::*;
use super::parts::{derived_span_id, message_span_id, EventParts, SpanName, SpanParts};
use crate::ids::{SpanId, TraceId};
use crate::record::{FeedbackRecord, Record, SignalRecord};

/// Feedback or a signal, and the index of the record whose span it is about when that
/// span is in the batch.
pub(super) struct Evaluation<'a> {
    pub(super) record: &'a Record,
    pub(super) target: Option<usize>,
}

/// The batch's feedback and signals, each with the first record of the batch whose span
/// it is about (none when that span is not in the batch).
pub(super) fn evaluations(records: &[Record]) -> Vec<Evaluation<'_>> {
    let mut evaluations = Vec::new();
    for record in records {
        let (trace_id, target) = match record {
            Record::Feedback(feedback) => (feedback.trace_id, feedback.span_id.or(feedback.root_span_id)),
            Record::Signal(signal) => (signal.trace_id, signal.span_id),
            _ => continue,
        };
        let target = target.and_then(|id| {
            records.iter().position(|candidate| match candidate {
                Record::Trace(trace) => trace.trace_id == trace_id && trace.span_id == id,
                Record::Span(span) => span.trace_id == trace_id && span.span_id == id,
                Record::Message(message) => message.trace_id == trace_id && message_span_id(message) == id,
                Record::Feedback(_) | Record::Signal(_) => false,
            })
        });
        evaluations.push(Evaluation { record, target });
    }
    evaluations
}

/// The `gen_ai.evaluation.result` event of a feedback or signal record.
pub(super) fn evaluation_event(record: &Record) -> Option<EventParts<'_>> {
    match record {
        Record::Feedback(feedback) => Some(evaluation(
            feedback.time_unix_nano,
            &feedback.name,
            &feedback.value,
            feedback.comment.as_deref(),
            "feedback",
        )),
        Record::Signal(signal) => Some(evaluation(
            signal.time_unix_nano,
            &signal.name,
            &signal.value,
            None,
            "signal",
        )),
        _ => None,
    }
}

/// The `gen_ai.evaluation.result` event for feedback or a signal: a number is the score's
/// value, a string its label, a boolean both (1 or 0, `true` or `false`), anything else
/// its JSON text as the label.
fn evaluation<'a>(
    time: u64,
    name: &'a str,
    value: &'a Value,
    explanation: Option<&'a str>,
    kind: &'static str,
) -> EventParts<'a> {
    let mut attributes = vec![kv_str(GEN_AI_EVALUATION_NAME, name)];
    let score = |value: f64| kv_f64(GEN_AI_EVALUATION_SCORE_VALUE, value);
    match value {
        Value::Null => {}
        Value::Number(number) => attributes.extend(number.as_f64().map(score)),
        Value::Bool(flag) => {
            attributes.push(score(if *flag { 1.0 } else { 0.0 }));
            attributes.push(kv_str(
                GEN_AI_EVALUATION_SCORE_LABEL,
                if *flag { "true" } else { "false" },
            ));
        }
        Value::String(label) => attributes.push(kv_str(GEN_AI_EVALUATION_SCORE_LABEL, label)),
        other => attributes.push(kv_str(GEN_AI_EVALUATION_SCORE_LABEL, other.to_string())),
    }
    if let Some(explanation) = explanation {
        attributes.push(kv_str(GEN_AI_EVALUATION_EXPLANATION, explanation));
    }
    attributes.push(kv_str(MV37_KIND, kind));
    EventParts {
        time,
        name: Cow::Borrowed(GEN_AI_EVALUATION_RESULT_EVENT),
        attributes,
    }
}

/// The parent of a feedback or signal span whose target is not in the batch: the span it
/// is about, else a stable stand-in derived from the trace id (feedback on a trace this
/// client does not remember), so that it never shows as a second root.
fn evaluation_parent(trace_id: TraceId, target: Option<SpanId>) -> SpanId {
    target.unwrap_or_else(|| derived_span_id(trace_id, 0, "mv37.unknown_root"))
}

pub(super) fn feedback_parts<'a>(parts: &mut SpanParts<'a>, feedback: &'a FeedbackRecord, event: EventParts<'a>) {
    parts.reset(
        feedback.trace_id,
        derived_span_id(feedback.trace_id, feedback.time_unix_nano, &feedback.name),
        Some(evaluation_parent(
            feedback.trace_id,
            feedback.span_id.or(feedback.root_span_id),
        )),
        SpanName::Joined("feedback", &feedback.name),
        span::SpanKind::Internal,
        feedback.time_unix_nano,
        feedback.time_unix_nano,
    );
    let attributes = &mut parts.attributes;
    attributes.push(kv_str(OPENINFERENCE_SPAN_KIND, "EVALUATOR"));
    attributes.push(kv_str(MV37_KIND, "feedback"));
    attributes.push(kv_str(MV37_FEEDBACK_NAME, &feedback.name));
    attributes.push(kv_json(MV37_FEEDBACK_VALUE, &feedback.value));
    if let Some(comment) = &feedback.comment {
        attributes.push(kv_str(MV37_FEEDBACK_COMMENT, comment));
    }
    scope_attributes(attributes, feedback.scope.as_deref().map(ScopeFields::of_scope));
    parts.events.push(event);
}

pub(super) fn signal_parts<'a>(parts: &mut SpanParts<'a>, signal: &'a SignalRecord, event: EventParts<'a>) {
    parts.reset(
        signal.trace_id,
        derived_span_id(signal.trace_id, signal.time_unix_nano, &signal.name),
        Some(evaluation_parent(signal.trace_id, signal.span_id)),
        SpanName::Joined("signal", &signal.name),
        span::SpanKind::Internal,
        signal.time_unix_nano,
        signal.time_unix_nano,
    );
    let attributes = &mut parts.attributes;
    attributes.push(kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"));
    attributes.push(kv_str(MV37_KIND, "signal"));
    attributes.push(kv_str(MV37_SIGNAL_NAME, &signal.name));
    attributes.push(kv_json(MV37_SIGNAL_VALUE, &signal.value));
    scope_attributes(attributes, signal.scope.as_deref().map(ScopeFields::of_scope));
    parts.events.push(event);
}
