//! Langfuse's own attributes: its OTLP endpoint reads the conventions (user, session,
//! model, token counts, input and output) but takes the trace's tags and metadata and each
//! observation's type, usage and cost details and level only from `langfuse.*` keys.

use serde_json::{json, Value};

use super::attributes::{kv, kv_json, kv_str};
use super::names::*;
use super::parts::{Attr, Val};
use crate::record::{SpanKind, SpanRecord, Status, TraceRecord, Usage};

/// The Langfuse observation type of a span kind.
fn observation_type(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "generation",
        SpanKind::Tool => "tool",
        SpanKind::Retrieval => "retriever",
        SpanKind::Task => "chain",
        SpanKind::Span => "span",
        SpanKind::Agent => "agent",
        SpanKind::Custom(name) => match name.to_ascii_lowercase().as_str() {
            "agent" => "agent",
            "embedding" | "embeddings" => "embedding",
            "evaluator" => "evaluator",
            "guardrail" => "guardrail",
            _ => "span",
        },
    }
}

/// A trace's tags: its `tags` attribute when that is a list of strings.
fn tags(trace: &TraceRecord) -> Option<Vec<&str>> {
    let list = trace.attributes.get(TAGS_ATTRIBUTE)?.as_array()?;
    list.iter().map(Value::as_str).collect()
}

/// Failed: level `ERROR` and the error's message.
fn level<'a>(attributes: &mut Vec<Attr<'a>>, status: Status, message: Option<&'a str>) {
    if status == Status::Error {
        attributes.push(kv_str(LANGFUSE_OBSERVATION_LEVEL, "ERROR"));
        if let Some(message) = message {
            attributes.push(kv_str(LANGFUSE_OBSERVATION_STATUS_MESSAGE, message));
        }
    }
}

/// The trace's name, tags (also as OpenInference `tag.tags`) and context fields as
/// metadata, on its root span.
pub(super) fn trace_attributes<'a>(attributes: &mut Vec<Attr<'a>>, trace: &'a TraceRecord) {
    attributes.push(kv_str(LANGFUSE_TRACE_NAME, trace.name.as_ref()));
    if let Some(tags) = tags(trace) {
        attributes.push(kv(LANGFUSE_TRACE_TAGS, Val::Strs(tags.clone())));
        attributes.push(kv(TAG_TAGS, Val::Strs(tags)));
    }
    for (key, value) in trace.context.iter().flat_map(|context| context.iter()) {
        attributes.push(kv_json(format!("{LANGFUSE_TRACE_METADATA}.{key}"), value));
    }
    level(
        attributes,
        trace.status,
        trace.error.as_ref().map(|e| e.message.as_str()),
    );
}

/// Usage details under the keys Langfuse prices by (`input`, `output`, `total`, and the
/// cache and reasoning breakdowns), as JSON text: an object of counts, its keys in
/// alphabetical order (as a `serde_json` map writes them), written directly.
fn usage_details(usage: &Usage) -> Option<String> {
    let pairs = [
        ("cache_creation_input_tokens", usage.cache_write_tokens),
        ("cache_read_input_tokens", usage.cached_tokens),
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("output_reasoning_tokens", usage.reasoning_tokens),
        ("total", usage.total_tokens),
    ];
    let mut details = String::with_capacity(64);
    for (key, value) in pairs {
        if let Some(value) = value {
            details.push(if details.is_empty() { '{' } else { ',' });
            details.push('"');
            details.push_str(key);
            details.push_str("\":");
            push_decimal(&mut details, value);
        }
    }
    (!details.is_empty()).then(|| {
        details.push('}');
        details
    })
}

/// Appends `value` in decimal (what `write!` does, without the formatting machinery).
fn push_decimal(text: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.extend(digits[at..].iter().map(|&digit| char::from(digit)));
}

/// The observation's type, model, usage and cost details and level.
pub(super) fn span_attributes<'a>(attributes: &mut Vec<Attr<'a>>, span: &'a SpanRecord) {
    attributes.push(kv_str(LANGFUSE_OBSERVATION_TYPE, observation_type(&span.kind)));
    if let Some(model) = &span.model {
        attributes.push(kv_str(LANGFUSE_OBSERVATION_MODEL_NAME, model));
    }
    if let Some(usage) = &span.usage {
        if let Some(details) = usage_details(usage) {
            attributes.push(kv_str(LANGFUSE_OBSERVATION_USAGE_DETAILS, details));
        }
        if let Some(cost) = usage.cost_usd {
            attributes.push(kv_str(
                LANGFUSE_OBSERVATION_COST_DETAILS,
                json!({ "total": cost }).to_string(),
            ));
        }
    }
    level(attributes, span.status, span.error.as_ref().map(|e| e.message.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The details written by hand are the JSON a `serde_json` map of the same counts
    /// makes.
    #[test]
    fn usage_details_are_the_json_of_the_counts() {
        let full = Usage {
            input_tokens: Some(100),
            output_tokens: Some(20),
            cached_tokens: Some(60),
            cache_write_tokens: Some(30),
            reasoning_tokens: Some(5),
            total_tokens: Some(120),
            ..Usage::default()
        };
        let some = Usage {
            output_tokens: Some(u64::MAX),
            cache_write_tokens: Some(0),
            total_tokens: Some(10),
            ..Usage::default()
        };
        for usage in [full, some] {
            let mut map = serde_json::Map::new();
            for (key, value) in [
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("total", usage.total_tokens),
                ("cache_read_input_tokens", usage.cached_tokens),
                ("cache_creation_input_tokens", usage.cache_write_tokens),
                ("output_reasoning_tokens", usage.reasoning_tokens),
            ] {
                if let Some(value) = value {
                    map.insert(key.to_owned(), json!(value));
                }
            }
            let written = usage_details(&usage).expect("details");
            let parsed: Value = serde_json::from_str(&written).expect("JSON");
            assert_eq!(parsed, Value::Object(map), "{written}");
        }
        assert_eq!(usage_details(&Usage::default()), None);
    }
}
