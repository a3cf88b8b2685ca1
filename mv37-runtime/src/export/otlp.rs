//! The `otlp` exporter: OTLP/HTTP (protobuf or JSON) to any OpenTelemetry backend, with
//! both the OpenTelemetry GenAI (`gen_ai.*`) and the OpenInference attributes, so that
//! Phoenix, Langfuse and generic OTel backends render mv37 spans as LLM spans.
//! The mapping is documented in `docs/OTLP.md`.

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status as OtlpStatus};
use prost::Message;
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde_json::Value;

use super::http::{HttpTransport, Request, RetryPolicy};
use super::{ExportError, Exporter};
use crate::ids::{SpanId, TraceId};
use crate::payload::Payload;
use crate::record::{
    Attributes, Content, ContentPart, ErrorInfo, FeedbackRecord, MessageRecord, Record, Role, SignalRecord, SpanKind,
    SpanRecord, Status, TraceRecord, TraceScope, Usage,
};

/// The wire encoding of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `application/x-protobuf` (the default, `http/protobuf`).
    Protobuf,
    /// `application/json` (`http/json`).
    Json,
}

/// Where and how the `otlp` exporter sends.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The full traces URL, such as `http://localhost:4318/v1/traces`.
    pub endpoint: String,
    /// Protobuf or JSON.
    pub protocol: OtlpProtocol,
    /// Gzip request bodies.
    pub gzip: bool,
    /// Extra headers (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS`),
    /// such as an API key. Values are secrets: `Debug` shows `[REDACTED]`, errors never
    /// quote them, and requests mark them sensitive. Build one with
    /// `("x-api-key".into(), token.into())`; read one with [`secrecy::ExposeSecret`].
    pub headers: Vec<(String, SecretString)>,
    /// Resource attributes beyond those derived from the client's configuration
    /// (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Retries, timeouts and the retry budget.
    pub retry: RetryPolicy,
}

