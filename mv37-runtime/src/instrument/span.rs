//! The span of a `#[task]`, `#[llm]`, `#[tool]`, `#[agent]` or `#[span]` fn: described by
//! [`begin_span`], run by [`SpanSetup`], inside an implicit trace when none is open.

use std::future::Future;

use serde::Serialize;

use super::output::{recorded, recorded_ok};
use super::{ErrorDisplay, OptionText};
use crate::builder::SpanBuilder;
use crate::client::client;
use crate::record::SpanKind;
use crate::scope::{failed_on_err, never_failed, run_scope, Scope, ScopeFuture};
use crate::scoped::{OkOnly, OutputFn, ScopedFuture, ScopedSpan};
use crate::state::local::current_trace_and_parent;
use crate::state::open::any_client_live;

/// Describes the span of a `#[task]`, `#[llm]`, `#[tool]`, `#[agent]` or `#[span]` fn: in
/// the trace open in the current context, else in an implicit trace named `name`.
#[inline]
pub fn begin_span(kind: SpanKind, name: &'static str) -> SpanSetup {
    if !any_client_live() {
        return SpanSetup {
            implicit: None,
            builder: None,
        };
    }
    begin_live_span(kind, name)
}

/// [`begin_span`] when a client exists: out of line, so that a call with no client is a
/// load, a branch and the body, in a small stack frame.
#[inline(never)]
fn begin_live_span(kind: SpanKind, name: &'static str) -> SpanSetup {
    if let Some((trace, parent)) = current_trace_and_parent() {
        return SpanSetup {
            implicit: None,
            builder: Some(SpanBuilder::new(Some(trace), kind).name(name).parent(parent)),
        };
    }
    match client() {
        Some(client) => {
            let (trace, scope) = client.trace(name).open();
            let builder = trace.span(kind).name(name);
            SpanSetup {
                implicit: scope,
                builder: Some(builder),
            }
        }
        None => SpanSetup {
            implicit: None,
            builder: None,
        },
    }
}

/// The span of an instrumented fn, before it runs.
#[must_use]
pub struct SpanSetup {
    /// The implicit trace, opened but not yet entered.
    implicit: Option<Scope>,
    /// `None` when nothing is recorded: the disabled path is one tag write.
    builder: Option<SpanBuilder>,
}

impl std::fmt::Debug for SpanSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanSetup")
            .field("implicit_trace", &self.implicit.is_some())
            .field("builder", &self.builder)
            .finish()
    }
}

impl SpanSetup {
    /// Whether the span records anything.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.builder.as_ref().is_some_and(SpanBuilder::is_recording)
    }

    fn update(&mut self, change: impl FnOnce(SpanBuilder) -> SpanBuilder) {
        if let Some(builder) = self.builder.take() {
            self.builder = Some(change(builder));
        }
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
        let Self { implicit, builder } = self;
        match builder {
            None => body(),
            Some(builder) => run_live(implicit, builder, body, output),
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
        let Self { implicit, builder } = self;
        match builder {
            None => body(),
            Some(builder) => run_result_live(implicit, builder, body, output),
        }
    }

    /// Runs the future of an `async fn` inside the span (current at every poll).
    #[inline]
    pub fn run_async<F: Future>(
        self,
        body: F,
        output: fn(&ScopedSpan, &F::Output),
    ) -> SpanFuture<F, OutputFn<ScopedSpan, F::Output>> {
        let Self { implicit, builder } = self;
        let span = builder.and_then(SpanBuilder::prepare);
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
        let Self { implicit, builder } = self;
        let span = builder.and_then(SpanBuilder::prepare);
        let inner = ScopedFuture::new(body, span, OkOnly(output), failed_on_err::<T, E>);
        ScopeFuture::new(inner, implicit, failed_on_err::<T, E>)
    }
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
