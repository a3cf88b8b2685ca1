//! Record fields as OTLP attributes and span events: payloads, trace scope, custom
//! attributes, provider, usage, request parameters, response fields, retrieved
//! documents and status, each under the names in [`super::names`] (messages are in
//! [`super::messages`]).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Status as OtlpStatus};
use serde_json::Value;

use super::names::*;
use crate::payload::Payload;
use std::borrow::Cow;

use crate::record::{
    Attributes, DocumentRecord, ErrorInfo, RequestParams, ResponseInfo, SpanKind, Status, TraceScope, Usage,
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

pub(super) fn kv_f64(key: impl Into<String>, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

/// An array of strings (`string[]` in the conventions' registry).
pub(super) fn kv_str_array(key: impl Into<String>, values: &[String]) -> KeyValue {
    let values = values
        .iter()
        .map(|value| AnyValue {
            value: Some(any_value::Value::StringValue(value.clone())),
        })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
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
        SpanKind::Agent => "AGENT",
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
    let pairs: [(&[&str], Option<u64>); 7] = [
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
            &[
                GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
                LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE,
            ],
            usage.cache_write_tokens,
        ),
        (
            &[
                GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
                LLM_TOKEN_COUNT_COMPLETION_REASONING,
            ],
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

/// `gen_ai.request.*` (doubles, ints and the stop sequences as a string array, as the
/// registry types them), `server.address` / `server.port`, and OpenInference's
/// `llm.invocation_parameters` (the sampling parameters as one JSON object).
pub(super) fn request_attributes(attributes: &mut Vec<KeyValue>, request: &RequestParams) {
    let doubles = [
        (GEN_AI_REQUEST_TEMPERATURE, request.temperature),
        (GEN_AI_REQUEST_TOP_P, request.top_p),
        (GEN_AI_REQUEST_TOP_K, request.top_k),
        (GEN_AI_REQUEST_FREQUENCY_PENALTY, request.frequency_penalty),
        (GEN_AI_REQUEST_PRESENCE_PENALTY, request.presence_penalty),
    ];
    for (key, value) in doubles {
        if let Some(value) = value {
            attributes.push(kv_f64(key, value));
        }
    }
    if let Some(max_tokens) = request.max_tokens {
        attributes.push(kv_int(GEN_AI_REQUEST_MAX_TOKENS, max_tokens));
    }
    if let Some(seed) = request.seed {
        attributes.push(kv(GEN_AI_REQUEST_SEED, any_value::Value::IntValue(seed)));
    }
    if !request.stop_sequences.is_empty() {
        attributes.push(kv_str_array(GEN_AI_REQUEST_STOP_SEQUENCES, &request.stop_sequences));
    }
    if let Some(address) = &request.server_address {
        attributes.push(kv_str(SERVER_ADDRESS, address));
    }
    if let Some(port) = request.server_port {
        attributes.push(kv_int(SERVER_PORT, u64::from(port)));
    }
    let invocation = request.invocation_parameters();
    if !invocation.is_empty() {
        if let Ok(json) = serde_json::to_string(&invocation) {
            attributes.push(kv_str(LLM_INVOCATION_PARAMETERS, json));
        }
    }
}

/// `gen_ai.response.id`, `gen_ai.response.model` and `gen_ai.response.finish_reasons`.
pub(super) fn response_attributes(attributes: &mut Vec<KeyValue>, response: &ResponseInfo) {
    if let Some(id) = &response.id {
        attributes.push(kv_str(GEN_AI_RESPONSE_ID, id));
    }
    if let Some(model) = &response.model {
        attributes.push(kv_str(GEN_AI_RESPONSE_MODEL, model));
    }
    if !response.finish_reasons.is_empty() {
        attributes.push(kv_str_array(GEN_AI_RESPONSE_FINISH_REASONS, &response.finish_reasons));
    }
}

/// A retrieval's documents: OpenInference's flattened
/// `retrieval.documents.{i}.document.{id,content,score,metadata}` (metadata as JSON text)
/// and the GenAI `gen_ai.retrieval.documents` (JSON text: each document's `id` and
/// `score`, as the conventions' schema has them; the content goes out once, under the
/// OpenInference keys).
pub(super) fn documents_attributes(attributes: &mut Vec<KeyValue>, documents: &[DocumentRecord]) {
    if documents.is_empty() {
        return;
    }
    let mut genai = Vec::with_capacity(documents.len());
    for (index, document) in documents.iter().enumerate() {
        let prefix = format!("{RETRIEVAL_DOCUMENTS}.{index}");
        let mut entry = serde_json::Map::new();
        if let Some(id) = &document.id {
            attributes.push(kv_str(format!("{prefix}.{DOCUMENT_ID}"), id));
            entry.insert("id".into(), Value::String(id.clone()));
        }
        if let Some(content) = document.content_text() {
            attributes.push(kv_str(format!("{prefix}.{DOCUMENT_CONTENT}"), content));
        }
        if let Some(score) = document.score {
            attributes.push(kv_f64(format!("{prefix}.{DOCUMENT_SCORE}"), score));
            entry.insert("score".into(), serde_json::json!(score));
        }
        if let Some(metadata) = &document.metadata {
            let json = serde_json::to_string(metadata).unwrap_or_default();
            attributes.push(kv_str(format!("{prefix}.{DOCUMENT_METADATA}"), json));
        }
        genai.push(Value::Object(entry));
    }
    attributes.push(kv_str(GEN_AI_RETRIEVAL_DOCUMENTS, Value::Array(genai).to_string()));
}

/// The registered `gen_ai.provider.name` for a provider as mv37 users write it
/// (`OpenAI` → `openai`, `azure` → `azure.ai.openai`, see [`PROVIDER_NAMES`]); an
/// unknown provider is sent lowercased.
pub(super) fn provider_name(provider: &str) -> Cow<'static, str> {
    let key: String = provider
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    PROVIDER_NAMES
        .iter()
        .find(|(spellings, _)| spellings.contains(&key.as_str()))
        .map_or_else(
            || Cow::Owned(provider.trim().to_lowercase()),
            |(_, name)| Cow::Borrowed(*name),
        )
}

/// A short, stable `error.type` from the Rust type name mv37 records
/// (`std::any::type_name` of the error): the crate (or, for `std`, `core` and `alloc`,
/// the module under it) and the type's last segment, without generic arguments, so
/// `std::io::error::Error` → `io::Error`, `reqwest::error::Error` → `reqwest::Error`,
/// `my_app::billing::RefundError` → `my_app::RefundError`. A string or a boxed
/// `dyn Error` says nothing about the class of failure: `_OTHER`, the conventions'
/// fallback, as for a failure with no type. A one-word type (`panic`) stays as it is.
/// The full name still goes out as `exception.type`.
pub(super) fn short_error_type(full: &str) -> Cow<'_, str> {
    let mut name = full.trim();
    for prefix in ["&", "'static", "mut ", "dyn "] {
        name = name.trim_start_matches(prefix).trim_start();
    }
    let name = name.split('<').next().unwrap_or(name).trim();
    let segments: Vec<&str> = name.split("::").filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] | [.., "str" | "String" | "Box" | "Cow" | "Arc" | "Rc"] => Cow::Borrowed(ERROR_TYPE_OTHER),
        [single] => Cow::Borrowed(*single),
        ["std" | "core" | "alloc", module, .., last] => Cow::Owned(format!("{module}::{last}")),
        [root, .., last] => Cow::Owned(format!("{root}::{last}")),
    }
}

