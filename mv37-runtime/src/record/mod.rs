//! The data model: the records a trace produces, and their versioned JSON form.
//!
//! Every record is one JSON object with `"v": 1` (the schema version) and a `"type"` tag
//! (`trace`, `span`, `message`, `feedback`, `signal`). The full form is documented in
//! `docs/RECORDS.md`; readers must ignore fields they do not know. What a message holds
//! ([`Role`], [`Content`], [`ContentPart`]) is in `content.rs`; a model call's request
//! parameters and response fields, and a retrieval's documents, are in `call.rs`.
//! The records stay in one file (about 610 lines, then the tests): they share
//! [`TraceScope`] and its JSON form as `context`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

mod call;
mod content;

pub use self::call::{Document, DocumentRecord, RequestParams, ResponseInfo};
pub use self::content::{Content, ContentPart, Role};

use crate::ids::{SpanId, TraceId};
use crate::payload::Payload;

/// The version of the JSON record schema this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Free-form key/value metadata.
pub type Attributes = Map<String, Value>;

/// One finished unit of telemetry, as handed to exporters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// A whole trace, emitted when it ends.
    Trace(TraceRecord),
    /// A span, emitted when it ends.
    Span(SpanRecord),
    /// A conversation message.
    Message(MessageRecord),
    /// Feedback on a trace (or one of its spans).
    Feedback(FeedbackRecord),
    /// A named signal attached to a trace.
    Signal(SignalRecord),
}

impl Record {
    /// The trace this record belongs to.
    pub fn trace_id(&self) -> TraceId {
        match self {
            Record::Trace(r) => r.trace_id,
            Record::Span(r) => r.trace_id,
            Record::Message(r) => r.trace_id,
            Record::Feedback(r) => r.trace_id,
            Record::Signal(r) => r.trace_id,
        }
    }

    /// The record's JSON form on one line, with the schema version: what `jsonl` writes.
    pub fn to_json_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&VersionedRecord {
            v: SCHEMA_VERSION,
            record: self,
        })
    }

    /// Parses one JSON line; a record of a newer schema version than this crate knows is
    /// an error naming both versions.
    pub fn from_json_line(line: &str) -> Result<Self, RecordParseError> {
        // The version first, the record then straight from the text (not through a
        // `Value`, which would put the keys of its payloads in another order).
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            v: Option<Value>,
        }
        let version: Version = serde_json::from_str(line).map_err(RecordParseError::Json)?;
        let version = version.v.as_ref().and_then(Value::as_u64).unwrap_or(0);
        if version > u64::from(SCHEMA_VERSION) {
            return Err(RecordParseError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        serde_json::from_str(line).map_err(RecordParseError::Json)
    }

    /// A rough size in bytes, used to bound the queue's memory.
    pub(crate) fn approx_bytes(&self) -> usize {
        const BASE: usize = RECORD_BASE_BYTES;
        let payloads = |input: &Option<Payload>, output: &Option<Payload>| {
            input.as_ref().map_or(0, Payload::len) + output.as_ref().map_or(0, Payload::len)
        };
        BASE + match self {
            Record::Trace(r) => {
                payloads(&r.input, &r.output) + r.name.len() + messages_bytes(&r.messages) + events_bytes(&r.events)
            }
            Record::Span(r) => {
                payloads(&r.input, &r.output)
                    + r.name.len()
                    + messages_bytes(&r.messages)
                    + documents_bytes(&r.documents)
                    + events_bytes(&r.events)
            }
            Record::Message(r) => r.content.approx_bytes(),
            Record::Feedback(r) => r.comment.as_ref().map_or(0, String::len) + 32,
            Record::Signal(r) => r.name.len() + 32,
        }
    }
}

/// What any record is counted as weighing in the queue, before its variable parts.
pub(crate) const RECORD_BASE_BYTES: usize = std::mem::size_of::<Record>() + 64;

pub(crate) fn messages_bytes(messages: &[MessageRecord]) -> usize {
    messages.iter().map(|m| 128 + m.content.approx_bytes()).sum()
}

pub(crate) fn events_bytes(events: &[EventRecord]) -> usize {
    events.iter().map(|e| 32 + e.name.len() + e.attributes.len() * 64).sum()
}

pub(crate) fn documents_bytes(documents: &[DocumentRecord]) -> usize {
    documents.iter().map(DocumentRecord::approx_bytes).sum()
}

#[derive(Serialize)]
struct VersionedRecord<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a Record,
}

