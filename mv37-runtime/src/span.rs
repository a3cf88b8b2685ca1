//! Spans: typed units of work inside a trace, with input, output, usage and status.

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::clock;
use fastant::Instant;

use crate::context::{self, failed_on_err, never_failed, Outcome, Scope, ScopeFuture, ScopeGuard};
use crate::events::MessageBuilder;
use crate::ids::{SpanId, TraceId};
use crate::open::{Closable, Extras, OpenRecord, Progress};
use crate::payload::Payload;
use crate::record::{Content, ErrorInfo, MessageRecord, Role, SpanKind, SpanRecord, Status, TraceScope};
use crate::scoped::{run_local, LocalSpan, ScopedSpan};
use crate::trace::TraceInner;

/// The methods that record onto an open span, for [`Span`] and [`ScopedSpan`]: each
/// type provides `payload_limit` (`None` when not recording) and `change`.
macro_rules! recording_methods {
    () => {
        /// Records the span's input: any `Serialize` value, captured now.
        pub fn record_input<T: serde::Serialize + ?Sized>(&self, input: &T) {
            if let Some(limit) = self.payload_limit() {
                let payload = $crate::payload::Payload::capture(input, limit);
                self.change(|progress| progress.extras().input = Some(payload));
            }
        }

        /// Records the span's output: any `Serialize` value, captured now.
        pub fn record_output<T: serde::Serialize + ?Sized>(&self, output: &T) {
            if let Some(limit) = self.payload_limit() {
                let payload = $crate::payload::Payload::capture(output, limit);
                self.change(|progress| progress.extras().output = Some(payload));
            }
        }

        /// Sets token usage and cost; `total_tokens` is derived when absent.
        pub fn set_usage(&self, usage: $crate::record::Usage) {
            self.change(|progress| progress.extras().usage = Some(usage.with_derived_total()));
        }

        /// Sets the model name.
        pub fn set_model(&self, model: impl Into<String>) {
            if self.payload_limit().is_some() {
                let model = model.into();
                self.change(|progress| progress.extras().model = Some(model));
            }
        }

        /// Sets the model provider.
        pub fn set_provider(&self, provider: impl Into<String>) {
            if self.payload_limit().is_some() {
                let provider = provider.into();
                self.change(|progress| progress.extras().provider = Some(provider));
            }
        }

        /// Sets one attribute.
        pub fn set_attribute(&self, key: impl Into<String>, value: impl serde::Serialize) {
            if self.payload_limit().is_some() {
                let (key, value) = (key.into(), $crate::span::json_value(&value));
                self.change(|progress| {
                    progress.extras().attributes.insert(key, value);
                });
            }
        }

        /// Marks the span failed with the error's `Display` text and type name.
        pub fn fail<E: std::fmt::Display + ?Sized>(&self, error: &E) {
            if self.payload_limit().is_some() {
                let info = $crate::context::error_info(error);
                self.change(|progress| {
                    progress.status = $crate::record::Status::Error;
                    progress.extras().error = Some(info);
                });
            }
        }
    };
}
pub(crate) use recording_methods;

pub(crate) struct SpanInner {
    pub(crate) trace: Arc<TraceInner>,
    pub(crate) span_id: SpanId,
    record: OpenRecord<OpenSpan>,
}

impl SpanInner {
    pub(crate) fn attach_message(&self, message: MessageRecord) -> Option<MessageRecord> {
        self.record.attach_message(message)
    }

    pub(crate) fn new(trace: Arc<TraceInner>, span_id: SpanId, start: Instant, open: OpenSpan) -> Self {
        Self {
            trace,
            span_id,
            record: OpenRecord::new(start, open),
        }
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut Progress)) {
        self.record.update(change);
    }

    pub(crate) fn end(&self, status: Status, error: Option<ErrorInfo>) {
        if let Some(open) = self.record.close(status, error) {
            submit(&self.trace, self.span_id, open);
        }
    }
}

