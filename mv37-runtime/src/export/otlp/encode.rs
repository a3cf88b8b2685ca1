//! The OTLP encoder: records to protobuf `Span`s, one span per record, with both the
//! OpenTelemetry GenAI and the OpenInference attributes (built in [`super::attributes`],
//! every name in [`super::names`]).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status as OtlpStatus};
use prost::Message;

use opentelemetry_proto::tonic::common::v1::any_value;
use serde_json::Value;

use super::attributes::{
    custom_attributes, documents_attributes, kv, kv_json, kv_str, openinference_kind, otlp_status, payload_attributes,
    provider_name, request_attributes, response_attributes, scope_attributes, usage_attributes,
};
use super::config::OtlpProtocol;
use super::langfuse;
use super::messages::messages_to_span;
use super::names::*;
use crate::export::resource::ResourceInfo;
use crate::ids::{SpanId, TraceId};
use crate::payload::Payload;
use crate::record::{
    Attributes, ErrorInfo, EventRecord, FeedbackRecord, MessageRecord, Record, SignalRecord, SpanKind, SpanRecord,
    Status, TraceRecord, TraceScope,
};

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
            Some(name) => set(SERVICE_NAME, name),
            None if !resource.extra.iter().any(|(key, _)| key == SERVICE_NAME) => {
                set(SERVICE_NAME, "unknown_service:mv37")
            }
            None => {}
        }
        if let Some(version) = &resource.service_version {
            set(SERVICE_VERSION, version);
        }
        if let Some(environment) = &resource.environment {
            set(DEPLOYMENT_ENVIRONMENT, environment);
            set(DEPLOYMENT_ENVIRONMENT_NAME, environment);
        }
        set(TELEMETRY_SDK_NAME, "mv37");
        set(TELEMETRY_SDK_LANGUAGE, "rust");
        set(TELEMETRY_SDK_VERSION, env!("CARGO_PKG_VERSION"));
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
        let spans = encode_records(records);
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

/// The batch's spans. Feedback and signals become `gen_ai.evaluation.result` events on
/// the span they are about when that span is in the batch (feedback made while the trace
/// was open), else zero-length child spans of it: never spans without a parent, which
/// backends would take for the trace's root.
fn encode_records(records: &[Record]) -> Vec<Span> {
    let mut spans = Vec::with_capacity(records.len());
    let mut evaluations = Vec::new();
    for record in records {
        match record {
            Record::Trace(trace) => spans.push(encode_trace(trace)),
            Record::Span(span) => spans.push(encode_span(span)),
            Record::Message(message) => spans.push(encode_message(message)),
            Record::Feedback(_) | Record::Signal(_) => evaluations.push(record),
        }
    }
    for record in evaluations {
        let (trace_id, target, event) = match record {
            Record::Feedback(feedback) => (
                feedback.trace_id,
                feedback.span_id.or(feedback.root_span_id),
                evaluation_event(
                    feedback.time_unix_nano,
                    &feedback.name,
                    &feedback.value,
                    feedback.comment.as_deref(),
                    "feedback",
                ),
            ),
            Record::Signal(signal) => (
                signal.trace_id,
                signal.span_id,
                evaluation_event(signal.time_unix_nano, &signal.name, &signal.value, None, "signal"),
            ),
            _ => continue,
        };
        let target_bytes = target.map(|id| id.to_bytes());
        let in_batch = target_bytes.and_then(|bytes| {
            spans
                .iter_mut()
                .find(|span| span.span_id == bytes && span.trace_id == trace_id.to_bytes())
        });
        match in_batch {
            Some(span) => span.events.push(event),
            None => spans.push(match record {
                Record::Feedback(feedback) => encode_feedback(feedback, event),
                Record::Signal(signal) => encode_signal(signal, event),
                _ => continue,
            }),
        }
    }
    spans
}