/// Why a JSON line is not a record this crate can read.
#[derive(Debug, thiserror::Error)]
pub enum RecordParseError {
    /// The line is not valid JSON or not a known record shape.
    #[error("not a valid mv37 record: {0}")]
    Json(#[source] serde_json::Error),
    /// The record was written by a newer schema.
    #[error("record has schema version {found}, but this build reads up to version {supported}")]
    NewerSchema {
        /// The version in the record.
        found: u64,
        /// The newest version this build understands.
        supported: u32,
    },
}

/// The trace-level fields every record of a trace shares, held once per trace and
/// referenced by each record (so exporters such as OTLP can put `user.id` or
/// `session.id` on every span). In JSON only its `context` is written, as `context`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceScope {
    /// The trace's name.
    pub name: Cow<'static, str>,
    /// The end user.
    pub user_id: Option<String>,
    /// The session.
    pub session_id: Option<String>,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// The caller's own id.
    pub external_trace_id: Option<String>,
    /// Fields merged onto every record of the trace.
    pub context: Option<Arc<Attributes>>,
}

impl TraceScope {
    /// The trace-level fields of a finished trace, as its records share them (to put
    /// them back on records read from JSON, where only `context` is written).
    pub fn of_trace(trace: &TraceRecord) -> Self {
        Self {
            name: trace.name.clone(),
            user_id: trace.user_id.clone(),
            session_id: trace.session_id.clone(),
            conversation_id: trace.conversation_id.clone(),
            external_trace_id: trace.external_trace_id.clone(),
            context: trace.context.clone(),
        }
    }
}

/// Serializes a record's scope as its `context` object.
mod scope_as_context {
    use super::*;

    pub(super) fn is_empty(scope: &Option<Arc<TraceScope>>) -> bool {
        scope.as_ref().is_none_or(|scope| scope.context.is_none())
    }

    pub(super) fn serialize<S: Serializer>(scope: &Option<Arc<TraceScope>>, serializer: S) -> Result<S::Ok, S::Error> {
        scope
            .as_ref()
            .and_then(|scope| scope.context.as_deref())
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Arc<TraceScope>>, D::Error> {
        let context = Option::<Attributes>::deserialize(deserializer)?;
        Ok(context.map(|context| {
            Arc::new(TraceScope {
                context: Some(Arc::new(context)),
                ..TraceScope::default()
            })
        }))
    }
}

/// What a span represents. The six conventional kinds plus any custom string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A model call.
    Llm,
    /// A tool invocation.
    Tool,
    /// A multi-step unit of work.
    Task,
    /// A retrieval / RAG step.
    Retrieval,
    /// An agent run: a model deciding, over several steps, which tools and models to
    /// call (the GenAI conventions' `invoke_agent`).
    Agent,
    /// A generic span.
    Span,
    /// Any other step type.
    Custom(Cow<'static, str>),
}

impl SpanKind {
    /// The kind's name as written in records.
    pub fn as_str(&self) -> &str {
        match self {
            SpanKind::Llm => "llm",
            SpanKind::Tool => "tool",
            SpanKind::Task => "task",
            SpanKind::Retrieval => "retrieval",
            SpanKind::Agent => "agent",
            SpanKind::Span => "span",
            SpanKind::Custom(name) => name,
        }
    }

    fn from_cow(name: Cow<'static, str>) -> Self {
        match &*name {
            "llm" => SpanKind::Llm,
            "tool" => SpanKind::Tool,
            "task" => SpanKind::Task,
            "retrieval" => SpanKind::Retrieval,
            "agent" => SpanKind::Agent,
            "span" => SpanKind::Span,
            _ => SpanKind::Custom(name),
        }
    }
}

impl From<&'static str> for SpanKind {
    fn from(name: &'static str) -> Self {
        Self::from_cow(Cow::Borrowed(name))
    }
}

impl From<String> for SpanKind {
    fn from(name: String) -> Self {
        Self::from_cow(Cow::Owned(name))
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SpanKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SpanKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SpanKind::from)
    }
}

/// How a span or trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Completed normally.
    #[default]
    Ok,
    /// Failed: returned `Err`, panicked, or was marked failed.
    Error,
    /// Dropped before it completed (an async span whose future was dropped).
    Cancelled,
}

impl Status {
    /// Whether a scope ending with `self` replaces the status it had: an explicit `fail`
    /// wins over a normal end; a failure or cancellation at the end wins over that.
    pub(crate) fn overrides(self, current: Status) -> bool {
        self != Status::Ok || current == Status::Ok
    }