/// Sends a closed span to the exporter thread.
pub(crate) fn submit(trace: &TraceInner, span_id: SpanId, open: OpenSpan) {
    let raw = RawSpan {
        trace_id: trace.trace_id,
        span_id,
        open,
    };
    trace.client.submit_span(raw, &trace.scope);
}

/// An open span: what identifies it, and its progress.
pub(crate) struct OpenSpan {
    parent: SpanId,
    kind: SpanKind,
    name: Cow<'static, str>,
    progress: Progress,
}

impl OpenSpan {
    /// Closes the record now.
    pub(crate) fn close(&mut self, status: Status, error: Option<ErrorInfo>) {
        self.progress.close(clock::tick(), status, error);
    }
}

impl Closable for OpenSpan {
    fn progress(&mut self) -> &mut Progress {
        &mut self.progress
    }
}

/// A finished span as it travels to the exporter thread: ids, times, name and an
/// optional box of extras. It becomes a [`SpanRecord`] there, off the program's threads.
pub(crate) struct RawSpan {
    trace_id: TraceId,
    span_id: SpanId,
    open: OpenSpan,
}

impl RawSpan {
    /// Where the extras are, to move them out and back in transit.
    pub(crate) fn extras_slot(&mut self) -> &mut Option<Box<Extras>> {
        &mut self.open.progress.extras
    }

    /// Roughly what the record will weigh once built (counted against the queue bound).
    pub(crate) fn approx_bytes(&self) -> usize {
        crate::record::RECORD_BASE_BYTES
            + self.open.name.len()
            + Extras::approx_bytes(self.open.progress.extras.as_deref())
    }

    pub(crate) fn into_record(self, scope: Option<Arc<TraceScope>>) -> SpanRecord {
        let mut open = self.open;
        let extras = open.progress.take_extras();
        let (start, latency) = (open.progress.start_unix_nanos(), open.progress.latency_ns());
        SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: Some(open.parent),
            kind: open.kind,
            name: open.name,
            start_time_unix_nano: start,
            end_time_unix_nano: start.saturating_add(latency),
            latency_ns: latency,
            status: open.progress.status,
            error: extras.error,
            model: extras.model,
            provider: extras.provider,
            usage: extras.usage,
            input: extras.input,
            output: extras.output,
            attributes: extras.attributes,
            messages: extras.messages,
            scope,
        }
    }
}

/// A handle to an open span: record input, output, usage and failure on it.
///
/// Handles are cheap to clone and `Send`; writes after the span ended are ignored. A
/// handle from a no-op builder (no client installed, trace sampled out) does nothing.
#[derive(Clone, Default)]
pub struct Span {
    inner: Option<Arc<SpanInner>>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(inner) => write!(f, "Span({}/{})", inner.trace.trace_id, inner.span_id),
            None => f.write_str("Span(disabled)"),
        }
    }
}

impl Span {
    pub(crate) fn from_inner(inner: Option<Arc<SpanInner>>) -> Self {
        Self { inner }
    }

    /// A handle that records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub(crate) fn inner(&self) -> Option<&Arc<SpanInner>> {
        self.inner.as_ref()
    }

    /// Whether this span records anything.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The span's id (`None` for a disabled span).
    pub fn id(&self) -> Option<SpanId> {
        self.inner.as_ref().map(|inner| inner.span_id)
    }

    /// Time since the span started (`None` for a disabled span).
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        self.inner.as_ref().map(|inner| inner.record.elapsed())
    }

    /// The id of the span's trace (`None` for a disabled span).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.inner.as_ref().map(|inner| inner.trace.trace_id)
    }

    /// The payload size limit, when recording.
    pub(crate) fn payload_limit(&self) -> Option<usize> {
        self.inner.as_ref().map(|inner| inner.trace.client.max_payload_bytes)
    }

    /// Changes the open span's progress (ignored once it ended).
    pub(crate) fn change(&self, change: impl FnOnce(&mut Progress)) {
        if let Some(inner) = &self.inner {
            inner.update(change);
        }
    }

    recording_methods!();

    /// Records a conversation message attached to this span (sent when the builder is
    /// dropped, at the end of the statement).
    pub fn message(&self, role: impl Into<Role>, content: impl Into<Content>) -> MessageBuilder {
        match &self.inner {
            Some(inner) => MessageBuilder::in_span(inner, role.into(), content.into()),
            None => MessageBuilder::disabled(),
        }
    }

    /// Ends the span now (it would otherwise end with its guard, `run` or future).
    pub fn end(&self) {
        if let Some(inner) = &self.inner {
            inner.end(Status::Ok, None);
        }
    }
}

