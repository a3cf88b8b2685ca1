//! The span of a `#[task]`, `#[llm]`, `#[tool]`, `#[agent]` or `#[span]` fn: described by
//! [`begin_span`], run by [`SpanSetup`], inside an implicit trace when none is open.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::output::{recorded, recorded_ok};
use super::{ErrorDisplay, OptionText};
use crate::builder::{start_local, SpanBuilder};
use crate::client::{anything_records, client};
use crate::ids::SpanId;
use crate::progress::KindCode;
use crate::record::SpanKind;
use crate::scope::{failed_on_err, never_failed, run_scope, Inspect, Scope, ScopeFuture};
use crate::scoped::{run_static, OkOnly, OutputFn, ScopedFuture, ScopedSpan};
use crate::state::local::current_trace_and_parent;
use crate::state::open::{any_client_live, LocalSpan, SharedTrace};

/// Describes the span of a `#[task]`, `#[llm]`, `#[tool]`, `#[agent]` or `#[span]` fn: in
/// the trace open in the current context, else in an implicit trace named `name`.
#[inline]
pub fn begin_span(kind: SpanKind, name: &'static str) -> SpanSetup {
    if !any_client_live() {
        return SpanSetup { setup: Setup::Off };
    }
    match KindCode::built_in(&kind) {
        // Looked up when it runs (`run_pending`), in the frame that runs it.
        Some(kind) => SpanSetup {
            setup: Setup::Pending { kind, name },
        },
        None => begin_live_span(kind, name),
    }
}

/// [`begin_span`] for an `async fn`: looked up now, when the future is made (a pending
/// setup carried into the future's start measured an async span 7–9% slower).
#[inline]
pub fn begin_span_async(kind: SpanKind, name: &'static str) -> SpanSetup {
    if !any_client_live() {
        return SpanSetup { setup: Setup::Off };
    }
    begin_live_span(kind, name)
}

/// [`begin_span`] when a client exists: out of line, so that a call with no client is a
/// load, a branch and the body, in a small stack frame. The common case (a span in the
/// trace open here) carries what one look at the thread's state found to `run`, without
/// building anything.
#[inline(never)]
fn begin_live_span(kind: SpanKind, name: &'static str) -> SpanSetup {
    if let Some((trace, parent)) = current_trace_and_parent() {
        let setup = match KindCode::built_in(&kind) {
            Some(kind) => Setup::Child(Child {
                trace,
                parent,
                kind,
                name,
            }),
            // A custom kind travels in the extras: the builder's way.
            None => Setup::Built {
                implicit: None,
                builder: SpanBuilder::new(Some(trace), kind).name(name).parent(parent),
            },
        };
        return SpanSetup { setup };
    }
    // No trace open here: the span opens an implicit trace of its own (when a default
    // client exists).
    let setup = match client() {
        Some(client) => {
            let (trace, scope) = client.trace(name).open();
            Setup::Built {
                implicit: scope,
                builder: trace.span(kind).name(name),
            }
        }
        None => Setup::Off,
    };
    SpanSetup { setup }
}

/// The span of an instrumented fn, before it runs.
#[must_use]
pub struct SpanSetup {
    setup: Setup,
}

enum Setup {
    /// Nothing is recorded: the disabled path is one tag write.
    Off,
    /// A span of a built-in kind, not looked up yet: where it goes (the trace open here,
    /// or an implicit one) is found when it runs. For `run`, in the one out-of-line
    /// frame that runs it (`run_pending`): the setup found at `begin_span` and carried
    /// to `run` in memory cost a call and a write and read of 48 bytes.
    Pending { kind: KindCode, name: &'static str },
    /// A child of the span current here, nothing set on it yet: it starts from these
    /// when it runs, without a [`SpanBuilder`] (whose 80 bytes, moved from call to call,
    /// cost more than the rest of the span's start).
    Child(Child),
    /// An input, attribute, model or provider was set, or the span opens an implicit
    /// trace (opened but not yet entered).
    Built {
        implicit: Option<Scope>,
        builder: SpanBuilder,
    },
}

/// What a plain child span starts from: its trace, its parent, its (built-in) kind and
/// its name.
struct Child {
    trace: Arc<SharedTrace>,
    parent: SpanId,
    kind: KindCode,
    name: &'static str,
}

impl Child {
    /// Runs `f` in the span, made in place on this thread's context stack.
    #[inline(always)]
    fn run<R>(self, f: impl FnOnce(&ScopedSpan) -> R, inspect: Inspect<R>) -> R {
        run_static(self.trace, Some(self.parent), self.kind, self.name, f, inspect)
    }