    /// The status as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Cancelled => "cancelled",
        }
    }
}

/// Why a span failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error's `Display` text, or the panic message.
    pub message: String,
    /// The error's type name (for example `std::io::Error`, or `panic`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// Token usage and cost of a model call. Every field is optional: set what the
/// provider reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, all of them: uncached, read from the provider's cache
    /// ([`cached_tokens`](Self::cached_tokens)) and written to it
    /// ([`cache_write_tokens`](Self::cache_write_tokens)), as the OpenTelemetry GenAI
    /// conventions count `gen_ai.usage.input_tokens`. OpenAI reports it so
    /// (`input_tokens` / `prompt_tokens` include `cached_tokens`; it reports no cache
    /// writes); Anthropic reports the three apart, and
    /// [`usage_from_anthropic`](crate::usage_from_anthropic) adds them up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache (a part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache (a part of `input_tokens`):
    /// Anthropic's `cache_creation_input_tokens`, billed above the plain input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Reasoning / thinking tokens (a part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Total tokens; derived as input + output when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// Cost of the call in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Size of the model's context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window_tokens: Option<u64>,
    /// How much of the context window was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_used_tokens: Option<u64>,
}

impl Usage {
    /// This usage with `total_tokens` derived from input + output when it is absent.
    pub fn with_derived_total(mut self) -> Self {
        if self.total_tokens.is_none() && (self.input_tokens.is_some() || self.output_tokens.is_some()) {
            self.total_tokens = Some(
                self.input_tokens
                    .unwrap_or(0)
                    .saturating_add(self.output_tokens.unwrap_or(0)),
            );
        }
        self
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// A finished span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The enclosing span, or the trace's root span id for a top-level span.
    pub parent_span_id: Option<SpanId>,
    /// What the span represents.
    pub kind: SpanKind,
    /// The span's name (defaults to the kind).
    pub name: Cow<'static, str>,
    /// Start, in Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, in Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Duration measured on the monotonic clock, in nanoseconds.
    pub latency_ns: u64,
    /// How the span ended.
    pub status: Status,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Model name, for llm spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model provider, for llm spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Token usage and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The model request's parameters and server, for llm spans (boxed: most spans have
    /// none, and records are moved in batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Box<RequestParams>>,
    /// The model response's id, model and finish reasons, for llm spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Box<ResponseInfo>>,
    /// The recorded input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Payload>,
    /// The recorded output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Payload>,
    /// The documents a retrieval returned, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<DocumentRecord>,
    /// Span attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Attributes,
    /// Messages recorded while the span was open, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageRecord>,
    /// Events recorded while the span was open, in order (log lines from `tracing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRecord>,
    /// The trace-level fields (in JSON: the trace's `context`, merged onto every record).
    #[serde(
        rename = "context",
        default,
        skip_serializing_if = "scope_as_context::is_empty",
        with = "scope_as_context"
    )]
    pub scope: Option<Arc<TraceScope>>,
}

/// A finished trace: its identity, who it was for, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// The trace id.
    pub trace_id: TraceId,
    /// The id of the trace's root span; top-level spans name it as their parent.
    pub span_id: SpanId,
    /// The remote parent span, when the trace continues one from another service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// Trace name, usually the agent or workflow.
    pub name: Cow<'static, str>,
    /// The end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Groups several traces into one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Ties the turns of a multi-turn conversation together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// An id from the user's own system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_trace_id: Option<String>,
    /// Start, in Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, in Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Duration on the monotonic clock, in nanoseconds.
    pub latency_ns: u64,
    /// How the trace ended.
    pub status: Status,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The trace's input (for example the arguments of a `#[trace]` fn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Payload>,
    /// The trace's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Payload>,
    /// Arbitrary metadata about the trace.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Attributes,
    /// Messages recorded in the trace outside any span, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageRecord>,
    /// Events recorded on the trace's root span, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRecord>,
    /// Fields merged onto every record of the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Arc<Attributes>>,
    /// The deployment environment (`MV37_ENVIRONMENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Arc<str>>,
    /// The release or version of the program (`MV37_RELEASE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Arc<str>>,
    /// The service that produced the trace (`OTEL_SERVICE_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<Arc<str>>,
}

