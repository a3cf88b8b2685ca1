//! `tracing` field values as JSON, and the OpenTelemetry GenAI fields mapped onto an mv37
//! span: the kind and name a span is opened with, then model, provider, usage, messages,
//! input and output, request parameters and response fields as they are recorded.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};

use crate::llm::chat::ChatMessage;
use crate::record::{Content, ContentPart, RequestParams, ResponseInfo, Role, SpanKind, Usage};
use crate::span::Span;

/// The fields of a span's attributes, an event or a `record` call, in order.
#[derive(Default)]
pub(super) struct Fields(pub(super) Vec<(&'static str, Value)>);

impl Fields {
    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(key, _)| *key == name).map(|(_, value)| value)
    }

    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), serde_json::json!(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), Value::Bool(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), Value::String(value.to_owned())));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.push((field.name(), Value::String(value.to_string())));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), Value::String(format!("{value:?}"))));
    }
}

/// The mv37 kind of a span with this `gen_ai.operation.name`.
pub(super) fn kind_of_operation(operation: &str) -> SpanKind {
    match operation {
        "chat" | "text_completion" | "generate_content" | "chat_streaming" => SpanKind::Llm,
        "execute_tool" => SpanKind::Tool,
        "invoke_agent" | "create_agent" => SpanKind::Agent,
        "embeddings" => SpanKind::Custom(Cow::Borrowed("embedding")),
        "retrieval" => SpanKind::Retrieval,
        _ => SpanKind::Span,
    }
}

/// The kind and name a bridged span is opened with: the GenAI operation decides the
/// kind; a tool or agent span is named after its tool or agent, and `otel.name`
/// overrides the name.
pub(super) fn kind_and_name(span_name: &'static str, fields: &Fields) -> (SpanKind, Cow<'static, str>) {
    let kind = fields
        .text("gen_ai.operation.name")
        .map_or(SpanKind::Span, kind_of_operation);
    let named = |key: &str| fields.text(key).map(|name| Cow::Owned(name.to_owned()));
    let name = named("otel.name")
        .or_else(|| match kind {
            SpanKind::Tool => named("gen_ai.tool.name"),
            SpanKind::Agent => named("gen_ai.agent.name"),
            _ => None,
        })
        .unwrap_or(Cow::Borrowed(span_name));
    (kind, name)
}

/// What the fields say about a failure, as the `tracing-opentelemetry` convention puts
/// it: `otel.status_code = "ERROR"` fails the span, `otel.status_description` says why;
/// either may come in its own `record` call. A tool call whose
/// `gen_ai.tool.call.outcome` is `"error"` fails too (rig's convention), with its
/// `gen_ai.tool.error.type` as the message when no description says more.
#[derive(Default)]
pub(super) struct Failure {
    failed: bool,
    description: Option<String>,
    tool_error: Option<String>,
}

impl Failure {
    pub(super) fn update(&mut self, fields: &Fields) {
        if let Some(code) = fields.text("otel.status_code") {
            self.failed = code.eq_ignore_ascii_case("error");
        }
        if let Some(description) = fields.text("otel.status_description") {
            self.description = Some(description.to_owned());
        }
        if fields.text("gen_ai.tool.call.outcome") == Some("error") {
            self.failed = true;
        }
        if let Some(kind) = fields.text("gen_ai.tool.error.type") {
            self.tool_error = Some(kind.to_owned());
        }
    }

    /// The error message, when the span failed.
    pub(super) fn message(&self) -> Option<&str> {
        self.failed.then(|| {
            self.description
                .as_deref()
                .or(self.tool_error.as_deref())
                .unwrap_or("error")
        })
    }
}

/// A JSON value given as text (the conventions send structured values as JSON strings).
fn parsed(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn count(value: &Value) -> Option<u64> {
    number(value).filter(|n| *n >= 0.0).map(|n| n as u64)
}

fn strings(value: &Value) -> Vec<String> {
    match parsed(value) {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => text,
                other => other.to_string(),
            })
            .collect(),
        Value::String(text) => vec![text],
        _ => Vec::new(),
    }
}

