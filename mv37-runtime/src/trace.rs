//! Traces: one run of an agent or workflow, holding its spans, messages, feedback and
//! signals.
//!
//! Over 500 lines because it is the trace's whole public surface: the handle's record
//! methods and the builder's setters (one per trace field, most with an example), with
//! the one place a trace is opened.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::builder::SpanBuilder;
use crate::clock;
use crate::ids::{IdParseError, SpanId, TraceId, TraceParent};
use crate::messages::{FeedbackBuilder, MessageBuilder};
use crate::payload::Payload;
use crate::progress::{error_info, Extras, OpenRecord, Progress, TraceState};
use crate::record::{Attributes, Content, Record, Role, SignalRecord, SpanKind, Status, TraceScope};
use crate::scope::{failed_on_err, never_failed, run_scope, Scope, ScopeFuture, ScopeGuard};
use crate::span::json_value;
use crate::state::local::trace_ref;
use crate::state::open::{Recorder, SharedTrace};

/// A handle to an open trace: open spans in it, record messages, feedback and signals.
///
/// Cheap to clone and `Send`. A handle made without a client (or for a trace that was
/// sampled out) records nothing and costs nothing.
#[derive(Clone, Default)]
pub struct Trace {
    inner: Option<Arc<SharedTrace>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(inner) => write!(f, "Trace({})", inner.trace_id),
            None => f.write_str("Trace(disabled)"),
        }
    }
}

impl Trace {
    pub(crate) fn inner(&self) -> Option<&Arc<SharedTrace>> {
        self.inner.as_ref()
    }

    pub(crate) fn from_inner(inner: Option<Arc<SharedTrace>>) -> Self {
        Self { inner }
    }

    /// A handle that records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether this trace records anything.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The trace id (`None` for a disabled trace).
    pub fn id(&self) -> Option<TraceId> {
        self.inner.as_ref().map(|inner| inner.trace_id)
    }

    /// The id of the trace's root span (`None` for a disabled trace).
    pub fn root_span_id(&self) -> Option<SpanId> {
        self.inner.as_ref().map(|inner| inner.root_span_id)
    }

    /// The W3C `traceparent` header naming the span open now in this trace, to send to
    /// another service so that it continues this trace.
    pub fn traceparent(&self) -> Option<String> {
        self.inner.as_ref().map(|inner| {
            TraceParent {
                trace_id: inner.trace_id,
                parent_span_id: inner.current_span(),
                sampled: true,
            }
            .to_string()
        })
    }

    /// A span of any kind (`"retrieval"`, `SpanKind::Task`, or your own string).
    pub fn span(&self, kind: impl Into<SpanKind>) -> SpanBuilder {
        SpanBuilder::new(self.inner.as_ref().map(trace_ref), kind.into())
    }

    /// A model call.
    pub fn llm(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        self.span(SpanKind::Llm).name(name)
    }

    /// A tool invocation; record its arguments with `.arguments(&args)`.
    pub fn tool(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        self.span(SpanKind::Tool).name(name)
    }