/// The `gen_ai.evaluation.result` event for feedback or a signal: a number is the score's
/// value, a string its label, a boolean both (1 or 0, `true` or `false`), anything else
/// its JSON text as the label.
fn evaluation_event(time: u64, name: &str, value: &Value, explanation: Option<&str>, kind: &str) -> span::Event {
    let mut attributes = vec![kv_str(GEN_AI_EVALUATION_NAME, name)];
    let score = |value: f64| kv(GEN_AI_EVALUATION_SCORE_VALUE, any_value::Value::DoubleValue(value));
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
    span::Event {
        time_unix_nano: time,
        name: GEN_AI_EVALUATION_RESULT_EVENT.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// The parent of a feedback or signal span whose target is not in the batch: the span it
/// is about, else a stable stand-in derived from the trace id (feedback on a trace this
/// client does not remember), so that it never shows as a second root.
fn evaluation_parent(trace_id: TraceId, target: Option<SpanId>) -> SpanId {
    target.unwrap_or_else(|| derived_span_id(trace_id, 0, "mv37.unknown_root"))
}

/// What a trace and a span carry alike, after the attributes of their own.
struct Common<'a> {
    input: Option<&'a Payload>,
    output: Option<&'a Payload>,
    custom: &'a Attributes,
    messages: &'a [MessageRecord],
    /// Events recorded on it (log lines), sent as span events.
    events: &'a [EventRecord],
    /// The response's finish reasons, for the output messages.
    finish_reasons: &'a [String],
    status: Status,
    error: Option<&'a ErrorInfo>,
    end: u64,
}

/// Input, output, custom attributes, messages and status (an exception event when the
/// trace or span failed), the same for traces and spans.
fn common_attributes(attributes: &mut Vec<KeyValue>, common: Common<'_>) -> (Vec<span::Event>, Option<OtlpStatus>) {
    if let Some(input) = common.input {
        payload_attributes(attributes, INPUT, input);
    }
    if let Some(output) = common.output {
        payload_attributes(attributes, OUTPUT, output);
    }
    custom_attributes(attributes, common.custom);
    messages_to_span(attributes, common.messages, common.finish_reasons);
    let mut events: Vec<span::Event> = common
        .events
        .iter()
        .map(|event| span::Event {
            time_unix_nano: event.time_unix_nano,
            name: event.name.clone(),
            attributes: event
                .attributes
                .iter()
                .map(|(key, value)| kv_json(key.as_str(), value))
                .collect(),
            dropped_attributes_count: 0,
        })
        .collect();
    let status = otlp_status(common.status, common.error, attributes, &mut events, common.end);
    (events, status)
}

fn encode_trace(trace: &TraceRecord) -> Span {
    let mut attributes = vec![kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"), kv_str(MV37_KIND, "trace")];
    let scope = TraceScope::of_trace(trace);
    scope_attributes(&mut attributes, Some(&scope));
    langfuse::trace_attributes(&mut attributes, trace);
    let (events, status) = common_attributes(
        &mut attributes,
        Common {
            input: trace.input.as_ref(),
            output: trace.output.as_ref(),
            custom: &trace.attributes,
            messages: &trace.messages,
            events: &trace.events,
            finish_reasons: &[],
            status: trace.status,
            error: trace.error.as_ref(),
            end: trace.end_time_unix_nano,
        },
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

/// The GenAI operation a span kind performs, when the conventions define one.
fn operation(kind: &SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Llm => Some(OPERATION_CHAT),
        SpanKind::Tool => Some(OPERATION_EXECUTE_TOOL),
        SpanKind::Retrieval => Some(OPERATION_RETRIEVAL),
        SpanKind::Agent => Some(OPERATION_INVOKE_AGENT),
        SpanKind::Custom(name) if matches!(name.to_ascii_lowercase().as_str(), "embedding" | "embeddings") => {
            Some(OPERATION_EMBEDDINGS)
        }
        // A kind built as `SpanKind::Custom` by hand, or spelled `Agent`.
        SpanKind::Custom(name) if name.eq_ignore_ascii_case("agent") => Some(OPERATION_INVOKE_AGENT),
        _ => None,
    }
}

/// The span's OTLP name: `{operation} {model}` for model calls, `execute_tool {tool}` for
/// tools and `invoke_agent {agent}` for agents, as the conventions name them; mv37's own
/// name otherwise.
fn span_name(record: &SpanRecord, operation: Option<&str>) -> String {
    match (operation, &record.model) {
        (Some(op @ (OPERATION_EXECUTE_TOOL | OPERATION_INVOKE_AGENT)), _) => format!("{op} {}", record.name),
        (Some(op @ (OPERATION_CHAT | OPERATION_EMBEDDINGS)), Some(model)) => format!("{op} {model}"),
        (Some(op @ (OPERATION_CHAT | OPERATION_EMBEDDINGS)), None) => op.to_owned(),
        _ => record.name.to_string(),
    }
}

/// The id of the tool call a tool span executes: its `tool_call_id` attribute, else the
/// `tool_call_id` of a message recorded on it.
fn tool_call_id(record: &SpanRecord) -> Option<&str> {
    record
        .attributes
        .get(TOOL_CALL_ID_ATTRIBUTE)
        .and_then(Value::as_str)
        .or_else(|| record.messages.iter().find_map(|m| m.tool_call_id.as_deref()))
}

/// The id of the agent an agent span runs, when the span's `gen_ai.agent.id` attribute
/// does not already send it: its `agent_id` attribute (a string as is, another value as
/// its JSON text).
fn agent_id(record: &SpanRecord) -> Option<String> {
    if record.attributes.contains_key(GEN_AI_AGENT_ID) {
        return None;
    }
    match record.attributes.get(AGENT_ID_ATTRIBUTE)? {
        Value::String(id) => Some(id.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// `gen_ai.request.model` and `gen_ai.provider.name`, with OpenInference's model and
/// provider, for the spans of a model call or an agent.
fn model_attributes(attributes: &mut Vec<KeyValue>, record: &SpanRecord) {
    if let Some(model) = &record.model {
        attributes.push(kv_str(GEN_AI_REQUEST_MODEL, model));
        attributes.push(kv_str(LLM_MODEL_NAME, model));
    }
    if let Some(provider) = &record.provider {
        attributes.push(kv_str(GEN_AI_PROVIDER_NAME, provider_name(provider)));
        attributes.push(kv_str(LLM_PROVIDER, provider));
    }
}

fn encode_span(record: &SpanRecord) -> Span {
    let mut attributes = vec![
        kv_str(OPENINFERENCE_SPAN_KIND, openinference_kind(&record.kind)),
        kv_str(MV37_KIND, record.kind.as_str()),
    ];
    scope_attributes(&mut attributes, record.scope.as_deref());
    langfuse::span_attributes(&mut attributes, record);
    let operation = operation(&record.kind);
    let name = span_name(record, operation);
    if name != record.name {
        attributes.push(kv_str(MV37_SPAN_NAME, record.name.as_ref()));
    }
    if let Some(operation) = operation {
        attributes.push(kv_str(GEN_AI_OPERATION_NAME, operation));
    }
    match operation {
        Some(OPERATION_CHAT | OPERATION_EMBEDDINGS) => model_attributes(&mut attributes, record),
        Some(OPERATION_INVOKE_AGENT) => {
            attributes.push(kv_str(GEN_AI_AGENT_NAME, record.name.as_ref()));
            if let Some(id) = agent_id(record) {
                attributes.push(kv_str(GEN_AI_AGENT_ID, id));
            }
            model_attributes(&mut attributes, record);
        }
        Some(OPERATION_EXECUTE_TOOL) => {
            attributes.push(kv_str(GEN_AI_TOOL_NAME, record.name.as_ref()));
            attributes.push(kv_str(GEN_AI_TOOL_TYPE, TOOL_TYPE_FUNCTION));
            attributes.push(kv_str(TOOL_NAME, record.name.as_ref()));
            if let Some(id) = tool_call_id(record).filter(|_| !record.attributes.contains_key(GEN_AI_TOOL_CALL_ID)) {
                attributes.push(kv_str(GEN_AI_TOOL_CALL_ID, id));
            }
            if let Some(input) = &record.input {
                attributes.push(kv_str(GEN_AI_TOOL_CALL_ARGUMENTS, input.as_json()));
                attributes.push(kv_str(TOOL_PARAMETERS, input.as_json()));
            }
            if let Some(output) = record.output.as_ref().filter(|_| record.status == Status::Ok) {
                attributes.push(kv_str(GEN_AI_TOOL_CALL_RESULT, output.as_json()));
            }
        }
        _ => {
            if let Some(model) = &record.model {
                attributes.push(kv_str(LLM_MODEL_NAME, model));
            }
        }
    }
    if let Some(ttft_ms) = record.attributes.get(MV37_TTFT_MS).and_then(Value::as_f64) {
        attributes.push(kv(
            GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
            any_value::Value::DoubleValue(ttft_ms / 1000.0),
        ));
    }
    if let Some(usage) = &record.usage {
        usage_attributes(&mut attributes, usage);
    }
    call_attributes(&mut attributes, record);
    let (events, status) = common_attributes(
        &mut attributes,
        Common {
            input: record.input.as_ref(),
            output: record.output.as_ref(),
            custom: &record.attributes,
            messages: &record.messages,
            events: &record.events,
            finish_reasons: record.response.as_ref().map_or(&[], |r| r.finish_reasons.as_slice()),
            status: record.status,
            error: record.error.as_ref(),
            end: record.end_time_unix_nano,
        },
    );
    SpanShape {
        trace_id: record.trace_id,
        span_id: record.span_id,
        parent: record.parent_span_id,
        name,
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

/// What a span records of a model call and a retrieval beyond usage: the request's
/// parameters and server, the response's fields, the documents retrieved.
fn call_attributes(attributes: &mut Vec<KeyValue>, record: &SpanRecord) {
    if let Some(request) = &record.request {
        request_attributes(attributes, request);
    }
    if let Some(response) = &record.response {
        response_attributes(attributes, response);
    }
    documents_attributes(attributes, &record.documents);
}

/// A message whose span had already ended: a zero-length child span carrying it.
fn encode_message(message: &MessageRecord) -> Span {
    let mut attributes = vec![kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"), kv_str(MV37_KIND, "message")];
    scope_attributes(&mut attributes, message.scope.as_deref());
    if message.is_internal {
        attributes.push(kv(MV37_IS_INTERNAL, any_value::Value::BoolValue(true)));
    }
    messages_to_span(&mut attributes, std::slice::from_ref(message), &[]);
    SpanShape {
        trace_id: message.trace_id,
        span_id: derived_span_id(message.trace_id, message.time_unix_nano, message.role.as_str()),
        parent: Some(message.span_id),
        name: format!("message {}", message.role.as_str()),
        kind: span::SpanKind::Internal,
        start: message.time_unix_nano,
        end: message.time_unix_nano,
        attributes,
        events: Vec::new(),
        status: None,
    }
    .build()
}

fn encode_feedback(feedback: &FeedbackRecord, event: span::Event) -> Span {
    let mut attributes = vec![
        kv_str(OPENINFERENCE_SPAN_KIND, "EVALUATOR"),
        kv_str(MV37_KIND, "feedback"),
        kv_str(MV37_FEEDBACK_NAME, &feedback.name),
        kv_json(MV37_FEEDBACK_VALUE, &feedback.value),
    ];
    if let Some(comment) = &feedback.comment {
        attributes.push(kv_str(MV37_FEEDBACK_COMMENT, comment));
    }
    scope_attributes(&mut attributes, feedback.scope.as_deref());
    SpanShape {
        trace_id: feedback.trace_id,
        span_id: derived_span_id(feedback.trace_id, feedback.time_unix_nano, &feedback.name),
        parent: Some(evaluation_parent(
            feedback.trace_id,
            feedback.span_id.or(feedback.root_span_id),
        )),
        name: format!("feedback {}", feedback.name),
        kind: span::SpanKind::Internal,
        start: feedback.time_unix_nano,
        end: feedback.time_unix_nano,
        attributes,
        events: vec![event],
        status: None,
    }
    .build()
}

fn encode_signal(signal: &SignalRecord, event: span::Event) -> Span {
    let mut attributes = vec![
        kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"),
        kv_str(MV37_KIND, "signal"),
        kv_str(MV37_SIGNAL_NAME, &signal.name),
        kv_json(MV37_SIGNAL_VALUE, &signal.value),
    ];
    scope_attributes(&mut attributes, signal.scope.as_deref());
    SpanShape {
        trace_id: signal.trace_id,
        span_id: derived_span_id(signal.trace_id, signal.time_unix_nano, &signal.name),
        parent: Some(evaluation_parent(signal.trace_id, signal.span_id)),
        name: format!("signal {}", signal.name),
        kind: span::SpanKind::Internal,
        start: signal.time_unix_nano,
        end: signal.time_unix_nano,
        attributes,
        events: vec![event],
        status: None,
    }
    .build()
}