/// A message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The trace the message belongs to.
    pub trace_id: TraceId,
    /// The span that was open when the message was recorded (or the trace's root span).
    pub span_id: SpanId,
    /// When it was recorded, in Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: Content,
    /// The tool call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A message the end user never sees (scratchpad, reflection).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_internal: bool,
    /// The trace-level fields (in JSON: the trace's `context`, merged onto every record).
    #[serde(
        rename = "context",
        default,
        skip_serializing_if = "scope_as_context::is_empty",
        with = "scope_as_context"
    )]
    pub scope: Option<Arc<TraceScope>>,
}

/// Something that happened at a point in a span's life: a log line (a `tracing` event)
/// or an event the program added with `add_event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When it happened, in Unix nanoseconds.
    pub time_unix_nano: u64,
    /// What happened (a log line's message).
    pub name: String,
    /// Its fields (for a `tracing` event also `level` and `target`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Attributes,
}

/// Feedback on a trace, recorded during the trace or attached later by trace id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// The trace the feedback is about.
    pub trace_id: TraceId,
    /// The span it is about, if any (`None`: the whole trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
    /// The trace's root span, where feedback about the whole trace is attached when it
    /// is exported as a span event. Filled in by mv37: by the trace for feedback made
    /// while it is open, and on the exporter thread for later feedback on a trace this
    /// client recorded recently (`None` for a trace it does not remember).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_span_id: Option<SpanId>,
    /// When it was recorded, in Unix nanoseconds.
    pub time_unix_nano: u64,
    /// What is being rated (`helpfulness`, `thumbs`).
    pub name: String,
    /// The score or value: a number, a boolean, a label.
    pub value: Value,
    /// Free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The trace-level fields (in JSON: the trace's `context`, merged onto every record).
    #[serde(
        rename = "context",
        default,
        skip_serializing_if = "scope_as_context::is_empty",
        with = "scope_as_context"
    )]
    pub scope: Option<Arc<TraceScope>>,
}