    /// A multi-step unit of work.
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        self.span(SpanKind::Task).name(name)
    }

    /// A retrieval / RAG step.
    pub fn retrieval(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        self.span(SpanKind::Retrieval).name(name)
    }

    /// An agent run: the span its model calls and tool calls nest under. Exported to
    /// OTLP as `invoke_agent {name}`; set `.model(..)` and `.provider(..)` when the agent
    /// has one model, and an `agent_id` attribute for `gen_ai.agent.id`.
    ///
    /// ```
    /// # let trace = mv37_runtime::Trace::disabled();
    /// trace.agent("support_agent").model("gpt-4.1").attribute("agent_id", "asst_42").run(|agent| {
    ///     agent.record_input(&"Where is my order?");
    /// });
    /// ```
    pub fn agent(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        self.span(SpanKind::Agent).name(name)
    }

    /// Records a conversation message, attached to the span open now (sent at the end of
    /// the statement; chain `.tool_call_id(..)` or `.internal()` first). Not recorded at
    /// all when the client captures no content.
    ///
    /// ```
    /// # let trace = mv37_runtime::Trace::disabled();
    /// use mv37_runtime::Role;
    /// trace.message(Role::User, "Where is my order?");
    /// trace.message(Role::Tool, r#"{"status":"shipped"}"#).tool_call_id("call_1");
    /// trace.message("assistant", "Thinking about refunds…").internal();
    /// ```
    pub fn message(&self, role: impl Into<Role>, content: impl Into<Content>) -> MessageBuilder {
        match &self.inner {
            Some(inner) => MessageBuilder::in_trace(inner, role.into(), content.into()),
            None => MessageBuilder::disabled(),
        }
    }

    /// Records feedback on this trace (sent at the end of the statement; chain
    /// `.comment(..)` first). For feedback that arrives after the trace ended, use
    /// [`crate::Client::feedback`] with the trace id.
    pub fn feedback(&self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> FeedbackBuilder {
        match &self.inner {
            Some(inner) => FeedbackBuilder::new(
                Arc::clone(&inner.recorder),
                inner.trace_id,
                Some(inner.root_span_id),
                name.into(),
                value.into(),
                Some(Arc::clone(&inner.scope)),
            ),
            None => FeedbackBuilder::disabled(),
        }
    }

    /// Records a named signal (an implicit metric such as `retried` or `escalated`).
    pub fn signal(&self, name: impl Into<String>, value: impl Into<serde_json::Value>) {
        if let Some(inner) = &self.inner {
            let span_id = inner.current_span();
            inner.recorder.submit(Record::Signal(SignalRecord {
                trace_id: inner.trace_id,
                span_id: Some(span_id),
                time_unix_nano: clock::unix_nanos_now(),
                name: name.into(),
                value: value.into(),
                scope: Some(Arc::clone(&inner.scope)),
            }));
        }
    }

    fn update(&self, change: impl FnOnce(&mut Extras)) {
        if let Some(inner) = &self.inner {
            inner.record.update(|progress| change(progress.extras()));
        }
    }

    /// Records an event on the trace's root span at this moment, with its attributes
    /// (none kept when the client captures no content).
    pub fn add_event(&self, name: impl Into<String>, attributes: crate::record::Attributes) {
        if let Some(inner) = &self.inner {
            let attributes = if inner.recorder.capture.content {
                attributes
            } else {
                Default::default()
            };
            let event = crate::record::EventRecord {
                time_unix_nano: clock::unix_nanos_now(),
                name: name.into(),
                attributes,
            };
            self.update(|extras| extras.events.push(event));
        }
    }

    /// Records the trace's input (not even serialized when the client captures no
    /// content).
    pub fn record_input<T: Serialize + ?Sized>(&self, input: &T) {
        if let Some(payload) = self
            .inner
            .as_ref()
            .and_then(|inner| inner.recorder.capture.capture_io(input))
        {
            self.update(|record| record.input = Some(payload));
        }
    }

    /// Records the trace's output (not even serialized when the client captures no
    /// content).
    pub fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        if let Some(payload) = self
            .inner
            .as_ref()
            .and_then(|inner| inner.recorder.capture.capture_io(output))
        {
            self.update(|record| record.output = Some(payload));
        }
    }

    /// Whether this trace records content: inputs, outputs and messages. `false` when
    /// the client captures no content (`capture_content(false)`,
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`) and when the trace
    /// records nothing.
    pub fn captures_content(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.recorder.capture.content)
    }

    /// Sets one attribute of the trace.
    pub fn set_attribute(&self, key: impl Into<String>, value: impl Serialize) {
        if self.inner.is_some() {
            let (key, value) = (key.into(), json_value(&value));
            self.update(|record| {
                record.attributes.insert(key, value);
            });
        }
    }

    /// Marks the trace failed with the error's `Display` text and type name.
    pub fn fail<E: Display + ?Sized>(&self, error: &E) {
        if let Some(inner) = &self.inner {
            let info = error_info(error);
            inner.record.update(|progress| {
                progress.status = Status::Error;
                progress.extras().error = Some(info);
            });
        }
    }
}

/// Guard of a trace opened with [`TraceBuilder::start`]: the trace is current on this
/// thread and ends (and is handed to the exporter) when the guard is dropped.
pub type TraceGuard = ScopeGuard<Trace>;

#[derive(Default)]
struct TraceFields {
    user_id: Option<String>,
    session_id: Option<String>,
    conversation_id: Option<String>,
    external_trace_id: Option<String>,
    /// `None` until one is set: a trace with none drops no map when it opens (an empty
    /// `BTreeMap` costs about 90 instructions to drop, a fifth of a tiny trace's start).
    attributes: Option<Attributes>,
    context: Option<Attributes>,
    parent: Option<TraceParent>,
    input: Option<Payload>,
}

thread_local! {
    /// The scope of the last trace this thread opened with nothing but a name.
    static PLAIN_SCOPE: RefCell<Option<Arc<TraceScope>>> = const { RefCell::new(None) };
}

/// The scope of a trace with nothing but a name: the one the thread's last such trace
/// had, if the name is the same. A scope is never changed once made, so traces can
/// share one; a service whose requests open traces of one name then allocates, frees
/// and moves between the cores no scope per request.
fn plain_scope(name: Cow<'static, str>) -> Arc<TraceScope> {
    let fresh = |name| {
        Arc::new(TraceScope {
            name,
            user_id: None,
            session_id: None,
            conversation_id: None,
            external_trace_id: None,
            context: None,
        })
    };
    PLAIN_SCOPE
        .try_with(|cached| {
            let Ok(mut cached) = cached.try_borrow_mut() else {
                return fresh(name.clone());
            };
            if let Some(scope) = cached.as_ref().filter(|scope| scope.name == name) {
                return Arc::clone(scope);
            }
            let scope = fresh(name.clone());
            *cached = Some(Arc::clone(&scope));
            scope
        })
        .unwrap_or_else(|_| fresh(name))
}

/// Describes a trace before it starts. Made by [`crate::Client::trace`] or [`crate::trace`].
///
/// ```
/// use mv37_runtime::{Client, MemoryExporter, Role};
///
/// let client = Client::builder().exporter(MemoryExporter::new()).build().unwrap();
/// client
///     .trace("support_agent")
///     .conversation_id("thread_123")
///     .user_id("cus_123")
///     .run(|trace| {
///         trace.message(Role::User, "Where is my order?");
///     });
/// ```
#[must_use = "a trace builder does nothing until started with `start`, `run` or `run_async`"]
pub struct TraceBuilder {
    recorder: Option<Arc<Recorder>>,
    name: Cow<'static, str>,
    fields: TraceFields,
}

