//! The redaction hook: user code that rewrites inputs, outputs and message content on
//! the exporter thread, before anything leaves the process.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde_json::Value;

use crate::payload::Payload;
use crate::record::{Content, MessageRecord, Record};

/// Key of the marker that replaces a value when the redaction hook panicked: the value
/// is withheld rather than sent unredacted.
pub const REDACTION_ERROR_KEY: &str = "mv37.redaction_error";

pub(crate) type RedactHook = Arc<dyn Fn(&mut Value) + Send + Sync>;

fn redact_value(hook: &RedactHook, value: &mut Value) {
    if catch_unwind(AssertUnwindSafe(|| hook(value))).is_err() {
        *value = serde_json::json!({ REDACTION_ERROR_KEY: "the redaction hook panicked; value withheld" });
    }
}

fn redact_payload(hook: &RedactHook, payload: &mut Option<Payload>) {
    if let Some(current) = payload {
        let mut value = current.to_value();
        redact_value(hook, &mut value);
        *current = Payload::from_value(&value);
    }
}

/// Runs the hook over every user-supplied value of the record.
pub(crate) fn redact_record(hook: &RedactHook, record: &mut Record) {
    match record {
        Record::Trace(trace) => {
            redact_payload(hook, &mut trace.input);
            redact_payload(hook, &mut trace.output);
            trace.messages.iter_mut().for_each(|m| redact_message(hook, m));
        }
        Record::Span(span) => {
            redact_payload(hook, &mut span.input);
            redact_payload(hook, &mut span.output);
            span.messages.iter_mut().for_each(|m| redact_message(hook, m));
        }
        Record::Message(message) => redact_message(hook, message),
        Record::Feedback(feedback) => {
            if let Some(comment) = &mut feedback.comment {
                let mut value = Value::String(std::mem::take(comment));
                redact_value(hook, &mut value);
                *comment = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            }
        }
        Record::Signal(_) => {}
    }
}

fn redact_message(hook: &RedactHook, message: &mut MessageRecord) {
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
}
