//! The OTLP encoder: records to spans, one span per record, with both the OpenTelemetry
//! GenAI and the OpenInference attributes (built in [`super::attributes`], every name in
//! [`super::names`]).
//!
//! Each record becomes a span's parts ([`SpanParts`]), borrowed from the record; the
//! parts are then written as protobuf straight away ([`super::wire`]), or turned into the
//! `opentelemetry-proto` types for OTLP/JSON and [`OtlpEncoder::request`]. Both take the
//! same parts, so both say the same.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans};
use prost::Message;
use serde_json::Value;

use super::attributes::{
    custom_attributes, documents_attributes, kv, kv_f64, kv_json, kv_str, openinference_kind, otlp_status,
    payload_attributes, provider_name, request_attributes, response_attributes, scope_attributes, usage_attributes,
    ScopeFields,
};
use super::config::OtlpProtocol;
use super::evaluation::{evaluation_event, evaluations, feedback_parts, signal_parts};
use super::langfuse;
use super::messages::messages_to_span;
use super::names::*;
use super::parts::{message_span_id, Attr, EventParts, SpanName, SpanParts, Val};
use super::wire;
use crate::export::resource::ResourceInfo;
use crate::payload::Payload;
use crate::record::{
    Attributes, ErrorInfo, EventRecord, MessageRecord, Record, SpanKind, SpanRecord, Status, TraceRecord,
};

/// Encodes records into OTLP spans; kept separate from the transport so it can be
/// benchmarked and tested alone.
#[derive(Clone)]
pub struct OtlpEncoder {
    resource: Resource,
    scope: InstrumentationScope,
    /// `resource` and `scope` as protobuf, written in front of every request's spans.
    resource_bytes: Vec<u8>,
    scope_bytes: Vec<u8>,
}