    /// The span's state at its start, for a future to hold.
    fn start(self) -> LocalSpan {
        start_local(
            self.trace,
            self.parent,
            self.kind.kind(),
            Cow::Borrowed(self.name),
            None,
        )
    }

    /// The builder of the same span, for a setup that sets more on it.
    fn builder(self) -> SpanBuilder {
        SpanBuilder::new(Some(self.trace), self.kind.kind())
            .name(self.name)
            .parent(self.parent)
    }
}

impl std::fmt::Debug for SpanSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("SpanSetup");
        match &self.setup {
            Setup::Off => out.field("recording", &false),
            Setup::Pending { kind, name } => out.field("kind", kind).field("name", name),
            Setup::Child(child) => out.field("kind", &child.kind).field("name", &child.name),
            Setup::Built { implicit, builder } => out
                .field("implicit_trace", &implicit.is_some())
                .field("builder", builder),
        };
        out.finish()
    }
}

impl SpanSetup {
    /// Whether the span records anything.
    #[inline]
    pub fn is_recording(&self) -> bool {
        match &self.setup {
            Setup::Off => false,
            Setup::Pending { .. } => anything_records(),
            Setup::Child(_) => true,
            Setup::Built { builder, .. } => builder.is_recording(),
        }
    }

    /// Applies `change` to the span's builder (made now for a plain child span).
    fn update(&mut self, change: impl FnOnce(SpanBuilder) -> SpanBuilder) {
        self.setup = match std::mem::replace(&mut self.setup, Setup::Off).resolved() {
            Setup::Off | Setup::Pending { .. } => Setup::Off,
            Setup::Child(child) => Setup::Built {
                implicit: None,
                builder: change(child.builder()),
            },
            Setup::Built { implicit, builder } => Setup::Built {
                implicit,
                builder: change(builder),
            },
        };
    }

    /// Records the input.
    #[inline]
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        self.update(|builder| builder.input(input));
        self
    }

    /// Sets one attribute.
    #[inline]
    pub fn attribute<T: Serialize + ?Sized>(mut self, key: &'static str, value: &T) -> Self {
        self.update(|builder| builder.attribute(key, value));
        self
    }

    /// Sets the model.
    #[inline]
    pub fn model<T: OptionText + ?Sized>(mut self, model: &T) -> Self {
        self.update(|builder| builder.model(model.to_string()));
        self
    }

    /// Sets the provider.
    #[inline]
    pub fn provider<T: OptionText + ?Sized>(mut self, provider: &T) -> Self {
        self.update(|builder| builder.provider(provider.to_string()));
        self
    }

    /// Runs a sync body inside the span; `output` records its value.
    #[inline]
    pub fn run<R>(self, body: impl FnOnce() -> R, output: fn(&ScopedSpan, &R)) -> R {
        match self.setup {
            Setup::Off => body(),
            Setup::Pending { kind, name } => run_pending(kind, name, body, output),
            Setup::Child(child) => run_child(child, body, output),
            Setup::Built { implicit, builder } => run_live(implicit, builder, body, output),
        }
    }

    /// Runs a sync body that returns `Result`: `Ok` is recorded by `output`, `Err` marks
    /// the span (and an implicit trace) failed.
    #[inline]
    pub fn run_result<T, E: ErrorDisplay>(
        self,
        body: impl FnOnce() -> Result<T, E>,
        output: fn(&ScopedSpan, &T),
    ) -> Result<T, E> {
        match self.setup.resolved() {
            Setup::Off | Setup::Pending { .. } => body(),
            Setup::Child(child) => run_result_child(child, body, output),
            Setup::Built { implicit, builder } => run_result_live(implicit, builder, body, output),
        }
    }

    /// Runs the future of an `async fn` inside the span (current at every poll).
    #[inline]
    pub fn run_async<F: Future>(
        self,
        body: F,
        output: fn(&ScopedSpan, &F::Output),
    ) -> SpanFuture<F, OutputFn<ScopedSpan, F::Output>> {
        let (span, implicit) = self.start();
        ScopeFuture::new(
            ScopedFuture::new(body, span, output, never_failed),
            implicit,
            never_failed,
        )
    }

    /// Like [`SpanSetup::run_async`] for a future of `Result`.
    #[inline]
    pub fn run_result_async<T, E: ErrorDisplay, F: Future<Output = Result<T, E>>>(
        self,
        body: F,
        output: fn(&ScopedSpan, &T),
    ) -> SpanFuture<F, OkOnly<ScopedSpan, T>> {
        let (span, implicit) = self.start();
        let inner = ScopedFuture::new(body, span, OkOnly(output), failed_on_err::<T, E>);
        ScopeFuture::new(inner, implicit, failed_on_err::<T, E>)
    }
}

