//! Describing and starting a span: [`SpanBuilder`] (made by a trace's `span`, `llm`,
//! `tool`, `task`, `retrieval` and `agent`), and the ways it runs: a closure with a
//! [`ScopedSpan`], a future, a guard ([`SpanGuard`]), or a [`DetachedSpan`] that ends
//! when dropped.

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::clock;
use crate::ids::SpanId;
use crate::progress::{error_info, Extras, KindCode, Outcome};
use crate::record::SpanKind;
use crate::scope::{failed_on_err, never_failed, Inspect, Scope, ScopeFuture, ScopeGuard};
use crate::scoped::{run_new, run_static, ScopedSpan};
use crate::span::{json_value, Span};
use crate::state::local::parent_in;
use crate::state::open::{LocalSpan, SharedTrace};

/// Guard of a span opened with [`SpanBuilder::start`]: the span is current on this thread
/// and ends when the guard is dropped.
pub type SpanGuard = ScopeGuard<Span>;

/// Describes a span before it starts. Made by `trace.span(kind)`, `trace.llm(name)`,
/// `trace.tool(name)`, `trace.task(name)`, `trace.retrieval(name)`, `trace.agent(name)` or
/// [`crate::span`].
#[must_use = "a span builder does nothing until started with `start`, `run` or `run_async`"]
pub struct SpanBuilder {
    trace: Option<Arc<SharedTrace>>,
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
    pub(crate) fn new(trace: Option<Arc<SharedTrace>>, kind: SpanKind) -> Self {
        Self {
            trace,
            kind,
            name: None,
            parent: None,
            extras: None,
        }
    }

    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Extras::boxed)
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

    /// The span's input, captured now (unless the client captures no content).
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if let Some(payload) = self
            .trace
            .as_ref()
            .and_then(|trace| trace.recorder.capture.capture_io(input))
        {
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
    #[inline(always)]
    pub(crate) fn prepare(self) -> Option<LocalSpan> {
        let (trace, parent, kind, name, extras) = self.parts()?;
        Some(start_local(trace, parent, kind, name, extras))
    }

    /// The builder as a [`Plain`] span, if that is all it is: recording, nothing set but
    /// a static name. Inlined where the builder was made (`trace.task("step").run(..)`),
    /// these checks fold away and the span's start gets its trace, kind and name in
    /// registers: the 80-byte builder, written by the caller and read back at once by
    /// an out-of-line `run_built`, cost a copy that waited for those writes.
    #[inline(always)]
    fn into_plain(self) -> Result<Plain, Self> {
        let SpanBuilder {
            trace,
            kind,
            name,
            parent,
            extras,
        } = self;
        let code = match (&parent, &extras) {
            (None, None) => KindCode::built_in(&kind),
            _ => None,
        };
        let static_name = match &name {
            Some(Cow::Borrowed(name)) => Some(*name),
            Some(Cow::Owned(_)) => None,
            None => Some(static_kind_name(&kind)),
        };
        match (trace, code, static_name) {
            (Some(trace), Some(code), Some(static_name)) => {
                // Nothing to drop here (no extras, a borrowed name or none), but the
                // compiler did not see it and called the extras' drop glue on every
                // span (17 instructions, callgrind).
                std::mem::forget((extras, name));
                Ok(Plain {
                    trace,
                    kind: code,
                    name: static_name,
                })
            }
            (trace, _, _) => Err(SpanBuilder {
                trace,
                kind,
                name,
                parent,
                extras,
            }),
        }
    }

    /// What the span starts from: its trace, its parent (the current span of the trace
    /// here unless one was given), its kind, its name (the kind's when none was given)
    /// and its extras; `None` when the builder records nothing.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn parts(
        self,
    ) -> Option<(
        Arc<SharedTrace>,
        SpanId,
        SpanKind,
        Cow<'static, str>,
        Option<Box<Extras>>,
    )> {
        let trace = self.trace?;
        let parent = self.parent.unwrap_or_else(|| parent_in(&trace));
        let name = self.name.unwrap_or_else(|| match &self.kind {
            SpanKind::Custom(name) => name.clone(),
            kind => Cow::Borrowed(static_kind_name(kind)),
        });
        Some((trace, parent, self.kind, name, self.extras))
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
    #[inline]
    pub fn run<R>(self, f: impl FnOnce(&ScopedSpan) -> R) -> R {
        match self.into_plain() {
            Ok(Plain { trace, kind, name }) => run_plain(trace, kind, name, f, never_failed),
            Err(builder) if builder.is_recording() => run_built(builder, f, never_failed),
            Err(_) => f(&ScopedSpan::disabled()),
        }
    }

    /// Runs `f` inside the span; `Err` (or a panic) marks it failed with the error's text.
    #[inline]
    pub fn try_run<T, E: Display>(self, f: impl FnOnce(&ScopedSpan) -> Result<T, E>) -> Result<T, E> {
        match self.into_plain() {
            Ok(Plain { trace, kind, name }) => run_plain(trace, kind, name, f, failed_on_err::<T, E>),
            Err(builder) if builder.is_recording() => run_built(builder, f, failed_on_err::<T, E>),
            Err(_) => f(&ScopedSpan::disabled()),
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
            scope.finish(Outcome::Failed(error_info(error)));
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

/// A span with nothing set but its kind and a static name (see
/// [`SpanBuilder::into_plain`]).
struct Plain {
    trace: Arc<SharedTrace>,
    kind: KindCode,
    name: &'static str,
}

/// [`SpanBuilder::run`] for a [`Plain`] span: out of line, as `run_built`, with its
/// parts as arguments rather than in a builder in memory.
#[inline(never)]
fn run_plain<R>(
    trace: Arc<SharedTrace>,
    kind: KindCode,
    name: &'static str,
    f: impl FnOnce(&ScopedSpan) -> R,
    inspect: Inspect<R>,
) -> R {
    run_static(trace, None, kind, name, f, inspect)
}

/// [`SpanBuilder::run`] when recording: out of line, so that the span's state is made
/// in the frame that runs it and goes onto the context stack from there (made in the
/// caller and passed down, its 112 bytes were copied once more and read back at once).
#[inline(never)]
fn run_built<R>(builder: SpanBuilder, f: impl FnOnce(&ScopedSpan) -> R, inspect: Inspect<R>) -> R {
    match builder.parts() {
        Some((trace, parent, kind, name, extras)) => run_new(trace, parent, kind, name, extras, f, inspect),
        None => f(&ScopedSpan::disabled()),
    }
}

/// A span starting now in `trace`, its state on this thread (for a span whose state is
/// held by a future, or shared from its start). Always inlined: made out of line once
/// `enter_static` shared its callee, an async span's state was returned through memory
/// and the span measured 6% slower.
#[inline(always)]
pub(crate) fn start_local(
    trace: Arc<SharedTrace>,
    parent: SpanId,
    kind: SpanKind,
    name: Cow<'static, str>,
    extras: Option<Box<Extras>>,
) -> LocalSpan {
    LocalSpan::starting_at(clock::tick(), trace, SpanId::random(), parent, kind, name, extras)
}

fn static_kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "llm",
        SpanKind::Tool => "tool",
        SpanKind::Task => "task",
        SpanKind::Retrieval => "retrieval",
        SpanKind::Agent => "agent",
        SpanKind::Span | SpanKind::Custom(_) => "span",
    }
}
