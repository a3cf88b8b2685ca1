//! Record fields as OTLP attributes and span events: payloads, trace scope, custom
//! attributes, usage, messages and status, each under the names in [`super::names`].

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Status as OtlpStatus};
use serde_json::Value;

use super::names::*;
use crate::payload::Payload;
use crate::record::{
    Attributes, Content, ContentPart, ErrorInfo, MessageRecord, Role, SpanKind, Status, TraceScope, Usage,
};

pub(super) fn any(value: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

pub(super) fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: any(value),
        ..KeyValue::default()
    }
}

pub(super) fn kv_str(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

pub(super) fn kv_int(key: impl Into<String>, value: u64) -> KeyValue {
    kv(
        key,
        any_value::Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

/// A JSON value as an attribute: scalars as themselves, the rest as JSON text.
pub(super) fn kv_json(key: impl Into<String>, value: &Value) -> KeyValue {
    let value = match value {
        Value::String(text) => any_value::Value::StringValue(text.clone()),
        Value::Bool(flag) => any_value::Value::BoolValue(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) => any_value::Value::IntValue(int),
            (None, Some(float)) => any_value::Value::DoubleValue(float),
            _ => any_value::Value::StringValue(number.to_string()),
        },
        other => any_value::Value::StringValue(other.to_string()),
    };
    kv(key, value)
}

/// `input.value` / `output.value` with their MIME type: a JSON string is sent as plain
/// text, anything else as JSON.
pub(super) fn payload_attributes(
    attributes: &mut Vec<KeyValue>,
    (value_key, mime_key): (&str, &str),
    payload: &Payload,
) {
    let (text, mime) = match serde_json::from_str::<Value>(payload.as_json()) {
        Ok(Value::String(text)) => (text, "text/plain"),
        _ => (payload.as_json().to_owned(), "application/json"),
    };
    attributes.push(kv_str(value_key, text));
    attributes.push(kv_str(mime_key, mime));
}

pub(super) fn scope_attributes(attributes: &mut Vec<KeyValue>, scope: Option<&TraceScope>) {
    let Some(scope) = scope else { return };
    if let Some(user) = &scope.user_id {
        attributes.push(kv_str(USER_ID, user));
    }
    if let Some(session) = &scope.session_id {
        attributes.push(kv_str(SESSION_ID, session));
    }
    if let Some(conversation) = &scope.conversation_id {
        attributes.push(kv_str(GEN_AI_CONVERSATION_ID, conversation));
    }
    if let Some(external) = &scope.external_trace_id {
        attributes.push(kv_str(MV37_EXTERNAL_TRACE_ID, external));
    }
    if !scope.name.is_empty() {
        attributes.push(kv_str(MV37_TRACE_NAME, scope.name.as_ref()));
    }
    if let Some(context) = &scope.context {
        for (key, value) in context.iter() {
            attributes.push(kv_json(key.as_str(), value));
        }
    }
}

pub(super) fn custom_attributes(attributes: &mut Vec<KeyValue>, custom: &Attributes) {
    if custom.is_empty() {
        return;
    }
    for (key, value) in custom {
        attributes.push(kv_json(key.as_str(), value));
    }
    attributes.push(kv_str(METADATA, Value::Object(custom.clone()).to_string()));
}

pub(super) fn openinference_kind(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "LLM",
        SpanKind::Tool => "TOOL",
        SpanKind::Retrieval => "RETRIEVER",
        SpanKind::Task | SpanKind::Span => "CHAIN",
        SpanKind::Custom(name) => match name.to_ascii_lowercase().as_str() {
            "embedding" => "EMBEDDING",
            "reranker" | "rerank" => "RERANKER",
            "agent" => "AGENT",
            "guardrail" => "GUARDRAIL",
            "evaluator" | "eval" => "EVALUATOR",
            _ => "CHAIN",
        },
    }
}

pub(super) fn usage_attributes(attributes: &mut Vec<KeyValue>, usage: &Usage) {
    let pairs: [(&[&str], Option<u64>); 6] = [
        (&[GEN_AI_USAGE_INPUT_TOKENS, LLM_TOKEN_COUNT_PROMPT], usage.input_tokens),
        (
            &[GEN_AI_USAGE_OUTPUT_TOKENS, LLM_TOKEN_COUNT_COMPLETION],
            usage.output_tokens,
        ),
        (&[LLM_TOKEN_COUNT_TOTAL], usage.total_tokens),
        (
            &[GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, LLM_TOKEN_COUNT_PROMPT_CACHE_READ],
            usage.cached_tokens,
        ),
        (
            &[GEN_AI_USAGE_REASONING_TOKENS, LLM_TOKEN_COUNT_COMPLETION_REASONING],
            usage.reasoning_tokens,
        ),
        (&[MV37_USAGE_CONTEXT_WINDOW_TOKENS], usage.context_window_tokens),
    ];
    for (keys, value) in pairs {
        if let Some(value) = value {
            for key in keys {
                attributes.push(kv_int(*key, value));
            }
        }
    }
    if let Some(used) = usage.context_used_tokens {
        attributes.push(kv_int(MV37_USAGE_CONTEXT_USED_TOKENS, used));
    }
    if let Some(cost) = usage.cost_usd {
        attributes.push(kv(LLM_COST_TOTAL, any_value::Value::DoubleValue(cost)));
        attributes.push(kv(MV37_USAGE_COST_USD, any_value::Value::DoubleValue(cost)));
    }
}

pub(super) fn content_text(content: &Content) -> String {
    match content {
        Content::Text(text) => text.clone(),
        Content::Parts(parts) => serde_json::to_string(parts).unwrap_or_default(),
    }
}

/// `llm.{input|output}_messages.{i}.message.*` for one message (`prefix` ends at `{i}`).
pub(super) fn message_attributes(attributes: &mut Vec<KeyValue>, prefix: &str, message: &MessageRecord) {
    attributes.push(kv_str(format!("{prefix}.{MESSAGE_ROLE}"), message.role.as_str()));
    if let Some(id) = &message.tool_call_id {
        attributes.push(kv_str(format!("{prefix}.{MESSAGE_TOOL_CALL_ID}"), id));
    }
    match &message.content {
        Content::Text(text) => attributes.push(kv_str(format!("{prefix}.{MESSAGE_CONTENT}"), text)),
        Content::Parts(parts) => {
            let mut content_index = 0;
            let mut call_index = 0;
            for part in parts {
                match part {
                    ContentPart::ToolCall { id, name, arguments } => {
                        let call = format!("{prefix}.{MESSAGE_TOOL_CALLS}.{call_index}");
                        attributes.push(kv_str(format!("{call}.{TOOL_CALL_ID}"), id));
                        attributes.push(kv_str(format!("{call}.{TOOL_CALL_FUNCTION_NAME}"), name));
                        attributes.push(kv_str(
                            format!("{call}.{TOOL_CALL_FUNCTION_ARGUMENTS}"),
                            arguments.to_string(),
                        ));
                        call_index += 1;
                    }
                    other => {
                        let item = format!("{prefix}.{MESSAGE_CONTENTS}.{content_index}");
                        match other {
                            ContentPart::Text { text } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "text"));
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TEXT}"), text));
                            }
                            ContentPart::ImageUrl { url, .. } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "image"));
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_IMAGE_URL}"), url));
                            }
                            ContentPart::ImageBase64 { media_type, data } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "image"));
                                attributes.push(kv_str(
                                    format!("{item}.{MESSAGE_CONTENT_IMAGE_URL}"),
                                    format!("data:{media_type};base64,{data}"),
                                ));
                            }
                            other => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "json"));
                                attributes.push(kv_str(
                                    format!("{item}.{MESSAGE_CONTENT_TEXT}"),
                                    serde_json::to_string(other).unwrap_or_default(),
                                ));
                            }
                        }
                        content_index += 1;
                    }
                }
            }
        }
    }
}