impl SpanSetup {
    /// The span's state at its start, and the implicit trace it is in (if any).
    #[inline]
    fn start(self) -> (Option<LocalSpan>, Option<Scope>) {
        match self.setup {
            Setup::Off => (None, None),
            Setup::Pending { kind, name } => start_pending(kind, name),
            Setup::Child(child) => (Some(child.start()), None),
            Setup::Built { implicit, builder } => (builder.prepare(), implicit),
        }
    }
}

/// [`SpanSetup::start`] of a pending setup (an `async fn`'s is looked up at
/// `begin_span_async`; this is for a setup made with `begin_span` and run as a future).
#[cold]
#[inline(never)]
fn start_pending(kind: KindCode, name: &'static str) -> (Option<LocalSpan>, Option<Scope>) {
    match begin_live_span(kind.kind(), name).setup {
        Setup::Child(child) => (Some(child.start()), None),
        Setup::Built { implicit, builder } => (builder.prepare(), implicit),
        Setup::Off | Setup::Pending { .. } => (None, None),
    }
}

impl Setup {
    /// A pending setup looked up now ([`begin_live_span`]); any other as it is.
    #[inline]
    fn resolved(self) -> Setup {
        match self {
            Setup::Pending { kind, name } => begin_live_span(kind.kind(), name).setup,
            setup => setup,
        }
    }
}

/// [`SpanSetup::run`] for a span of a built-in kind: the trace open here and the parent
/// looked up in the frame that runs it; with no trace open, the setup's general way (an
/// implicit trace).
#[inline(never)]
fn run_pending<R>(kind: KindCode, name: &'static str, body: impl FnOnce() -> R, output: fn(&ScopedSpan, &R)) -> R {
    match current_trace_and_parent() {
        Some((trace, parent)) => run_static(
            trace,
            Some(parent),
            kind,
            name,
            |span| recorded(span, body(), output),
            never_failed,
        ),
        None => match begin_live_span(kind.kind(), name).setup {
            Setup::Built { implicit, builder } => run_live(implicit, builder, body, output),
            Setup::Child(child) => run_child(child, body, output),
            Setup::Off | Setup::Pending { .. } => body(),
        },
    }
}

/// [`SpanSetup::run`] for a plain child span: out of line, off the path taken with no
/// client. The span's state is made here, in the frame that keeps it.
#[inline(never)]
fn run_child<R>(child: Child, body: impl FnOnce() -> R, output: fn(&ScopedSpan, &R)) -> R {
    child.run(|span| recorded(span, body(), output), never_failed)
}

/// [`SpanSetup::run_result`] for a plain child span.
#[inline(never)]
fn run_result_child<T, E: ErrorDisplay>(
    child: Child,
    body: impl FnOnce() -> Result<T, E>,
    output: fn(&ScopedSpan, &T),
) -> Result<T, E> {
    child.run(|span| recorded_ok(span, body(), output), failed_on_err::<T, E>)
}

/// [`SpanSetup::run`] when recording: out of line, off the path taken with no client.
#[inline(never)]
fn run_live<R>(
    implicit: Option<Scope>,
    builder: SpanBuilder,
    body: impl FnOnce() -> R,
    output: fn(&ScopedSpan, &R),
) -> R {
    let run = move || builder.run(|span| recorded(span, body(), output));
    match implicit {
        None => run(),
        Some(scope) => run_scope(Some(scope), &(), |_| run(), never_failed),
    }
}

/// [`SpanSetup::run_result`] when recording.
#[inline(never)]
fn run_result_live<T, E: ErrorDisplay>(
    implicit: Option<Scope>,
    builder: SpanBuilder,
    body: impl FnOnce() -> Result<T, E>,
    output: fn(&ScopedSpan, &T),
) -> Result<T, E> {
    let run = move || builder.try_run(|span| recorded_ok(span, body(), output));
    match implicit {
        None => run(),
        Some(scope) => run_scope(Some(scope), &(), |_| run(), failed_on_err::<T, E>),
    }
}

/// The future of an instrumented `async fn` span: the implicit trace (if any) around
/// the span around the body.
pub type SpanFuture<F, O> = ScopeFuture<ScopedFuture<F, O>>;