pub(crate) fn json_value(value: &impl Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(value)
        .unwrap_or_else(|error| serde_json::json!({ crate::payload::SERIALIZATION_ERROR_KEY: error.to_string() }));
    crate::payload::limit_depth(&mut value);
    value
}

/// Guard of a span opened with [`SpanBuilder::start`]: the span is current on this thread
/// and ends when the guard is dropped.
pub type SpanGuard = ScopeGuard<Span>;

/// Describes a span before it starts. Made by `trace.span(kind)`, `trace.llm(name)`,
/// `trace.tool(name)`, `trace.task(name)`, `trace.retrieval(name)` or [`crate::span`].
#[must_use = "a span builder does nothing until started with `start`, `run` or `run_async`"]
pub struct SpanBuilder {
    trace: Option<Arc<TraceInner>>,
    kind: SpanKind,
    name: Option<Cow<'static, str>>,
    parent: Option<SpanId>,
    extras: Option<Box<Extras>>,
}

impl std::fmt::Debug for SpanBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanBuilder")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("enabled", &self.trace.is_some())
            .finish()
    }
}

impl SpanBuilder {
    pub(crate) fn new(trace: Option<Arc<TraceInner>>, kind: SpanKind) -> Self {
        Self {
            trace,
            kind,
            name: None,
            parent: None,
            extras: None,
        }
    }

    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Whether the span will record anything.
    pub fn is_recording(&self) -> bool {
        self.trace.is_some()
    }