impl std::fmt::Debug for TraceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceBuilder")
            .field("name", &self.name)
            .field("enabled", &self.recorder.is_some())
            .finish()
    }
}

macro_rules! string_setter {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            if self.recorder.is_some() {
                self.fields.$name = Some(value.into());
            }
            self
        }
    };
}

impl TraceBuilder {
    pub(crate) fn new(recorder: Option<Arc<Recorder>>, name: Cow<'static, str>) -> Self {
        Self {
            recorder,
            name,
            fields: TraceFields::default(),
        }
    }

    /// A builder that records nothing.
    pub fn disabled() -> Self {
        Self::new(None, Cow::Borrowed(""))
    }

    /// Whether the trace will record anything (a client is installed and enabled).
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    string_setter!(
        /// The end user the run is for.
        user_id
    );
    string_setter!(
        /// Groups several traces into one session.
        session_id
    );
    string_setter!(
        /// Ties the turns of a multi-turn conversation together.
        conversation_id
    );
    string_setter!(
        /// An id from your own system, to correlate with.
        external_trace_id
    );

    /// One metadata attribute of the trace.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if self.recorder.is_some() {
            self.fields
                .attributes
                .get_or_insert_default()
                .insert(key.into(), json_value(&value));
        }
        self
    }

    /// The trace's tags, for filtering in a backend: kept as the `tags` attribute and
    /// exported as Langfuse's `langfuse.trace.tags` and OpenInference's `tag.tags`.
    pub fn tags<T: Into<String>>(self, tags: impl IntoIterator<Item = T>) -> Self {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.attribute("tags", tags)
    }

    /// Several attributes, from any iterator of pairs (a `serde_json::Map`, a `HashMap`).
    pub fn attributes<K: Into<String>, V: Serialize>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        if self.recorder.is_some() {
            let attributes = self.fields.attributes.get_or_insert_default();
            for (key, value) in pairs {
                attributes.insert(key.into(), json_value(&value));
            }
        }
        self
    }

    /// One field merged onto every record of the trace.
    pub fn context(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if self.recorder.is_some() {
            self.fields
                .context
                .get_or_insert_default()
                .insert(key.into(), json_value(&value));
        }
        self
    }

    /// Several fields merged onto every record of the trace.
    pub fn context_fields<K: Into<String>, V: Serialize>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        if self.recorder.is_some() {
            let context = self.fields.context.get_or_insert_default();
            for (key, value) in pairs {
                context.insert(key.into(), json_value(&value));
            }
        }
        self
    }

    /// The trace's input, captured now (unless the client captures no content).
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if let Some(recorder) = &self.recorder {
            self.fields.input = recorder.capture.capture_io(input);
        }
        self
    }

    /// Continues a trace from another service: same trace id, and the remote span as
    /// the parent of this trace's root span.
    pub fn parent(mut self, parent: TraceParent) -> Self {
        self.fields.parent = Some(parent);
        self
    }

    /// Continues the span of an OpenTelemetry context (a new trace continues the current
    /// context's span by itself; this names another one). A context with no valid span
    /// changes nothing.
    #[cfg(feature = "opentelemetry")]
    pub fn otel_parent(self, context: &opentelemetry::Context) -> Self {
        match crate::otel::parent_of(context) {
            Some(parent) => self.parent(parent),
            None => self,
        }
    }

    /// Continues the trace named by a W3C `traceparent` header.
    pub fn continue_from(self, traceparent: &str) -> Result<Self, IdParseError> {
        Ok(self.parent(traceparent.parse()?))
    }

    pub(crate) fn open(self) -> (Trace, Option<Scope>) {
        let Some(recorder) = self.recorder else {
            return (Trace::disabled(), None);
        };
        #[cfg_attr(not(feature = "opentelemetry"), allow(unused_mut))]
        let mut fields = self.fields;
        // With no parent given, continue the span of the current OpenTelemetry context
        // (an HTTP handler under `tracing-opentelemetry`), so that one request is one trace.
        #[cfg(feature = "opentelemetry")]
        if fields.parent.is_none() {
            fields.parent = crate::otel::current_parent();
        }
        let trace_id = fields.parent.map_or_else(TraceId::random, |p| p.trace_id);
        let sampled = fields.parent.is_none_or(|p| p.sampled) && recorder.sample(trace_id);
        if !sampled {
            recorder.count_sampled_out();
            return (Trace::disabled(), None);
        }
        let root_span_id = SpanId::random();
        let plain = fields.user_id.is_none()
            && fields.session_id.is_none()
            && fields.conversation_id.is_none()
            && fields.external_trace_id.is_none()
            && fields.context.as_ref().is_none_or(Attributes::is_empty);
        let scope = if plain {
            plain_scope(self.name)
        } else {
            Arc::new(TraceScope {
                name: self.name,
                user_id: fields.user_id,
                session_id: fields.session_id,
                conversation_id: fields.conversation_id,
                external_trace_id: fields.external_trace_id,
                context: fields.context.filter(|context| !context.is_empty()).map(Arc::new),
            })
        };
        let attributes = fields.attributes.filter(|attributes| !attributes.is_empty());
        let extras = (fields.input.is_some() || attributes.is_some()).then(|| {
            Box::new(Extras {
                input: fields.input,
                attributes: attributes.unwrap_or_default(),
                ..Extras::default()
            })
        });
        let start = clock::tick();
        let record = TraceState {
            trace_id,
            span_id: root_span_id,
            parent: fields.parent.map(|p| p.parent_span_id),
            progress: Progress::new(start, extras),
        };
        let inner = Arc::new(SharedTrace {
            recorder,
            trace_id,
            root_span_id,
            scope,
            record: OpenRecord::new(start, record),
        });
        (Trace::from_inner(Some(Arc::clone(&inner))), Some(Scope::Trace(inner)))
    }

    /// Starts the trace and makes it current on this thread until the guard is dropped.
    pub fn start(self) -> TraceGuard {
        let (trace, scope) = self.open();
        ScopeGuard::new(trace, scope)
    }

    /// Runs `f` inside the trace; a panic marks it failed (and is resumed).
    pub fn run<R>(self, f: impl FnOnce(&Trace) -> R) -> R {
        if self.recorder.is_none() {
            return f(&Trace::disabled());
        }
        let (trace, scope) = self.open();
        run_scope(scope, &trace, f, never_failed)
    }

    /// Runs `f` inside the trace; `Err` (or a panic) marks it failed.
    pub fn try_run<T, E: Display>(self, f: impl FnOnce(&Trace) -> Result<T, E>) -> Result<T, E> {
        let (trace, scope) = self.open();
        run_scope(scope, &trace, f, failed_on_err::<T, E>)
    }

    /// Runs the future made by `f` inside the trace, whichever thread polls it; the
    /// trace ends when the future completes.
    pub fn run_async<F: Future>(self, f: impl FnOnce(Trace) -> F) -> ScopeFuture<F> {
        let (trace, scope) = self.open();
        ScopeFuture::new(f(trace), scope, never_failed)
    }

    /// Like [`TraceBuilder::run_async`], and an `Err` output marks the trace failed.
    pub fn try_run_async<T, E: Display, F: Future<Output = Result<T, E>>>(
        self,
        f: impl FnOnce(Trace) -> F,
    ) -> ScopeFuture<F> {
        let (trace, scope) = self.open();
        ScopeFuture::new(f(trace), scope, failed_on_err::<T, E>)
    }
}