/// Messages as OpenInference attributes (the trailing assistant turns are the output)
/// and as `gen_ai.{role}.message` span events.
pub(super) fn messages_to_span(
    attributes: &mut Vec<KeyValue>,
    events: &mut Vec<span::Event>,
    messages: &[MessageRecord],
) {
    let outputs_from = messages
        .iter()
        .rposition(|m| m.role != Role::Assistant)
        .map_or(0, |last_input| last_input + 1);
    for (index, message) in messages.iter().enumerate() {
        if index < outputs_from {
            message_attributes(attributes, &format!("{LLM_INPUT_MESSAGES}.{index}"), message);
        } else {
            message_attributes(
                attributes,
                &format!("{LLM_OUTPUT_MESSAGES}.{}", index - outputs_from),
                message,
            );
        }
        let mut event_attributes = vec![
            kv_str(GEN_AI_MESSAGE_ROLE, message.role.as_str()),
            kv_str(GEN_AI_MESSAGE_CONTENT, content_text(&message.content)),
        ];
        if let Some(id) = &message.tool_call_id {
            event_attributes.push(kv_str(GEN_AI_MESSAGE_TOOL_CALL_ID, id));
        }
        if message.is_internal {
            event_attributes.push(kv(MV37_IS_INTERNAL, any_value::Value::BoolValue(true)));
        }
        events.push(span::Event {
            time_unix_nano: message.time_unix_nano,
            name: gen_ai_message_event(message.role.as_str()),
            attributes: event_attributes,
            dropped_attributes_count: 0,
        });
    }
}

pub(super) fn otlp_status(
    status: Status,
    error: Option<&ErrorInfo>,
    attributes: &mut Vec<KeyValue>,
    events: &mut Vec<span::Event>,
    end: u64,
) -> Option<OtlpStatus> {
    match status {
        Status::Ok => None,
        Status::Cancelled => {
            attributes.push(kv_str(MV37_STATUS, "cancelled"));
            None
        }
        Status::Error => {
            let message = error.map(|e| e.message.clone()).unwrap_or_default();
            let error_type = error
                .and_then(|e| e.error_type.clone())
                .unwrap_or_else(|| "error".to_owned());
            attributes.push(kv_str(ERROR_TYPE, error_type.clone()));
            events.push(span::Event {
                time_unix_nano: end,
                name: EXCEPTION_EVENT.to_owned(),
                attributes: vec![
                    kv_str(EXCEPTION_TYPE, error_type),
                    kv_str(EXCEPTION_MESSAGE, message.clone()),
                ],
                dropped_attributes_count: 0,
            });
            Some(OtlpStatus {
                message,
                code: status::StatusCode::Error as i32,
            })
        }
    }
}