fn text_field(part: &Value, key: &str) -> String {
    part.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// One part of a message or of the system instructions in the GenAI conventions' JSON.
fn content_part(part: &Value) -> ContentPart {
    match part.get("type").and_then(Value::as_str) {
        Some("text") | Some("reasoning") => ContentPart::Text {
            text: text_field(part, "content"),
        },
        Some("tool_call") => ContentPart::ToolCall {
            id: text_field(part, "id"),
            name: text_field(part, "name"),
            arguments: part.get("arguments").cloned().unwrap_or(Value::Null),
        },
        _ => ContentPart::Text { text: part.to_string() },
    }
}

fn content_of(mut parts: Vec<ContentPart>) -> Content {
    match parts.as_mut_slice() {
        [ContentPart::Text { text }] => Content::Text(std::mem::take(text)),
        _ => Content::Parts(parts),
    }
}

/// The system instructions in the GenAI conventions' JSON, a list of parts
/// (`[{"type": "text", "content": ".."}]`; a message's parts count too), or plain text:
/// one system message.
fn system_instructions(value: &Value) -> Option<ChatMessage> {
    let content = match parsed(value) {
        Value::Array(items) if !items.is_empty() => {
            let parts = items
                .iter()
                .flat_map(|item| match item.get("parts").and_then(Value::as_array) {
                    Some(parts) => parts.iter().map(content_part).collect(),
                    None => vec![content_part(item)],
                });
            content_of(parts.collect())
        }
        Value::String(text) if !text.is_empty() => Content::Text(text),
        _ => return None,
    };
    Some(ChatMessage {
        role: Role::System,
        content,
        tool_call_id: None,
        internal: false,
    })
}

/// Messages in the GenAI conventions' JSON (`[{"role", "parts": [{"type", ...}]}]`).
/// Each `tool_call_response` part becomes its own [`Role::Tool`] message linked by
/// `tool_call_id` to the call it answers, whatever role carried it (rig sends tool
/// results in a user message), and the rest of that message follows it: the shape mv37's
/// own OpenAI and Anthropic readers give.
fn genai_messages(value: &Value, default_role: Role) -> Vec<ChatMessage> {
    let Value::Array(messages) = parsed(value) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(messages.len());
    for message in &messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .map_or_else(|| default_role.clone(), Role::from);
        let mut parts = Vec::new();
        let message_parts = message
            .get("parts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for part in message_parts {
            if part.get("type").and_then(Value::as_str) != Some("tool_call_response") {
                parts.push(content_part(part));
                continue;
            }
            let response = part.get("response").or_else(|| part.get("result"));
            out.push(ChatMessage {
                role: Role::Tool,
                content: Content::Text(match response {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                }),
                tool_call_id: Some(text_field(part, "id")),
                internal: false,
            });
        }
        // A plain string message (some emitters send `{"role", "content"}`).
        if message_parts.is_empty() {
            if let Some(content) = message.get("content").and_then(Value::as_str) {
                parts.push(ContentPart::Text {
                    text: content.to_owned(),
                });
            }
        }
        if parts.is_empty() && !message_parts.is_empty() {
            continue; // only tool results: recorded above
        }
        out.push(ChatMessage {
            role,
            content: content_of(parts),
            tool_call_id: None,
            internal: false,
        });
    }
    out
}

/// What a bridged span has gathered from fields recorded so far, to merge later ones in.
#[derive(Default)]
pub(super) struct Gathered {
    usage: Usage,
    has_usage: bool,
    /// An agent span: the usage recorded on it is its run's total over the model calls
    /// under it (rig's `invoke_agent`), already on their llm spans, so it stays in
    /// `gen_ai.usage.*` attributes rather than being counted a second time.
    agent: bool,
    /// A hash of the last value of the input and of the output messages: recording the
    /// same value again adds no messages.
    messages: [Option<u64>; 2],
    /// The system messages recorded, so that one recorded again is not repeated (rig
    /// records its system instructions when it opens a chat span, again when the model
    /// call adopts the span, and a third time as the first input message).
    system: Vec<Content>,
}

impl Gathered {
    pub(super) fn new(kind: &SpanKind) -> Self {
        Gathered {
            agent: *kind == SpanKind::Agent,
            ..Gathered::default()
        }
    }

    /// Whether `value` differs from the last value of message field `slot`.
    fn new_messages(&mut self, slot: usize, value: &Value) -> bool {
        let mut hasher = std::hash::DefaultHasher::new();
        match value {
            Value::String(text) => text.hash(&mut hasher),
            other => other.to_string().hash(&mut hasher),
        }
        let hash = Some(hasher.finish());
        let changed = self.messages[slot] != hash;
        self.messages[slot] = hash;
        changed
    }

    fn record(&mut self, span: &Span, messages: impl IntoIterator<Item = ChatMessage>) {
        for message in messages {
            if message.role == Role::System {
                if self.system.contains(&message.content) {
                    continue;
                }
                self.system.push(message.content.clone());
            }
            message.record(span);
        }
    }
}

