//! Langfuse's own attributes: its OTLP endpoint reads the conventions (user, session,
//! model, token counts, input and output) but takes the trace's tags and metadata and each
//! observation's type, usage and cost details and level only from `langfuse.*` keys.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use serde_json::{json, Map, Value};

use super::attributes::{kv, kv_json, kv_str};
use super::names::*;
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
fn tags(trace: &TraceRecord) -> Option<Vec<String>> {
    let list = trace.attributes.get(TAGS_ATTRIBUTE)?.as_array()?;
    list.iter().map(|tag| tag.as_str().map(str::to_owned)).collect()
}

fn string_array(values: Vec<String>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: values
            .into_iter()
            .map(|text| AnyValue {
                value: Some(any_value::Value::StringValue(text)),
            })
            .collect(),
    })
}

/// Failed: level `ERROR` and the error's message.
fn level(attributes: &mut Vec<KeyValue>, status: Status, message: Option<&str>) {
    if status == Status::Error {
        attributes.push(kv_str(LANGFUSE_OBSERVATION_LEVEL, "ERROR"));
        if let Some(message) = message {
            attributes.push(kv_str(LANGFUSE_OBSERVATION_STATUS_MESSAGE, message));
        }
    }
}

/// The trace's name, tags (also as OpenInference `tag.tags`) and context fields as
/// metadata, on its root span.
pub(super) fn trace_attributes(attributes: &mut Vec<KeyValue>, trace: &TraceRecord) {
    attributes.push(kv_str(LANGFUSE_TRACE_NAME, trace.name.as_ref()));
    if let Some(tags) = tags(trace) {
        attributes.push(kv(LANGFUSE_TRACE_TAGS, string_array(tags.clone())));
        attributes.push(kv(TAG_TAGS, string_array(tags)));
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
/// cache and reasoning breakdowns), as JSON text.
fn usage_details(usage: &Usage) -> Option<String> {
    let mut details = Map::new();
    let pairs = [
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("total", usage.total_tokens),
        ("cache_read_input_tokens", usage.cached_tokens),
        ("cache_creation_input_tokens", usage.cache_write_tokens),
        ("output_reasoning_tokens", usage.reasoning_tokens),
    ];
    for (key, value) in pairs {
        if let Some(value) = value {
            details.insert(key.to_owned(), json!(value));
        }
    }
    (!details.is_empty()).then(|| Value::Object(details).to_string())
}

/// The observation's type, model, usage and cost details and level.
pub(super) fn span_attributes(attributes: &mut Vec<KeyValue>, span: &SpanRecord) {
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