/// The default OTLP/HTTP traces endpoint of a local collector.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_OTLP_ENDPOINT.to_owned(),
            protocol: OtlpProtocol::Protobuf,
            gzip: false,
            headers: Vec::new(),
            resource_attributes: Vec::new(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The service identity every exported span carries as OTLP resource attributes.
#[derive(Debug, Clone, Default)]
pub struct ResourceInfo {
    /// `service.name`.
    pub service_name: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `deployment.environment`.
    pub environment: Option<String>,
    /// Any other attributes.
    pub extra: Vec<(String, String)>,
}

/// Encodes records into OTLP spans; kept separate from the transport so it can be
/// benchmarked and tested alone.
#[derive(Debug, Clone)]
pub struct OtlpEncoder {
    resource: Resource,
    scope: InstrumentationScope,
}

impl OtlpEncoder {
    /// An encoder stamping `resource` on every request.
    pub fn new(resource: &ResourceInfo) -> Self {
        // `OTEL_RESOURCE_ATTRIBUTES` first; the explicit settings (`OTEL_SERVICE_NAME`,
        // release, environment) override it, as the OpenTelemetry spec orders them.
        let mut attributes: Vec<KeyValue> = Vec::new();
        let mut set = |key: &str, value: &str| {
            attributes.retain(|kv| kv.key != key);
            attributes.push(kv_str(key, value));
        };
        for (key, value) in &resource.extra {
            set(key, value);
        }
        match &resource.service_name {
            Some(name) => set("service.name", name),
            None if !resource.extra.iter().any(|(key, _)| key == "service.name") => {
                set("service.name", "unknown_service:mv37")
            }
            None => {}
        }
        if let Some(version) = &resource.service_version {
            set("service.version", version);
        }
        if let Some(environment) = &resource.environment {
            set("deployment.environment", environment);
            set("deployment.environment.name", environment);
        }
        set("telemetry.sdk.name", "mv37");
        set("telemetry.sdk.language", "rust");
        set("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
        Self {
            resource: Resource {
                attributes,
                ..Resource::default()
            },
            scope: InstrumentationScope {
                name: "mv37".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..InstrumentationScope::default()
            },
        }
    }

    /// The OTLP request for a batch of records.
    pub fn request(&self, records: &[Record]) -> ExportTraceServiceRequest {
        let spans = records.iter().filter_map(encode_record).collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// The request body in the given protocol.
    pub fn encode(&self, records: &[Record], protocol: OtlpProtocol) -> Result<Vec<u8>, serde_json::Error> {
        let request = self.request(records);
        match protocol {
            OtlpProtocol::Protobuf => Ok(request.encode_to_vec()),
            OtlpProtocol::Json => serde_json::to_vec(&request),
        }
    }
}

/// Sends records to an OTLP/HTTP endpoint.
pub struct OtlpExporter {
    config: OtlpConfig,
    encoder: OtlpEncoder,
    headers: HeaderMap,
    transport: HttpTransport,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may carry API keys: show only their names.
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.config.endpoint)
            .field("protocol", &self.config.protocol)
            .field("gzip", &self.config.gzip)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OtlpExporter {
    /// An exporter for `config`, stamping `resource` on every span.
    pub fn new(config: OtlpConfig, resource: &ResourceInfo) -> Result<Self, crate::config::error::ConfigError> {
        crate::config::error::check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &config.endpoint)?;
        // Headers from the environment were checked when read; these come from code.
        let headers = super::http::header_map(&config.headers)
            .map_err(|error| crate::config::error::entry_error("otlp.headers", error))?;
        let mut resource = resource.clone();
        resource.extra.extend(config.resource_attributes.iter().cloned());
        Ok(Self {
            encoder: OtlpEncoder::new(&resource),
            transport: HttpTransport::new("otlp", config.retry),
            headers,
            config,
        })
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let body = self
            .encoder
            .encode(batch, self.config.protocol)
            .map_err(|e| ExportError::new("otlp", format!("cannot encode: {e}")))?;
        self.transport.send(&Request {
            url: &self.config.endpoint,
            body: &body,
            content_type: match self.config.protocol {
                OtlpProtocol::Protobuf => "application/x-protobuf",
                OtlpProtocol::Json => "application/json",
            },
            gzip: self.config.gzip,
            headers: &self.headers,
        })
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.transport.set_deadline(deadline);
    }
}

fn any(value: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: any(value),
        ..KeyValue::default()
    }
}

fn kv_str(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn kv_int(key: impl Into<String>, value: u64) -> KeyValue {
    kv(
        key,
        any_value::Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

/// A JSON value as an attribute: scalars as themselves, the rest as JSON text.
fn kv_json(key: impl Into<String>, value: &Value) -> KeyValue {
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
fn payload_attributes(attributes: &mut Vec<KeyValue>, prefix: &str, payload: &Payload) {
    let (text, mime) = match serde_json::from_str::<Value>(payload.as_json()) {
        Ok(Value::String(text)) => (text, "text/plain"),
        _ => (payload.as_json().to_owned(), "application/json"),
    };
    attributes.push(kv_str(format!("{prefix}.value"), text));
    attributes.push(kv_str(format!("{prefix}.mime_type"), mime));
}

fn scope_attributes(attributes: &mut Vec<KeyValue>, scope: Option<&TraceScope>) {
    let Some(scope) = scope else { return };
    if let Some(user) = &scope.user_id {
        attributes.push(kv_str("user.id", user));
    }
    if let Some(session) = &scope.session_id {
        attributes.push(kv_str("session.id", session));
    }
    if let Some(conversation) = &scope.conversation_id {
        attributes.push(kv_str("gen_ai.conversation.id", conversation));
    }
    if let Some(external) = &scope.external_trace_id {
        attributes.push(kv_str("mv37.external_trace_id", external));
    }
    if !scope.name.is_empty() {
        attributes.push(kv_str("mv37.trace.name", scope.name.as_ref()));
    }
    if let Some(context) = &scope.context {
        for (key, value) in context.iter() {
            attributes.push(kv_json(key.as_str(), value));
        }
    }
}

fn custom_attributes(attributes: &mut Vec<KeyValue>, custom: &Attributes) {
    if custom.is_empty() {
        return;
    }
    for (key, value) in custom {
        attributes.push(kv_json(key.as_str(), value));
    }
    attributes.push(kv_str("metadata", Value::Object(custom.clone()).to_string()));
}

fn openinference_kind(kind: &SpanKind) -> &'static str {
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

fn usage_attributes(attributes: &mut Vec<KeyValue>, usage: &Usage) {
    let pairs: [(&[&str], Option<u64>); 6] = [
        (
            &["gen_ai.usage.input_tokens", "llm.token_count.prompt"],
            usage.input_tokens,
        ),
        (
            &["gen_ai.usage.output_tokens", "llm.token_count.completion"],
            usage.output_tokens,
        ),
        (&["llm.token_count.total"], usage.total_tokens),
        (
            &[
                "gen_ai.usage.cache_read.input_tokens",
                "llm.token_count.prompt_details.cache_read",
            ],
            usage.cached_tokens,
        ),
        (
            &[
                "gen_ai.usage.reasoning_tokens",
                "llm.token_count.completion_details.reasoning",
            ],
            usage.reasoning_tokens,
        ),
        (&["mv37.usage.context_window_tokens"], usage.context_window_tokens),
    ];
    for (keys, value) in pairs {
        if let Some(value) = value {
            for key in keys {
                attributes.push(kv_int(*key, value));
            }
        }
    }
    if let Some(used) = usage.context_used_tokens {
        attributes.push(kv_int("mv37.usage.context_used_tokens", used));
    }
    if let Some(cost) = usage.cost_usd {
        attributes.push(kv("llm.cost.total", any_value::Value::DoubleValue(cost)));
        attributes.push(kv("mv37.usage.cost_usd", any_value::Value::DoubleValue(cost)));
    }
}

fn content_text(content: &Content) -> String {
    match content {
        Content::Text(text) => text.clone(),
        Content::Parts(parts) => serde_json::to_string(parts).unwrap_or_default(),
    }
}

/// `llm.{input|output}_messages.{i}.message.*` for one message.
fn message_attributes(attributes: &mut Vec<KeyValue>, prefix: &str, message: &MessageRecord) {
    attributes.push(kv_str(format!("{prefix}.message.role"), message.role.as_str()));
    if let Some(id) = &message.tool_call_id {
        attributes.push(kv_str(format!("{prefix}.message.tool_call_id"), id));
    }
    match &message.content {
        Content::Text(text) => attributes.push(kv_str(format!("{prefix}.message.content"), text)),
        Content::Parts(parts) => {
            let mut content_index = 0;
            let mut call_index = 0;
            for part in parts {
                match part {
                    ContentPart::ToolCall { id, name, arguments } => {
                        let call = format!("{prefix}.message.tool_calls.{call_index}.tool_call");
                        attributes.push(kv_str(format!("{call}.id"), id));
                        attributes.push(kv_str(format!("{call}.function.name"), name));
                        attributes.push(kv_str(format!("{call}.function.arguments"), arguments.to_string()));
                        call_index += 1;
                    }
                    other => {
                        let item = format!("{prefix}.message.contents.{content_index}.message_content");
                        match other {
                            ContentPart::Text { text } => {
                                attributes.push(kv_str(format!("{item}.type"), "text"));
                                attributes.push(kv_str(format!("{item}.text"), text));
                            }
                            ContentPart::ImageUrl { url, .. } => {
                                attributes.push(kv_str(format!("{item}.type"), "image"));
                                attributes.push(kv_str(format!("{item}.image.image.url"), url));
                            }
                            ContentPart::ImageBase64 { media_type, data } => {
                                attributes.push(kv_str(format!("{item}.type"), "image"));
                                attributes.push(kv_str(
                                    format!("{item}.image.image.url"),
                                    format!("data:{media_type};base64,{data}"),
                                ));
                            }
                            other => {
                                attributes.push(kv_str(format!("{item}.type"), "json"));
                                attributes.push(kv_str(
                                    format!("{item}.text"),
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
fn messages_to_span(attributes: &mut Vec<KeyValue>, events: &mut Vec<span::Event>, messages: &[MessageRecord]) {
    let outputs_from = messages
        .iter()
        .rposition(|m| m.role != Role::Assistant)
        .map_or(0, |last_input| last_input + 1);
    for (index, message) in messages.iter().enumerate() {
        if index < outputs_from {
            message_attributes(attributes, &format!("llm.input_messages.{index}"), message);
        } else {
            message_attributes(
                attributes,
                &format!("llm.output_messages.{}", index - outputs_from),
                message,
            );
        }
        let mut event_attributes = vec![
            kv_str("gen_ai.message.role", message.role.as_str()),
            kv_str("content", content_text(&message.content)),
        ];
        if let Some(id) = &message.tool_call_id {
            event_attributes.push(kv_str("tool_call_id", id));
        }
        if message.is_internal {
            event_attributes.push(kv("mv37.is_internal", any_value::Value::BoolValue(true)));
        }
        events.push(span::Event {
            time_unix_nano: message.time_unix_nano,
            name: format!("gen_ai.{}.message", message.role.as_str()),
            attributes: event_attributes,
            dropped_attributes_count: 0,
        });
    }
}

fn otlp_status(
    status: Status,
    error: Option<&ErrorInfo>,
    attributes: &mut Vec<KeyValue>,
    events: &mut Vec<span::Event>,
    end: u64,
) -> Option<OtlpStatus> {
    match status {
        Status::Ok => None,
        Status::Cancelled => {
            attributes.push(kv_str("mv37.status", "cancelled"));
            None
        }
        Status::Error => {
            let message = error.map(|e| e.message.clone()).unwrap_or_default();
            let error_type = error
                .and_then(|e| e.error_type.clone())
                .unwrap_or_else(|| "error".to_owned());
            attributes.push(kv_str("error.type", error_type.clone()));
            events.push(span::Event {
                time_unix_nano: end,
                name: "exception".to_owned(),
                attributes: vec![
                    kv_str("exception.type", error_type),
                    kv_str("exception.message", message.clone()),
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

struct SpanShape {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    name: String,
    kind: span::SpanKind,
    start: u64,
    end: u64,
    attributes: Vec<KeyValue>,
    events: Vec<span::Event>,
    status: Option<OtlpStatus>,
}

impl SpanShape {
    fn build(self) -> Span {
        Span {
            trace_id: self.trace_id.to_bytes().to_vec(),
            span_id: self.span_id.to_bytes().to_vec(),
            parent_span_id: self.parent.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
            name: self.name,
            kind: self.kind as i32,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            attributes: self.attributes,
            events: self.events,
            status: self.status,
            ..Span::default()
        }
    }
}

/// A span id derived from what identifies a point record (FNV-1a), so that sending the
/// same record twice yields the same span and backends that dedupe can.
fn derived_span_id(trace_id: TraceId, time: u64, name: &str) -> SpanId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = trace_id.to_bytes();
    for byte in bytes.iter().chain(&time.to_be_bytes()).chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    SpanId::from_u64(hash).unwrap_or_else(SpanId::random)
}

fn encode_record(record: &Record) -> Option<Span> {
    Some(match record {
        Record::Trace(trace) => encode_trace(trace),
        Record::Span(span) => encode_span(span),
        Record::Message(message) => encode_message(message),
        Record::Feedback(feedback) => encode_feedback(feedback),
        Record::Signal(signal) => encode_signal(signal),
    })
}

fn encode_trace(trace: &TraceRecord) -> Span {
    let mut attributes = vec![kv_str("openinference.span.kind", "CHAIN"), kv_str("mv37.kind", "trace")];
    let scope = TraceScope::of_trace(trace);
    scope_attributes(&mut attributes, Some(&scope));
    if let Some(input) = &trace.input {
        payload_attributes(&mut attributes, "input", input);
    }
    if let Some(output) = &trace.output {
        payload_attributes(&mut attributes, "output", output);
    }
    custom_attributes(&mut attributes, &trace.attributes);
    let mut events = Vec::new();
    messages_to_span(&mut attributes, &mut events, &trace.messages);
    let status = otlp_status(
        trace.status,
        trace.error.as_ref(),
        &mut attributes,
        &mut events,
        trace.end_time_unix_nano,
    );
    SpanShape {
        trace_id: trace.trace_id,
        span_id: trace.span_id,
        parent: trace.parent_span_id,
        name: trace.name.to_string(),
        kind: if trace.parent_span_id.is_some() {
            span::SpanKind::Server
        } else {
            span::SpanKind::Internal
        },
        start: trace.start_time_unix_nano,
        end: trace.end_time_unix_nano,
        attributes,
        events,
        status,
    }
    .build()
}

fn encode_span(record: &SpanRecord) -> Span {
    let mut attributes = vec![
        kv_str("openinference.span.kind", openinference_kind(&record.kind)),
        kv_str("mv37.kind", record.kind.as_str()),
    ];
    scope_attributes(&mut attributes, record.scope.as_deref());
    match record.kind {
        SpanKind::Llm => {
            attributes.push(kv_str("gen_ai.operation.name", "chat"));
            if let Some(model) = &record.model {
                attributes.push(kv_str("gen_ai.request.model", model));
                attributes.push(kv_str("llm.model_name", model));
            }
            if let Some(provider) = &record.provider {
                attributes.push(kv_str("gen_ai.system", provider));
                attributes.push(kv_str("gen_ai.provider.name", provider));
                attributes.push(kv_str("llm.provider", provider));
            }
        }
        SpanKind::Tool => {
            attributes.push(kv_str("gen_ai.operation.name", "execute_tool"));
            attributes.push(kv_str("gen_ai.tool.name", record.name.as_ref()));
            attributes.push(kv_str("tool.name", record.name.as_ref()));
            if let Some(input) = &record.input {
                attributes.push(kv_str("tool.parameters", input.as_json()));
            }
        }
        _ => {
            if let Some(model) = &record.model {
                attributes.push(kv_str("llm.model_name", model));
            }
        }
    }
    if let Some(usage) = &record.usage {
        usage_attributes(&mut attributes, usage);
    }
    if let Some(input) = &record.input {
        payload_attributes(&mut attributes, "input", input);
    }
    if let Some(output) = &record.output {
        payload_attributes(&mut attributes, "output", output);
    }
    custom_attributes(&mut attributes, &record.attributes);
    let mut events = Vec::new();
    messages_to_span(&mut attributes, &mut events, &record.messages);
    let status = otlp_status(
        record.status,
        record.error.as_ref(),
        &mut attributes,
        &mut events,
        record.end_time_unix_nano,
    );
    SpanShape {
        trace_id: record.trace_id,
        span_id: record.span_id,
        parent: record.parent_span_id,
        name: record.name.to_string(),
        kind: if record.kind == SpanKind::Llm {
            span::SpanKind::Client
        } else {
            span::SpanKind::Internal
        },
        start: record.start_time_unix_nano,
        end: record.end_time_unix_nano,
        attributes,
        events,
        status,
    }
    .build()
}

/// A message whose span had already ended: a zero-length child span carrying it.
fn encode_message(message: &MessageRecord) -> Span {
    let mut attributes = vec![
        kv_str("openinference.span.kind", "CHAIN"),
        kv_str("mv37.kind", "message"),
    ];
    scope_attributes(&mut attributes, message.scope.as_deref());
    let mut events = Vec::new();
    messages_to_span(&mut attributes, &mut events, std::slice::from_ref(message));
    SpanShape {
        trace_id: message.trace_id,
        span_id: derived_span_id(message.trace_id, message.time_unix_nano, message.role.as_str()),
        parent: Some(message.span_id),
        name: format!("message {}", message.role.as_str()),
        kind: span::SpanKind::Internal,
        start: message.time_unix_nano,
        end: message.time_unix_nano,
        attributes,
        events,
        status: None,
    }
    .build()
}

fn encode_feedback(feedback: &FeedbackRecord) -> Span {
    let mut attributes = vec![
        kv_str("openinference.span.kind", "EVALUATOR"),
        kv_str("mv37.kind", "feedback"),
        kv_str("mv37.feedback.name", &feedback.name),
        kv_json("mv37.feedback.value", &feedback.value),
    ];
    if let Some(comment) = &feedback.comment {
        attributes.push(kv_str("mv37.feedback.comment", comment));
    }
    scope_attributes(&mut attributes, feedback.scope.as_deref());
    SpanShape {
        trace_id: feedback.trace_id,
        span_id: derived_span_id(feedback.trace_id, feedback.time_unix_nano, &feedback.name),
        parent: feedback.span_id,
        name: format!("feedback {}", feedback.name),
        kind: span::SpanKind::Internal,
        start: feedback.time_unix_nano,
        end: feedback.time_unix_nano,
        attributes,
        events: Vec::new(),
        status: None,
    }
    .build()
}

fn encode_signal(signal: &SignalRecord) -> Span {
    let mut attributes = vec![
        kv_str("openinference.span.kind", "CHAIN"),
        kv_str("mv37.kind", "signal"),
        kv_str("mv37.signal.name", &signal.name),
        kv_json("mv37.signal.value", &signal.value),
    ];
    scope_attributes(&mut attributes, signal.scope.as_deref());
    SpanShape {
        trace_id: signal.trace_id,
        span_id: derived_span_id(signal.trace_id, signal.time_unix_nano, &signal.name),
        parent: signal.span_id,
        name: format!("signal {}", signal.name),
        kind: span::SpanKind::Internal,
        start: signal.time_unix_nano,
        end: signal.time_unix_nano,
        attributes,
        events: Vec::new(),
        status: None,
    }
    .build()
}