/// The OTLP status of a record: OK when it succeeded, UNSET (with `mv37.status`) when it
/// was cancelled, ERROR with `error.type` and an `exception` event when it failed.
pub(super) fn otlp_status(
    status: Status,
    error: Option<&ErrorInfo>,
    attributes: &mut Vec<KeyValue>,
    events: &mut Vec<span::Event>,
    end: u64,
) -> Option<OtlpStatus> {
    match status {
        Status::Ok => Some(OtlpStatus {
            message: String::new(),
            code: status::StatusCode::Ok as i32,
        }),
        Status::Cancelled => {
            attributes.push(kv_str(MV37_STATUS, "cancelled"));
            None
        }
        Status::Error => {
            let message = error.map(|e| e.message.clone()).unwrap_or_default();
            let full_type = error.and_then(|e| e.error_type.as_deref());
            attributes.push(kv_str(
                ERROR_TYPE,
                full_type.map_or(Cow::Borrowed(ERROR_TYPE_OTHER), short_error_type),
            ));
            events.push(span::Event {
                time_unix_nano: end,
                name: EXCEPTION_EVENT.to_owned(),
                attributes: vec![
                    kv_str(EXCEPTION_TYPE, full_type.unwrap_or(ERROR_TYPE_OTHER)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_provider_spellings_map_to_the_registered_names() {
        for (written, sent) in [
            ("OpenAI", "openai"),
            ("openai", "openai"),
            ("azure", "azure.ai.openai"),
            ("Azure OpenAI", "azure.ai.openai"),
            ("az.ai.openai", "azure.ai.openai"),
            ("Anthropic", "anthropic"),
            ("gemini", "gcp.gemini"),
            ("vertex_ai", "gcp.vertex_ai"),
            ("AWS Bedrock", "aws.bedrock"),
            ("Mistral", "mistral_ai"),
            ("xAI", "x_ai"),
            ("My-Local-LLM", "my-local-llm"),
        ] {
            assert_eq!(provider_name(written), sent, "{written}");
        }
    }

    #[test]
    fn error_types_are_short_and_stable() {
        for (full, short) in [
            ("std::io::error::Error", "io::Error"),
            ("core::fmt::Error", "fmt::Error"),
            ("serde_json::error::Error", "serde_json::Error"),
            ("my_app::billing::RefundError", "my_app::RefundError"),
            ("anyhow::Error", "anyhow::Error"),
            ("my_app::Failure<u32>", "my_app::Failure"),
            ("&str", "_OTHER"),
            ("alloc::string::String", "_OTHER"),
            (
                "alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>",
                "_OTHER",
            ),
            ("panic", "panic"),
            ("", "_OTHER"),
        ] {
            assert_eq!(short_error_type(full), short, "{full}");
        }
    }
}
