//! Runtime of [mv37](https://docs.rs/mv37): the data model, the current context, the
//! client and its background export pipeline.
//!
//! Users depend on the `mv37` crate, which re-exports everything here together with the
//! attribute macros; this crate is its engine.

// The layers, lowest first; a module uses only its own layer and those below it
// (`.ci/check-layers.py` checks this, docs/ARCHITECTURE.md draws it).
// Data:
mod clock;
mod ids;
mod in_place;
#[cfg(feature = "opentelemetry")]
mod otel;
mod payload;
mod progress;
mod record;
mod redact;
/// Trace assembly and tree drawing shared by the console exporter and the CLI; not a
/// public API.
#[doc(hidden)]
pub mod render;
mod stats;
mod usage;
// Exporters, and the pipeline that feeds them from a background thread:
mod export;
mod pipeline;
// Per-thread state: the context stack and the records a thread has gathered:
mod state;
// The API types:
mod builder;
mod context;
mod llm;
mod messages;
mod scope;
mod scoped;
mod span;
mod trace;
// Client and configuration:
mod client;
mod config;
// The runtime of instrumented functions (what the macros expand to):
mod instrument;
#[cfg(feature = "llm-http")]
pub mod integrations;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;

/// What the macros of `mv37-macros` expand to (reached as `mv37::__private`); not a
/// public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::instrument::*;
}

pub use builder::{DetachedSpan, SpanBuilder, SpanGuard};
pub use client::{
    client, current_span, current_trace, flush, init, span, trace, Client, ClientBuilder, DefaultGuard, InstallGuard,
};
pub use clock::unix_nanos_now;
pub use config::endpoint::otlp_traces_url;
pub use config::{
    Config, ConfigError, EntryProblem, ExporterKind, DEFAULT_JSONL_PATH, MAX_DURATION_SETTING, MIN_BATCH_INTERVAL,
};
pub use context::{Context, ContextGuard, FutureExt, WithContext};
#[cfg(feature = "transport")]
pub use export::FeedbackExporter;
#[cfg(feature = "ingest")]
pub use export::IngestExporter;
#[doc(hidden)]
#[cfg(feature = "otlp")]
pub use export::OtlpEncoder;
#[cfg(feature = "otlp")]
pub use export::OtlpExporter;
pub use export::{
    ApiKey, ConsoleExporter, ExportError, Exporter, FeedbackBackend, IngestConfig, JsonlExporter, MemoryExporter,
    NoopExporter, OtlpConfig, OtlpProtocol, ResourceInfo, RetryPolicy, DEFAULT_INGEST_ENDPOINT, DEFAULT_OTLP_ENDPOINT,
};
/// The OTLP encoder and the spool's segment API, for the `mv37` CLI, the tests and the
/// benches: not part of the documented API, and they may change in any release.
#[doc(hidden)]
pub use export::{ClaimedSegment, Evicted, Segment, SegmentContents, Spool};
pub use export::{DEFAULT_SEGMENT_BYTES, DEFAULT_SPOOL_MAX_BYTES};
pub use ids::{IdParseError, SpanId, TraceId, TraceParent};
pub use llm::call::{
    request_params_from_anthropic, request_params_from_openai, response_info_from_anthropic, response_info_from_openai,
};
pub use llm::chat::{
    messages_from_anthropic, messages_from_openai, record_anthropic_messages, record_messages, record_openai_messages,
    ChatMessage,
};
pub use llm::cost::{Price, PriceTable};
pub use llm::stream::{
    trace_stream, trace_try_stream, AnthropicAccumulator, OpenAiAccumulator, SseAccumulator, StreamAccumulator,
    TextAccumulator, TracedStream, MAX_SSE_EVENT_BYTES, STREAM_CHUNKS_ATTRIBUTE, TOKENS_PER_SECOND_ATTRIBUTE,
    TTFT_MS_ATTRIBUTE,
};
pub use messages::{FeedbackBuilder, MessageBuilder};
pub use payload::{Payload, DEPTH_LIMIT_KEY, MAX_DEPTH as MAX_PAYLOAD_DEPTH, SERIALIZATION_ERROR_KEY, TRUNCATED_KEY};
pub use pipeline::{FlushError, ShutdownError};
pub use record::{
    Attributes, Content, ContentPart, Document, DocumentRecord, ErrorInfo, EventRecord, FeedbackRecord, MessageRecord,
    Record, RecordParseError, RequestParams, ResponseInfo, Role, SignalRecord, SpanKind, SpanRecord, Status,
    TraceRecord, TraceScope, Usage, SCHEMA_VERSION,
};
pub use redact::REDACTION_ERROR_KEY;
pub use scope::{ScopeFuture, ScopeGuard};
pub use scoped::ScopedSpan;
/// The secret type of header values ([`OtlpConfig::headers`]) and the trait that reads it.
pub use secrecy::{ExposeSecret, SecretString};
pub use span::Span;
pub use stats::{DropReason, DroppedStats, Stats};
pub use trace::{Trace, TraceBuilder, TraceGuard};
pub use usage::{usage_from_anthropic, usage_from_openai};