/// Applies recorded fields to `span`; fields that are no GenAI field become attributes.
/// `late`: recorded after the span started, when the operation and the tool, agent or
/// `otel.name` retype and rename it (at the start they chose its kind and name).
pub(super) fn apply(span: &Span, gathered: &mut Gathered, fields: Fields, late: bool) {
    if late {
        let kind = fields.text("gen_ai.operation.name").map(kind_of_operation);
        let named = |key: &str| fields.text(key).map(|name| Cow::Owned(name.to_owned()));
        let name = named("otel.name")
            .or_else(|| named("gen_ai.tool.name"))
            .or_else(|| named("gen_ai.agent.name"));
        if let Some(kind) = &kind {
            gathered.agent = *kind == SpanKind::Agent;
        }
        if kind.is_some() || name.is_some() {
            span.retype(kind, name);
        }
    }
    let mut request = RequestParams::default();
    let mut response = ResponseInfo::default();
    for (name, owned) in fields.0 {
        let value = &owned;
        match name {
            // Consumed when the span was opened.
            "gen_ai.operation.name"
            | "gen_ai.tool.name"
            | "otel.name"
            | "otel.kind"
            | "otel.status_code"
            | "otel.status_description" => {}
            "gen_ai.agent.name" => {}
            usage if gathered.agent && usage.starts_with("gen_ai.usage.") => span.set_attribute(usage, value),
            "gen_ai.request.model" => {
                if let Some(model) = value.as_str() {
                    span.set_model(model);
                }
            }
            "gen_ai.response.model" => response.model = value.as_str().map(str::to_owned),
            "gen_ai.response.id" => response.id = value.as_str().map(str::to_owned),
            "gen_ai.response.finish_reasons" => response.finish_reasons = strings(value),
            "gen_ai.provider.name" | "gen_ai.system" => {
                if let Some(provider) = value.as_str() {
                    span.set_provider(provider);
                }
            }
            "gen_ai.usage.input_tokens" | "gen_ai.usage.prompt_tokens" => {
                gathered.usage.input_tokens = count(value);
                gathered.has_usage = true;
            }
            "gen_ai.usage.output_tokens" | "gen_ai.usage.completion_tokens" => {
                gathered.usage.output_tokens = count(value);
                gathered.has_usage = true;
            }
            "gen_ai.usage.cache_read.input_tokens" | "gen_ai.usage.cached_tokens" => {
                gathered.usage.cached_tokens = count(value);
                gathered.has_usage = true;
            }
            "gen_ai.usage.cache_creation.input_tokens" | "gen_ai.usage.cache_write.input_tokens" => {
                gathered.usage.cache_write_tokens = count(value);
                gathered.has_usage = true;
            }
            "gen_ai.usage.reasoning.output_tokens" | "gen_ai.usage.reasoning_tokens" => {
                gathered.usage.reasoning_tokens = count(value);
                gathered.has_usage = true;
            }
            "gen_ai.request.temperature" => request.temperature = number(value),
            "gen_ai.request.top_p" => request.top_p = number(value),
            "gen_ai.request.top_k" => request.top_k = number(value),
            "gen_ai.request.frequency_penalty" => request.frequency_penalty = number(value),
            "gen_ai.request.presence_penalty" => request.presence_penalty = number(value),
            "gen_ai.request.max_tokens" => request.max_tokens = count(value),
            "gen_ai.request.seed" => request.seed = number(value).map(|n| n as i64),
            "gen_ai.request.stop_sequences" => request.stop_sequences = strings(value),
            "gen_ai.system_instructions" => gathered.record(span, system_instructions(value)),
            "gen_ai.input.messages" if gathered.new_messages(0, value) => {
                gathered.record(span, genai_messages(value, Role::User))
            }
            "gen_ai.output.messages" if gathered.new_messages(1, value) => {
                gathered.record(span, genai_messages(value, Role::Assistant))
            }
            "gen_ai.input.messages" | "gen_ai.output.messages" => {}
            "gen_ai.prompt" | "input.value" | "gen_ai.tool.call.arguments" => span.record_input(&parsed(value)),
            "gen_ai.completion" | "output.value" | "gen_ai.tool.call.result" => span.record_output(&parsed(value)),
            "gen_ai.tool.call.id" => span.set_attribute("tool_call_id", value),
            // A flat value (a string, a number): moved into the attributes, not copied.
            other => span.set_attribute_value(other, owned),
        }
    }
    if gathered.has_usage {
        let usage = &mut gathered.usage;
        usage.total_tokens = match (usage.input_tokens, usage.output_tokens) {
            (None, None) => None,
            (input, output) => Some(input.unwrap_or(0) + output.unwrap_or(0)),
        };
        span.set_usage(*usage);
    }
    if !request.is_empty() {
        span.set_request_params(request);
    }
    if !response.is_empty() {
        span.set_response_info(response);
    }
}

/// An event's fields as an mv37 event: its message as the name, the rest (with its
/// level and target) as attributes.
pub(super) fn event_parts(fields: Fields, level: &tracing::Level, target: &str) -> (String, Map<String, Value>) {
    let mut name = None;
    let mut attributes = Map::new();
    attributes.insert("level".into(), Value::String(level.to_string()));
    attributes.insert("target".into(), Value::String(target.to_owned()));
    for (key, value) in fields.0 {
        match (key, value) {
            ("message", Value::String(text)) if name.is_none() => name = Some(text),
            (key, value) => {
                attributes.insert(key.to_owned(), value);
            }
        }
    }
    (name.unwrap_or_else(|| "event".to_owned()), attributes)
}