impl std::fmt::Debug for OtlpEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pre-encoded bytes say the same as `resource` and `scope`.
        f.debug_struct("OtlpEncoder")
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OtlpEncoder {
    /// An encoder stamping `resource` on every request.
    pub fn new(resource: &ResourceInfo) -> Self {
        // `OTEL_RESOURCE_ATTRIBUTES` first; the explicit settings (`OTEL_SERVICE_NAME`,
        // release, environment) override it, as the OpenTelemetry spec orders them.
        let mut attributes: Vec<KeyValue> = Vec::new();
        let mut set = |key: &str, value: &str| {
            attributes.retain(|kv| kv.key != key);
            attributes.push(kv_str(key, value).into_key_value());
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
        let resource = Resource {
            attributes,
            ..Resource::default()
        };
        let scope = InstrumentationScope {
            name: "mv37".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..InstrumentationScope::default()
        };
        Self {
            resource_bytes: resource.encode_to_vec(),
            scope_bytes: scope.encode_to_vec(),
            resource,
            scope,
        }
    }

    /// The OTLP request for a batch of records.
    pub fn request(&self, records: &[Record]) -> ExportTraceServiceRequest {
        let mut spans = Vec::with_capacity(records.len());
        for_each_span(records, |parts| spans.push(parts.take_span()));
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
        match protocol {
            OtlpProtocol::Protobuf => {
                let mut body = Vec::new();
                let start = self.encode_protobuf_into(records, &mut body);
                body.drain(..start);
                Ok(body)
            }
            OtlpProtocol::Json => serde_json::to_vec(&self.request(records)),
        }
    }

    /// The room left in front of the spans for the request's envelope: the resource, the
    /// scope, and the keys and lengths of the messages that hold them.
    fn envelope_room(&self) -> usize {
        // Two keys and two lengths of at most 10 bytes each, around the resource and scope.
        wire::field_len(self.resource_bytes.len()) + wire::field_len(self.scope_bytes.len()) + 2 * 11
    }

    /// Writes the protobuf request for `records` into `out` (cleared first, its capacity
    /// kept) and returns where in it the request starts: the spans are written after room
    /// left for the envelope, whose size is known only once they are, and the envelope is
    /// then written just in front of them, so nothing is copied.
    pub(super) fn encode_protobuf_into(&self, records: &[Record], out: &mut Vec<u8>) -> usize {
        let room = self.envelope_room();
        out.clear();
        out.resize(room, 0);
        for_each_span(records, |parts| wire::write_span(out, parts));
        let spans = out.len() - room;
        // ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource,
        // scope_spans: [ScopeSpans { scope, spans }] }] }
        let scope_spans = wire::field_len(self.scope_bytes.len()) + spans;
        let resource_spans = wire::field_len(self.resource_bytes.len()) + wire::field_len(scope_spans);
        let mut envelope = Vec::with_capacity(room);
        wire::write_field_header(&mut envelope, 1, resource_spans);
        wire::write_bytes_field(&mut envelope, 1, &self.resource_bytes);
        wire::write_field_header(&mut envelope, 2, scope_spans);
        wire::write_bytes_field(&mut envelope, 1, &self.scope_bytes);
        let start = room - envelope.len();
        out[start..room].copy_from_slice(&envelope);
        start
    }
}

/// The batch's spans, in order, each handed to `emit` (the same parts, refilled). Feedback
/// and signals become `gen_ai.evaluation.result` events on the span they are about when
/// that span is in the batch (feedback made while the trace was open), else zero-length
/// child spans of it, after the others: never spans without a parent, which backends
/// would take for the trace's root.
fn for_each_span<'a>(records: &'a [Record], mut emit: impl FnMut(&mut SpanParts<'a>)) {
    let evaluations = if records
        .iter()
        .any(|record| matches!(record, Record::Feedback(_) | Record::Signal(_)))
    {
        evaluations(records)
    } else {
        Vec::new()
    };
    let mut parts = SpanParts::new();
    for (index, record) in records.iter().enumerate() {
        match record {
            Record::Trace(trace) => trace_parts(&mut parts, trace),
            Record::Span(span) => span_parts(&mut parts, span),
            Record::Message(message) => message_parts(&mut parts, message),
            Record::Feedback(_) | Record::Signal(_) => continue,
        }
        for evaluation in evaluations.iter().filter(|e| e.target == Some(index)) {
            parts.events.extend(evaluation_event(evaluation.record));
        }
        emit(&mut parts);
    }
    for evaluation in evaluations.iter().filter(|e| e.target.is_none()) {
        let Some(event) = evaluation_event(evaluation.record) else {
            continue;
        };
        match evaluation.record {
            Record::Feedback(feedback) => feedback_parts(&mut parts, feedback, event),
            Record::Signal(signal) => signal_parts(&mut parts, signal, event),
            _ => continue,
        }
        emit(&mut parts);
    }
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

/// Input, output, custom attributes, messages, events and status (an exception event
/// when the trace or span failed), the same for traces and spans.
fn common_attributes<'a>(parts: &mut SpanParts<'a>, common: Common<'a>) {
    let attributes = &mut parts.attributes;
    if let Some(input) = common.input {
        payload_attributes(attributes, INPUT, input);
    }
    if let Some(output) = common.output {
        payload_attributes(attributes, OUTPUT, output);
    }
    custom_attributes(attributes, common.custom);
    messages_to_span(attributes, common.messages, common.finish_reasons);
    parts.events.extend(common.events.iter().map(|event| {
        EventParts {
            time: event.time_unix_nano,
            name: Cow::Borrowed(&event.name),
            attributes: event
                .attributes
                .iter()
                .map(|(key, value)| kv_json(key.as_str(), value))
                .collect(),
        }
    }));
    parts.status = otlp_status(
        common.status,
        common.error,
        &mut parts.attributes,
        &mut parts.events,
        common.end,
    );
}

fn trace_parts<'a>(parts: &mut SpanParts<'a>, trace: &'a TraceRecord) {
    parts.reset(
        trace.trace_id,
        trace.span_id,
        trace.parent_span_id,
        SpanName::Own(Cow::Borrowed(&trace.name)),
        if trace.parent_span_id.is_some() {
            span::SpanKind::Server
        } else {
            span::SpanKind::Internal
        },
        trace.start_time_unix_nano,
        trace.end_time_unix_nano,
    );
    let attributes = &mut parts.attributes;
    attributes.push(kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"));
    attributes.push(kv_str(MV37_KIND, "trace"));
    scope_attributes(attributes, Some(ScopeFields::of_trace(trace)));
    langfuse::trace_attributes(attributes, trace);
    common_attributes(
        parts,
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
}

/// The GenAI operation a span kind performs, when the conventions define one.
fn operation(kind: &SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Llm => Some(OPERATION_CHAT),
        SpanKind::Tool => Some(OPERATION_EXECUTE_TOOL),
        SpanKind::Retrieval => Some(OPERATION_RETRIEVAL),
        SpanKind::Agent => Some(OPERATION_INVOKE_AGENT),
        SpanKind::Custom(name) if name.eq_ignore_ascii_case("embedding") || name.eq_ignore_ascii_case("embeddings") => {
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
fn span_name<'a>(record: &'a SpanRecord, operation: Option<&'static str>) -> SpanName<'a> {
    match (operation, &record.model) {
        (Some(op @ (OPERATION_EXECUTE_TOOL | OPERATION_INVOKE_AGENT)), _) => SpanName::Joined(op, &record.name),
        (Some(op @ (OPERATION_CHAT | OPERATION_EMBEDDINGS)), Some(model)) => SpanName::Joined(op, model),
        (Some(op @ (OPERATION_CHAT | OPERATION_EMBEDDINGS)), None) => SpanName::Own(Cow::Borrowed(op)),
        _ => SpanName::Own(Cow::Borrowed(&record.name)),
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
fn agent_id(record: &SpanRecord) -> Option<Cow<'_, str>> {
    if record.attributes.contains_key(GEN_AI_AGENT_ID) {
        return None;
    }
    match record.attributes.get(AGENT_ID_ATTRIBUTE)? {
        Value::String(id) => Some(Cow::Borrowed(id)),
        Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// `gen_ai.request.model` and `gen_ai.provider.name`, with OpenInference's model and
/// provider, for the spans of a model call or an agent.
fn model_attributes<'a>(attributes: &mut Vec<Attr<'a>>, record: &'a SpanRecord) {
    if let Some(model) = &record.model {
        attributes.push(kv_str(GEN_AI_REQUEST_MODEL, model));
        attributes.push(kv_str(LLM_MODEL_NAME, model));
    }
    if let Some(provider) = &record.provider {
        attributes.push(kv_str(GEN_AI_PROVIDER_NAME, provider_name(provider)));
        attributes.push(kv_str(LLM_PROVIDER, provider));
    }
}

fn span_parts<'a>(parts: &mut SpanParts<'a>, record: &'a SpanRecord) {
    let operation = operation(&record.kind);
    let name = span_name(record, operation);
    let renamed = !name.is(&record.name);
    parts.reset(
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        name,
        if record.kind == SpanKind::Llm {
            span::SpanKind::Client
        } else {
            span::SpanKind::Internal
        },
        record.start_time_unix_nano,
        record.end_time_unix_nano,
    );
    let attributes = &mut parts.attributes;
    attributes.push(kv_str(OPENINFERENCE_SPAN_KIND, openinference_kind(&record.kind)));
    attributes.push(kv_str(MV37_KIND, record.kind.as_str()));
    scope_attributes(attributes, record.scope.as_deref().map(ScopeFields::of_scope));
    langfuse::span_attributes(attributes, record);
    if renamed {
        attributes.push(kv_str(MV37_SPAN_NAME, record.name.as_ref()));
    }
    if let Some(operation) = operation {
        attributes.push(kv_str(GEN_AI_OPERATION_NAME, operation));
    }
    match operation {
        Some(OPERATION_CHAT | OPERATION_EMBEDDINGS) => model_attributes(attributes, record),
        Some(OPERATION_INVOKE_AGENT) => {
            attributes.push(kv_str(GEN_AI_AGENT_NAME, record.name.as_ref()));
            if let Some(id) = agent_id(record) {
                attributes.push(kv_str(GEN_AI_AGENT_ID, id));
            }
            model_attributes(attributes, record);
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
        attributes.push(kv_f64(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttft_ms / 1000.0));
    }
    if let Some(usage) = &record.usage {
        usage_attributes(attributes, usage);
    }
    call_attributes(attributes, record);
    common_attributes(
        parts,
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
}

/// What a span records of a model call and a retrieval beyond usage: the request's
/// parameters and server, the response's fields, the documents retrieved.
fn call_attributes<'a>(attributes: &mut Vec<Attr<'a>>, record: &'a SpanRecord) {
    if let Some(request) = &record.request {
        request_attributes(attributes, request);
    }
    if let Some(response) = &record.response {
        response_attributes(attributes, response);
    }
    documents_attributes(attributes, &record.documents);
}

/// A message whose span had already ended: a zero-length child span carrying it.
fn message_parts<'a>(parts: &mut SpanParts<'a>, message: &'a MessageRecord) {
    parts.reset(
        message.trace_id,
        message_span_id(message),
        Some(message.span_id),
        SpanName::Joined("message", message.role.as_str()),
        span::SpanKind::Internal,
        message.time_unix_nano,
        message.time_unix_nano,
    );
    let attributes = &mut parts.attributes;
    attributes.push(kv_str(OPENINFERENCE_SPAN_KIND, "CHAIN"));
    attributes.push(kv_str(MV37_KIND, "message"));
    scope_attributes(attributes, message.scope.as_deref().map(ScopeFields::of_scope));
    if message.is_internal {
        attributes.push(kv(MV37_IS_INTERNAL, Val::Bool(true)));
    }
    messages_to_span(attributes, std::slice::from_ref(message), &[]);
}