/// A named signal attached to a trace (an implicit metric such as `retry` or `escalated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRecord {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// The span that was open, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
    /// When it was recorded, in Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The signal's name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// The trace-level fields (in JSON: the trace's `context`, merged onto every record).
    #[serde(
        rename = "context",
        default,
        skip_serializing_if = "scope_as_context::is_empty",
        with = "scope_as_context"
    )]
    pub scope: Option<Arc<TraceScope>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed retrieval span with an input and usage.
    fn search_span() -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: Some(SpanId::random()),
            kind: SpanKind::from("retrieval"),
            name: Cow::Borrowed("search_docs"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            latency_ns: 1,
            status: Status::Error,
            error: Some(ErrorInfo {
                message: "boom".into(),
                error_type: Some("io".into()),
            }),
            model: None,
            provider: None,
            usage: Some(Usage {
                input_tokens: Some(3),
                ..Usage::default()
            }),
            request: None,
            response: None,
            input: Some(Payload::capture(&serde_json::json!({"q": 1}), 100)),
            output: None,
            documents: Vec::new(),
            attributes: Map::new(),
            messages: Vec::new(),
            events: Vec::new(),
            scope: None,
        }
    }

    #[test]
    fn a_span_record_round_trips_through_its_json_line() {
        let record = Record::Span(search_span());
        let line = record.to_json_line().expect("serializes");
        assert!(line.starts_with(r#"{"v":1,"type":"span""#), "{line}");
        assert_eq!(Record::from_json_line(&line).expect("parses"), record);
    }

    #[test]
    fn request_parameters_response_fields_and_documents_round_trip_through_a_json_line() {
        let record = Record::Span(SpanRecord {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: Some(SpanId::random()),
            kind: SpanKind::Llm,
            name: Cow::Borrowed("chat"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            latency_ns: 1,
            status: Status::Ok,
            error: None,
            model: Some("gpt-4.1-mini".into()),
            provider: None,
            usage: None,
            request: Some(Box::new(
                RequestParams {
                    temperature: Some(0.2),
                    max_tokens: Some(512),
                    top_p: Some(0.9),
                    top_k: Some(40.0),
                    stop_sequences: vec!["END".into()],
                    seed: Some(-7),
                    frequency_penalty: Some(0.1),
                    presence_penalty: Some(0.0),
                    ..RequestParams::default()
                }
                .server_url("http://localhost:11434/v1"),
            )),
            response: Some(Box::new(ResponseInfo {
                id: Some("chatcmpl-1".into()),
                model: Some("gpt-4.1-mini-2025-04-14".into()),
                finish_reasons: vec!["stop".into(), "length".into()],
            })),
            input: None,
            output: None,
            documents: vec![
                DocumentRecord::capture(
                    &Document::new("Refunds within 30 days.")
                        .id("kb-12")
                        .score(0.92)
                        .metadata("page", 3),
                    1000,
                ),
                DocumentRecord::capture(&Document::new("y".repeat(500)), 200),
            ],
            attributes: Map::new(),
            messages: Vec::new(),
            events: Vec::new(),
            scope: None,
        });
        let line = record.to_json_line().expect("serializes");
        assert!(
            line.contains(r#""request":{"temperature":0.2,"max_tokens":512"#),
            "{line}"
        );
        assert!(
            line.contains(r#""server_address":"localhost","server_port":11434"#),
            "{line}"
        );
        assert!(line.contains(r#""finish_reasons":["stop","length"]"#), "{line}");
        assert!(
            line.contains(r#""documents":[{"id":"kb-12","content":"Refunds within 30 days.","score":0.92"#),
            "{line}"
        );
        assert!(line.contains(r#"{"content":{"mv37.truncated":true"#), "{line}");
        assert_eq!(Record::from_json_line(&line).expect("parses"), record);
    }

    #[test]
    fn a_payload_read_back_keeps_its_keys_in_their_order() {
        #[derive(Serialize)]
        struct Args {
            zone: &'static str,
            after: Inner,
            amount: f64,
        }
        #[derive(Serialize)]
        struct Inner {
            y: u32,
            b: Vec<u8>,
        }
        let args = Args {
            zone: "eu",
            after: Inner { y: 2, b: vec![1] },
            amount: 1.5,
        };
        let input = Payload::capture(&args, 1000);
        let written = r#"{"zone":"eu","after":{"y":2,"b":[1]},"amount":1.5}"#;
        assert_eq!(input.as_json(), written);
        let record = Record::Span(SpanRecord {
            input: Some(input),
            ..search_span()
        });
        let line = record.to_json_line().expect("serializes");
        let read = Record::from_json_line(&line).expect("parses");
        let input = match &read {
            Record::Span(span) => span.input.as_ref().map(Payload::as_json),
            _ => None,
        };
        // Not sorted (`{"after":..,"amount":..,"zone":..}`), whatever serde_json's
        // features in this build.
        assert_eq!(input, Some(written), "{line}");
        let payload: Payload = serde_json::from_str(r#"{"b": 1, "a": [{"d": 2, "c": null}]}"#).expect("json");
        assert_eq!(payload.as_json(), r#"{"b":1,"a":[{"d":2,"c":null}]}"#);
    }

    #[test]
    fn a_newer_schema_version_is_a_clear_error() {
        let error = Record::from_json_line(r#"{"v":9,"type":"signal"}"#).expect_err("newer");
        assert_eq!(
            error.to_string(),
            "record has schema version 9, but this build reads up to version 1"
        );
    }

    #[test]
    fn custom_roles_and_kinds_survive_a_round_trip() {
        let role: Role = serde_json::from_str(r#""critic""#).expect("role");
        assert_eq!(role, Role::Other("critic".into()));
        let kind: SpanKind = serde_json::from_str(r#""guardrail""#).expect("kind");
        assert_eq!(kind.as_str(), "guardrail");
        assert_eq!(serde_json::to_string(&Role::Assistant).expect("ser"), r#""assistant""#);
    }

    #[test]
    fn total_tokens_is_derived_only_when_absent() {
        let derived = Usage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Usage::default()
        }
        .with_derived_total();
        assert_eq!(derived.total_tokens, Some(15));
        let given = Usage {
            input_tokens: Some(10),
            total_tokens: Some(99),
            ..Usage::default()
        }
        .with_derived_total();
        assert_eq!(given.total_tokens, Some(99));
        assert_eq!(Usage::default().with_derived_total().total_tokens, None);
    }

    #[test]
    fn usage_written_before_cache_writes_existed_still_parses_and_none_is_not_written() {
        let usage: Usage = serde_json::from_str(r#"{"input_tokens":20,"cached_tokens":5}"#).expect("old usage");
        assert_eq!(usage.cache_write_tokens, None);
        assert_eq!(
            serde_json::to_string(&usage).expect("ser"),
            r#"{"input_tokens":20,"cached_tokens":5}"#
        );
        let written: Usage = serde_json::from_str(r#"{"cache_write_tokens":7}"#).expect("new usage");
        assert_eq!(written.cache_write_tokens, Some(7));
    }
}
