//! The redaction hook: user code that rewrites every user-supplied value of a record on
//! the exporter thread, before anything leaves the process — to an exporter, to the
//! disk spool, or into a log line.
//!
//! The hook sees each value as a `serde_json::Value`: inputs, outputs, message content
//! and the content of retrieved documents as their JSON, and every free-text field
//! (attributes, context values, user, session, conversation and external ids, error
//! messages, feedback comments and values, signal values, documents' metadata values)
//! as a string or the value it was recorded as. Names (of traces, spans, feedback and
//! signals), ids mv37 made, models and providers, request parameters and response
//! fields are not passed: they are chosen by the program or the provider, not taken
//! from its users.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde_json::Value;

use crate::payload::Payload;
use crate::record::{Attributes, Content, DocumentRecord, ErrorInfo, MessageRecord, Record, TraceScope};

/// Key of the marker that replaces a value when the redaction hook panicked: the value
/// is withheld rather than sent unredacted.
pub const REDACTION_ERROR_KEY: &str = "mv37.redaction_error";

pub(crate) type RedactHook = Arc<dyn Fn(&mut Value) + Send + Sync>;

fn redact_value(hook: &RedactHook, value: &mut Value) {
    if catch_unwind(AssertUnwindSafe(|| hook(value))).is_err() {
        *value = serde_json::json!({ REDACTION_ERROR_KEY: "the redaction hook panicked; value withheld" });
    }
}

/// Passes text through the hook; a non-string result is kept as its JSON text.
pub(crate) fn redact_text(hook: &RedactHook, text: &mut String) {
    let mut value = Value::String(std::mem::take(text));
    redact_value(hook, &mut value);
    *text = match value {
        Value::String(text) => text,
        other => other.to_string(),
    };
}

fn redact_optional_text(hook: &RedactHook, text: &mut Option<String>) {
    if let Some(text) = text {
        redact_text(hook, text);
    }
}

fn redact_payload(hook: &RedactHook, payload: &mut Option<Payload>) {
    if let Some(current) = payload {
        let mut value = current.to_value();
        redact_value(hook, &mut value);
        *current = Payload::from_value(&value);
    }
}

fn redact_attributes(hook: &RedactHook, attributes: &mut Attributes) {
    attributes.values_mut().for_each(|value| redact_value(hook, value));
}

fn redact_error(hook: &RedactHook, error: &mut Option<ErrorInfo>) {
    if let Some(error) = error {
        redact_text(hook, &mut error.message);
    }
}

/// The trace-level ids (user, session, conversation, external) and context values, as a
/// trace record holds them and as the scope its spans and messages share holds them.
fn redact_trace_fields(hook: &RedactHook, ids: [&mut Option<String>; 4], context: &mut Option<Arc<Attributes>>) {
    ids.into_iter().for_each(|id| redact_optional_text(hook, id));
    if let Some(context) = context {
        redact_attributes(hook, Arc::make_mut(context));
    }
}

/// Redacted copies of the trace scopes a batch shares, made once per scope.
#[derive(Default)]
struct Scopes(HashMap<*const TraceScope, Arc<TraceScope>>);

impl Scopes {
    fn redact(&mut self, hook: &RedactHook, scope: &mut Option<Arc<TraceScope>>) {
        let Some(shared) = scope else { return };
        let redacted = self.0.entry(Arc::as_ptr(shared)).or_insert_with(|| {
            let mut copy = TraceScope::clone(shared);
            redact_trace_fields(
                hook,
                [
                    &mut copy.user_id,
                    &mut copy.session_id,
                    &mut copy.conversation_id,
                    &mut copy.external_trace_id,
                ],
                &mut copy.context,
            );
            Arc::new(copy)
        });
        *shared = Arc::clone(redacted);
    }
}

/// Runs the hook over every user-supplied value of every record of a batch.
pub(crate) fn redact_records(hook: &RedactHook, records: &mut [Record]) {
    let mut scopes = Scopes::default();
    for record in records {
        redact_record(hook, record, &mut scopes);
    }
}

fn redact_record(hook: &RedactHook, record: &mut Record, scopes: &mut Scopes) {
    match record {
        Record::Trace(trace) => {
            redact_payload(hook, &mut trace.input);
            redact_payload(hook, &mut trace.output);
            trace.messages.iter_mut().for_each(|m| redact_message(hook, m, scopes));
            redact_attributes(hook, &mut trace.attributes);
            redact_error(hook, &mut trace.error);
            redact_trace_fields(
                hook,
                [
                    &mut trace.user_id,
                    &mut trace.session_id,
                    &mut trace.conversation_id,
                    &mut trace.external_trace_id,
                ],
                &mut trace.context,
            );
        }
        Record::Span(span) => {
            redact_payload(hook, &mut span.input);
            redact_payload(hook, &mut span.output);
            span.messages.iter_mut().for_each(|m| redact_message(hook, m, scopes));
            span.documents.iter_mut().for_each(|d| redact_document(hook, d));
            redact_attributes(hook, &mut span.attributes);
            redact_error(hook, &mut span.error);
            scopes.redact(hook, &mut span.scope);
        }
        Record::Message(message) => redact_message(hook, message, scopes),
        Record::Feedback(feedback) => {
            redact_optional_text(hook, &mut feedback.comment);
            redact_value(hook, &mut feedback.value);
            scopes.redact(hook, &mut feedback.scope);
        }
        Record::Signal(signal) => {
            redact_value(hook, &mut signal.value);
            scopes.redact(hook, &mut signal.scope);
        }
    }
}

fn redact_document(hook: &RedactHook, document: &mut DocumentRecord) {
    if let Some(payload) = &mut document.content {
        let mut content = payload.to_value();
        redact_value(hook, &mut content);
        *payload = Payload::from_value(&content);
    }
    if let Some(metadata) = &mut document.metadata {
        redact_attributes(hook, metadata);
    }
}

fn redact_message(hook: &RedactHook, message: &mut MessageRecord, scopes: &mut Scopes) {
    let mut value = match &message.content {
        Content::Text(text) => Value::String(text.clone()),
        Content::Parts(parts) => serde_json::to_value(parts).unwrap_or(Value::Null),
    };
    redact_value(hook, &mut value);
    message.content = match value {
        Value::String(text) => Content::Text(text),
        other => serde_json::from_value(other.clone())
            .map(Content::Parts)
            .unwrap_or_else(|_| Content::Text(other.to_string())),
    };
    scopes.redact(hook, &mut message.scope);
}