    /// Names the span (the default name is its kind).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        if self.trace.is_some() {
            self.name = Some(name.into());
        }
        self
    }

    /// The model the span calls.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        if self.trace.is_some() {
            self.extras().model = Some(model.into());
        }
        self
    }

    /// The model's provider.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        if self.trace.is_some() {
            self.extras().provider = Some(provider.into());
        }
        self
    }

    /// The span's input, captured now.
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if let Some(trace) = &self.trace {
            let payload = Payload::capture(input, trace.client.max_payload_bytes);
            self.extras().input = Some(payload);
        }
        self
    }

    /// A tool's arguments (recorded as the span's input).
    pub fn arguments<T: Serialize + ?Sized>(self, arguments: &T) -> Self {
        self.input(arguments)
    }

    /// One attribute.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if self.trace.is_some() {
            let value = json_value(&value);
            self.extras().attributes.insert(key.into(), value);
        }
        self
    }

    /// Overrides the parent span (by default, the innermost span of the same trace open
    /// in the current context, or the trace's root).
    pub fn parent(mut self, parent: SpanId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// The span's state at its start: its id, start time and open record (`None` when
    /// the builder records nothing).
    pub(crate) fn prepare(self) -> Option<LocalSpan> {
        let trace = self.trace?;
        let span_id = SpanId::random();
        let parent = self.parent.unwrap_or_else(|| context::parent_in(&trace));
        let start = clock::tick();
        let open = OpenSpan {
            parent,
            name: self.name.unwrap_or_else(|| match &self.kind {
                SpanKind::Custom(name) => name.clone(),
                kind => Cow::Borrowed(static_kind_name(kind)),
            }),
            kind: self.kind,
            progress: Progress::new(start, self.extras),
        };
        Some(LocalSpan::new(trace, span_id, start, open))
    }

    fn open(self) -> (Span, Option<Scope>) {
        match self.prepare().and_then(LocalSpan::into_shared) {
            Some(inner) => (Span::from_inner(Some(Arc::clone(&inner))), Some(Scope::Span(inner))),
            None => (Span::disabled(), None),
        }
    }

    /// Starts the span and makes it current on this thread until the guard is dropped.
    pub fn start(self) -> SpanGuard {
        let (span, scope) = self.open();
        ScopeGuard::new(span, scope)
    }

    /// Starts the span without making it current: an owned, `Send` handle that ends
    /// when dropped (or with [`DetachedSpan::end`], [`DetachedSpan::cancel`]). For spans
    /// whose end is not a scope: a stream that is consumed elsewhere, a callback API.
    /// Enter it where its children are made with [`DetachedSpan::context`].
    pub fn start_detached(self) -> DetachedSpan {
        let (span, scope) = self.open();
        DetachedSpan { span, scope }
    }

    /// Runs `f` inside the span; a panic marks it failed (and is resumed).
    ///
    /// `f` gets a [`ScopedSpan`]: the span's state stays on this thread (no allocation,
    /// no lock) unless a handle to it is needed elsewhere, when it dereferences to a
    /// shareable [`Span`].
    pub fn run<R>(self, f: impl FnOnce(&ScopedSpan) -> R) -> R {
        match self.prepare() {
            Some(local) => run_local(local, f, never_failed),
            None => f(&ScopedSpan::disabled()),
        }
    }

    /// Runs `f` inside the span; `Err` (or a panic) marks it failed with the error's text.
    pub fn try_run<T, E: Display>(self, f: impl FnOnce(&ScopedSpan) -> Result<T, E>) -> Result<T, E> {
        match self.prepare() {
            Some(local) => run_local(local, f, failed_on_err::<T, E>),
            None => f(&ScopedSpan::disabled()),
        }
    }

    /// Runs the future made by `f` inside the span: the span is current at every poll,
    /// whichever thread polls it, and ends when the future completes (or is cancelled
    /// if dropped first).
    pub fn run_async<F: Future>(self, f: impl FnOnce(Span) -> F) -> ScopeFuture<F> {
        let (span, scope) = self.open();
        ScopeFuture::new(f(span), scope, never_failed)
    }

    /// Like [`SpanBuilder::run_async`], and an `Err` output marks the span failed.
    pub fn try_run_async<T, E: Display, F: Future<Output = Result<T, E>>>(
        self,
        f: impl FnOnce(Span) -> F,
    ) -> ScopeFuture<F> {
        let (span, scope) = self.open();
        ScopeFuture::new(f(span), scope, failed_on_err::<T, E>)
    }
}

/// A started span that is not tied to a scope; see [`SpanBuilder::start_detached`].
/// Dropping it ends the span normally.
pub struct DetachedSpan {
    span: Span,
    scope: Option<Scope>,
}

impl std::fmt::Debug for DetachedSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.span.fmt(f)
    }
}

impl DetachedSpan {
    /// The context with this span open, to enter where its children are made.
    pub fn context(&self) -> crate::Context {
        crate::Context::of_span(&self.span)
    }

    /// Ends the span now.
    pub fn end(mut self) {
        if let Some(scope) = self.scope.take() {
            scope.finish(Outcome::Ok);
        }
    }

    /// Ends the span now, marked `cancelled` (work abandoned before it completed).
    pub fn cancel(mut self) {
        if let Some(scope) = self.scope.take() {
            scope.finish(Outcome::Cancelled);
        }
    }

    /// Ends the span now, failed with the error's `Display` text.
    pub fn fail_and_end<E: Display + ?Sized>(mut self, error: &E) {
        if let Some(scope) = self.scope.take() {
            scope.finish(Outcome::Failed(context::error_info(error)));
        }
    }
}

impl std::ops::Deref for DetachedSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl Drop for DetachedSpan {
    fn drop(&mut self) {
        if let Some(scope) = self.scope.take() {
            scope.finish(Outcome::Ok);
        }
    }
}

fn static_kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "llm",
        SpanKind::Tool => "tool",
        SpanKind::Task => "task",
        SpanKind::Retrieval => "retrieval",
        SpanKind::Span | SpanKind::Custom(_) => "span",
    }
}
