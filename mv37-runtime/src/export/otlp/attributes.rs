//! Record fields as OTLP attributes and span events: payloads, trace scope, custom
//! attributes, provider, usage, request parameters, response fields, retrieved
//! documents and status, each under the names in [`super::names`] (messages are in
//! [`super::messages`]).
//! Each is an [`Attr`], its key and value borrowed from the record wherever they can be.

use std::borrow::Cow;

use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::Value;

use super::names::*;
use super::parts::{Attr, EventParts, StatusParts, Val};
use crate::payload::Payload;
use crate::record::{
    Attributes, DocumentRecord, ErrorInfo, RequestParams, ResponseInfo, SpanKind, Status, TraceRecord, TraceScope,
    Usage,
};

pub(super) fn kv<'a>(key: impl Into<Cow<'a, str>>, value: Val<'a>) -> Attr<'a> {
    Attr { key: key.into(), value }
}

pub(super) fn kv_str<'a>(key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Attr<'a> {
    kv(key, Val::Str(value.into()))
}

/// A count as `int_value` (saturating at `i64::MAX`).
pub(super) fn kv_int<'a>(key: impl Into<Cow<'a, str>>, value: u64) -> Attr<'a> {
    kv(key, Val::Int(i64::try_from(value).unwrap_or(i64::MAX)))
}

pub(super) fn kv_f64<'a>(key: impl Into<Cow<'a, str>>, value: f64) -> Attr<'a> {
    kv(key, Val::Double(value))
}

/// An array of strings (`string[]` in the conventions' registry).
pub(super) fn kv_str_array<'a>(key: impl Into<Cow<'a, str>>, values: &'a [String]) -> Attr<'a> {
    kv(key, Val::Strs(values.iter().map(String::as_str).collect()))
}

/// A JSON value as an attribute: scalars as themselves, the rest as JSON text.
pub(super) fn kv_json<'a>(key: impl Into<Cow<'a, str>>, value: &'a Value) -> Attr<'a> {
    let value = match value {
        Value::String(text) => Val::Str(Cow::Borrowed(text)),
        Value::Bool(flag) => Val::Bool(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) => Val::Int(int),
            (None, Some(float)) => Val::Double(float),
            _ => Val::Str(Cow::Owned(number.to_string())),
        },
        other => Val::Str(Cow::Owned(other.to_string())),
    };
    kv(key, value)
}

/// The text of a JSON document that is a string (its JSON text unescaped), `None` for
/// any other JSON. Payloads hold valid JSON, so a string is exactly a document that
/// starts and ends with `"`; one without escapes is borrowed as it is, and only one with
/// escapes is parsed.
pub(super) fn json_string(json: &str) -> Option<Cow<'_, str>> {
    // JSON's whitespace, all ASCII: the bounds found are character boundaries.
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let bytes = json.as_bytes();
    let start = bytes.iter().position(|b| !space(b))?;
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let end = bytes.iter().rposition(|b| !space(b))?;
    let json = json.get(start..=end)?;
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.bytes().any(|b| b == b'\\' || b == b'"' || b < 0x20) {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(json).ok().map(Cow::Owned)
}

/// `input.value` / `output.value` with their MIME type: a JSON string is sent as plain
/// text, anything else as JSON.
pub(super) fn payload_attributes<'a>(
    attributes: &mut Vec<Attr<'a>>,
    (value_key, mime_key): (&'static str, &'static str),
    payload: &'a Payload,
) {
    let (text, mime) = match json_string(payload.as_json()) {
        Some(text) => (text, "text/plain"),
        None => (Cow::Borrowed(payload.as_json()), "application/json"),
    };
    attributes.push(kv_str(value_key, text));
    attributes.push(kv_str(mime_key, mime));
}

/// The trace-level fields every record of a trace carries, borrowed from its scope (or
/// from the trace record itself).
#[derive(Debug, Clone, Copy)]
pub(super) struct ScopeFields<'a> {
    name: &'a str,
    user_id: Option<&'a str>,
    session_id: Option<&'a str>,
    conversation_id: Option<&'a str>,
    external_trace_id: Option<&'a str>,
    context: Option<&'a Attributes>,
}

impl<'a> ScopeFields<'a> {
    pub(super) fn of_scope(scope: &'a TraceScope) -> Self {
        Self {
            name: &scope.name,
            user_id: scope.user_id.as_deref(),
            session_id: scope.session_id.as_deref(),
            conversation_id: scope.conversation_id.as_deref(),
            external_trace_id: scope.external_trace_id.as_deref(),
            context: scope.context.as_deref(),
        }
    }

    /// The same fields as [`TraceScope::of_trace`], without copying them.
    pub(super) fn of_trace(trace: &'a TraceRecord) -> Self {
        Self {
            name: &trace.name,
            user_id: trace.user_id.as_deref(),
            session_id: trace.session_id.as_deref(),
            conversation_id: trace.conversation_id.as_deref(),
            external_trace_id: trace.external_trace_id.as_deref(),
            context: trace.context.as_deref(),
        }
    }
}

pub(super) fn scope_attributes<'a>(attributes: &mut Vec<Attr<'a>>, scope: Option<ScopeFields<'a>>) {
    let Some(scope) = scope else { return };
    if let Some(user) = scope.user_id {
        attributes.push(kv_str(USER_ID, user));
    }
    if let Some(session) = scope.session_id {
        attributes.push(kv_str(SESSION_ID, session));
    }
    if let Some(conversation) = scope.conversation_id {
        attributes.push(kv_str(GEN_AI_CONVERSATION_ID, conversation));
    }
    if let Some(external) = scope.external_trace_id {
        attributes.push(kv_str(MV37_EXTERNAL_TRACE_ID, external));
    }
    if !scope.name.is_empty() {
        attributes.push(kv_str(MV37_TRACE_NAME, scope.name));
    }
    if let Some(context) = scope.context {
        for (key, value) in context {
            attributes.push(kv_json(key.as_str(), value));
        }
    }
}

