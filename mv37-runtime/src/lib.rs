//! Runtime of [mv37](https://docs.rs/mv37): the data model, the current context, the
//! client and its background export pipeline.
//!
//! Users depend on the `mv37` crate, which re-exports everything here together with the
//! attribute macros; this crate is its engine.

mod client;
mod clock;
mod config;
mod context;
mod events;
mod export;
mod ids;
mod llm;
#[doc(hidden)]
pub mod macro_support;
mod open;
mod payload;
mod record;
mod redact;
#[doc(hidden)]
pub mod render;
mod scoped;
mod span;
mod stats;
mod trace;
mod usage;

use std::borrow::Cow;

pub use client::{client, Client, ClientBuilder, DefaultGuard, InstallGuard};
pub use clock::unix_nanos_now;
pub use config::{
    Config, ConfigError, EntryProblem, ExporterKind, DEFAULT_JSONL_PATH, MAX_DURATION_SETTING, MIN_BATCH_INTERVAL,
};
pub use context::{Context, ContextGuard, FutureExt, ScopeFuture, ScopeGuard, WithContext};
pub use events::{FeedbackBuilder, MessageBuilder};
pub use export::pipeline::{FlushError, ShutdownError};
pub use export::{
    ApiKey, ConsoleExporter, ExportError, Exporter, IngestConfig, IngestExporter, JsonlExporter, MemoryExporter,
    NoopExporter, OtlpConfig, OtlpEncoder, OtlpExporter, OtlpProtocol, ResourceInfo, RetryPolicy,
    DEFAULT_INGEST_ENDPOINT, DEFAULT_OTLP_ENDPOINT,
};
pub use export::{
    ClaimedSegment, Evicted, Segment, SegmentContents, Spool, DEFAULT_SEGMENT_BYTES, DEFAULT_SPOOL_MAX_BYTES,
};
pub use ids::{IdParseError, SpanId, TraceId, TraceParent};
pub use llm::chat::{
    messages_from_anthropic, messages_from_openai, record_anthropic_messages, record_messages, record_openai_messages,
    ChatMessage,
};
pub use llm::cost::{Price, PriceTable};
pub use llm::stream::{
    trace_stream, trace_try_stream, AnthropicAccumulator, OpenAiAccumulator, StreamAccumulator, TextAccumulator,
    TracedStream, STREAM_CHUNKS_ATTRIBUTE, TOKENS_PER_SECOND_ATTRIBUTE, TTFT_MS_ATTRIBUTE,
};
pub use payload::{Payload, DEPTH_LIMIT_KEY, MAX_DEPTH as MAX_PAYLOAD_DEPTH, SERIALIZATION_ERROR_KEY, TRUNCATED_KEY};
pub use record::{
    Attributes, Content, ContentPart, ErrorInfo, FeedbackRecord, MessageRecord, Record, RecordParseError, Role,
    SignalRecord, SpanKind, SpanRecord, Status, TraceRecord, TraceScope, Usage, SCHEMA_VERSION,
};
pub use redact::REDACTION_ERROR_KEY;
pub use scoped::ScopedSpan;
/// The secret type of header values ([`OtlpConfig::headers`]) and the trait that reads it.
pub use secrecy::{ExposeSecret, SecretString};
pub use span::{DetachedSpan, Span, SpanBuilder, SpanGuard};
pub use stats::{DropReason, DroppedStats, Stats};
pub use trace::{Trace, TraceBuilder, TraceGuard};
pub use usage::{usage_from_anthropic, usage_from_openai};

/// Configures a client from the environment (`MV37_*`, `OTEL_SERVICE_NAME`) and installs
/// it for the whole process. Keep the guard alive in `main`: dropping it flushes and
/// shuts down.
///
/// ```no_run
/// fn main() -> Result<(), mv37_runtime::ConfigError> {
///     let _mv37 = mv37_runtime::init()?;
///     // ... the program ...
///     Ok(())
/// }
/// ```
pub fn init() -> Result<InstallGuard, ConfigError> {
    Client::builder().with_env().install()
}

/// Describes a new trace on the client in effect (the thread's default, else the global
/// one); a no-op builder when none is installed.
pub fn trace(name: impl Into<Cow<'static, str>>) -> TraceBuilder {
    match client() {
        Some(client) => client.trace(name),
        None => TraceBuilder::disabled(),
    }
}

/// The trace open in the current context (a no-op handle when none is).
pub fn current_trace() -> Trace {
    Trace::from_inner(context::current_trace())
}

/// The innermost span open in the current context (a no-op handle when none is).
pub fn current_span() -> Span {
    Context::current().span()
}

/// A span of `kind` in the trace open in the current context; a no-op builder when no
/// trace is open.
pub fn span(kind: impl Into<SpanKind>) -> SpanBuilder {
    current_trace().span(kind)
}

/// Flushes the client in effect; see [`Client::flush`].
pub fn flush() -> Result<(), FlushError> {
    client().map_or(Ok(()), |client| client.flush())
}