pub(super) fn custom_attributes<'a>(attributes: &mut Vec<Attr<'a>>, custom: &'a Attributes) {
    if custom.is_empty() {
        return;
    }
    for (key, value) in custom {
        attributes.push(kv_json(key.as_str(), value));
    }
    // The same text as the map's `Value::Object`, without copying the map.
    if let Ok(json) = serde_json::to_string(custom) {
        attributes.push(kv_str(METADATA, json));
    }
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

pub(super) fn usage_attributes(attributes: &mut Vec<Attr<'_>>, usage: &Usage) {
    let pairs: [(&[&'static str], Option<u64>); 7] = [
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
        attributes.push(kv_f64(LLM_COST_TOTAL, cost));
        attributes.push(kv_f64(MV37_USAGE_COST_USD, cost));
    }
}

/// `gen_ai.request.*` (doubles, ints and the stop sequences as a string array, as the
/// registry types them), `server.address` / `server.port`, and OpenInference's
/// `llm.invocation_parameters` (the sampling parameters as one JSON object).
pub(super) fn request_attributes<'a>(attributes: &mut Vec<Attr<'a>>, request: &'a RequestParams) {
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
        attributes.push(kv(GEN_AI_REQUEST_SEED, Val::Int(seed)));
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
pub(super) fn response_attributes<'a>(attributes: &mut Vec<Attr<'a>>, response: &'a ResponseInfo) {
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
pub(super) fn documents_attributes<'a>(attributes: &mut Vec<Attr<'a>>, documents: &'a [DocumentRecord]) {
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
        if let Some(content) = &document.content {
            // As `DocumentRecord::content_text`, borrowed when it can be.
            let text = json_string(content.as_json()).unwrap_or(Cow::Borrowed(content.as_json()));
            attributes.push(kv_str(format!("{prefix}.{DOCUMENT_CONTENT}"), text));
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

/// Whether `provider`, with everything but ASCII letters and digits removed and
/// lowercased, is `spelling` (lowercase letters and digits).
fn spelled(provider: &str, spelling: &str) -> bool {
    provider
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
        .eq(spelling.bytes())
}

/// The registered `gen_ai.provider.name` for a provider as mv37 users write it
/// (`OpenAI` → `openai`, `azure` → `azure.ai.openai`, see [`PROVIDER_NAMES`]); an
/// unknown provider is sent lowercased.
pub(super) fn provider_name(provider: &str) -> Cow<'static, str> {
    // Most providers are written as one of the spellings: compared as they are first.
    // Characters outside ASCII are left out of the comparison, as they are not ASCII
    // alphanumeric; comparing bytes is the same as comparing characters.
    PROVIDER_NAMES
        .iter()
        .find(|(spellings, _)| spellings.contains(&provider))
        .or_else(|| {
            PROVIDER_NAMES
                .iter()
                .find(|(spellings, _)| spellings.iter().any(|spelling| spelled(provider, spelling)))
        })
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
pub(super) fn otlp_status<'a>(
    status: Status,
    error: Option<&'a ErrorInfo>,
    attributes: &mut Vec<Attr<'a>>,
    events: &mut Vec<EventParts<'a>>,
    end: u64,
) -> Option<StatusParts<'a>> {
    match status {
        Status::Ok => Some(StatusParts {
            code: StatusCode::Ok,
            message: Cow::Borrowed(""),
        }),
        Status::Cancelled => {
            attributes.push(kv_str(MV37_STATUS, "cancelled"));
            None
        }
        Status::Error => {
            let message = error.map_or("", |e| e.message.as_str());
            let full_type = error.and_then(|e| e.error_type.as_deref());
            attributes.push(kv_str(
                ERROR_TYPE,
                full_type.map_or(Cow::Borrowed(ERROR_TYPE_OTHER), short_error_type),
            ));
            events.push(EventParts {
                time: end,
                name: Cow::Borrowed(EXCEPTION_EVENT),
                attributes: vec![
                    kv_str(EXCEPTION_TYPE, full_type.unwrap_or(ERROR_TYPE_OTHER)),
                    kv_str(EXCEPTION_MESSAGE, message),
                ],
            });
            Some(StatusParts {
                code: StatusCode::Error,
                message: Cow::Borrowed(message),
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
            ("Ópen-AI", "ópen-ai"),
            ("open", "open"),
            ("openai2", "openai2"),
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

    /// `json_string` reads a payload as the JSON parser would: the text of a string
    /// (borrowed when it has no escapes), `None` for anything else.
    #[test]
    fn a_json_string_is_recognized_without_parsing_other_json() {
        for json in [
            r#""plain""#,
            r#""""#,
            r#"  "spaced"  "#,
            "\n\"lines\"\r\n",
            " {\"a\":\"b\"} ",
            "   ",
            "",
            r#""with \"quotes\" and \n and \u00e9""#,
            r#""é ✓""#,
            r#"{"a":"b"}"#,
            r#"["a"]"#,
            "42",
            "null",
            r#""a" "b""#,
            r#"""#,
            "\"raw\ttab\"",
            r#""\ud800""#,
        ] {
            let parsed = match serde_json::from_str::<Value>(json) {
                Ok(Value::String(text)) => Some(text),
                _ => None,
            };
            assert_eq!(json_string(json).map(Cow::into_owned), parsed, "{json}");
        }
        assert!(matches!(json_string(r#""plain""#), Some(Cow::Borrowed("plain"))));
    }
}
