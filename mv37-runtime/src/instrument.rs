//! Support for the attribute macros of `mv37-macros` (reached through `mv37::__private`):
//! what an instrumented fn calls. Not a public API; it changes with the macros.
//!
//! An instrumented fn runs in two steps. [`begin_span`] / [`begin_trace`] describe the
//! span or trace, and their setters add the input object, attributes, model and
//! provider (while the arguments are still borrowed). Then `run*` opens it, runs the
//! body inside it (a closure, or a future for `async fn`), records the output, and ends
//! it: failed on `Err` for the `*_result` forms and on panic.
//!
//! A span fn (`#[task]`, `#[llm]`, `#[tool]`, `#[span]`) called while no trace is open
//! opens an *implicit trace* named after the span around it, so that calls from `main`
//! or a test are recorded too. With no client installed every step is a no-op.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;
use serde::ser::{Serialize, SerializeMap, Serializer};

pub use crate::builder::SpanBuilder;
pub use crate::client::trace as new_trace;
use crate::client::{client, Client};
pub use crate::record::{SpanKind, Usage};
use crate::scope::{failed_on_err, never_failed, run_scope, Scope, ScopeFuture};
pub use crate::scoped::ScopedSpan;
pub use crate::scoped::{OkOnly, OutputFn, RecordOutput, ScopedFuture};
pub use crate::span::Span;
use crate::state::local::current_trace;
use crate::state::open::any_client_live;
pub use crate::trace::{Trace, TraceBuilder};

/// Key of the attribute that a `#[trace]` fn called inside another trace records: the
/// id of that enclosing trace (a `#[trace]` fn always starts a new root trace).
pub const ENCLOSING_TRACE_ID_KEY: &str = "mv37.enclosing_trace_id";

/// An argument captured into the input object of an instrumented fn.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Serialize`, so this argument cannot be captured as the input",
    label = "not `Serialize`",
    note = "skip the argument with `skip(name)` (or every argument with `skip_all`), or derive `serde::Serialize` for `{Self}`"
)]
pub trait InputArgument: Serialize {}
impl<T: Serialize + ?Sized> InputArgument for T {}

/// The value an instrumented fn records as its output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Serialize`, so the return value cannot be captured as the output",
    label = "not `Serialize`",
    note = "add `output = false` to the attribute to not record the output, or derive `serde::Serialize` for `{Self}`"
)]
pub trait OutputValue: Serialize {}
impl<T: Serialize + ?Sized> OutputValue for T {}

/// The error type of an instrumented fn that returns `Result`.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `Display`",
    label = "an `Err` marks the span failed with the error's `Display` text",
    note = "implement `std::fmt::Display` for `{Self}`"
)]
pub trait ErrorDisplay: Display {}
impl<T: Display + ?Sized> ErrorDisplay for T {}

/// A value given to a string option (`user_id = expr`, `model = expr`, ...).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Display`, so it cannot be used as this option's text",
    label = "expected a string or another `Display` value"
)]
pub trait OptionText: Display {}
impl<T: Display + ?Sized> OptionText for T {}

/// Records `value` as the output of `handle`; the one place that asks for `Serialize`,
/// where the macro points it (the return type).
#[inline]
pub fn record_output<H: Handle, T: OutputValue + ?Sized>(handle: &H, value: &T) {
    handle.record_output(value);
}

/// Starts an input object: `{"arg": value, ...}`, written by `serde_json` straight into
/// the payload text (no `serde_json::Value` in between).
#[inline]
pub fn input() -> Input<End> {
    Input(End)
}

/// The arguments captured so far, in order.
#[derive(Debug)]
pub struct Input<L>(L);

/// The empty argument list.
#[derive(Debug)]
pub struct End;

/// One captured argument `value` (see [`CapturedArgument`]), after the ones in `rest`.
#[derive(Debug)]
pub struct Field<V, L> {
    rest: L,
    name: &'static str,
    value: V,
}

/// A list of captured arguments.
pub trait Entries {
    /// How many arguments.
    const LEN: usize;
    /// Writes them as map entries, first argument first.
    fn entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
}

impl Entries for End {
    const LEN: usize = 0;
    #[inline]
    fn entries<M: SerializeMap>(&self, _: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

impl<V: Serialize, L: Entries> Entries for Field<V, L> {
    const LEN: usize = L::LEN + 1;
    #[inline]
    fn entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        self.rest.entries(map)?;
        map.serialize_entry(self.name, &self.value)
    }
}

impl<L> Input<L> {
    /// Adds the argument `name`: `value` is `probe(&argument).capture()`. The bound on
    /// the argument's type is checked here, and only here.
    #[inline]
    pub fn field<V: CapturedArgument<Argument: InputArgument>>(
        self,
        name: &'static str,
        value: V,
    ) -> Input<Field<V, L>> {
        Input(Field {
            rest: self.0,
            name,
            value,
        })
    }
}

// Input:  .field("db", probe(&*db).capture())
// Output: for `db: &T` with `T: Serialize`, `capture` is `ArgumentProbe::capture` and
//         gives `&T`; otherwise method lookup derefs to `ArgumentFallback::capture`,
//         which gives `NotSerialize<T>`. `field` then reports `T: InputArgument` once,
//         at the argument, while `NotSerialize` is `Serialize` for any `T` so that the
//         input object's own `Serialize` bound does not fail a second time.

/// Starts the capture of one argument; see [`ArgumentProbe::capture`].
#[inline]
pub fn probe<T: ?Sized>(argument: &T) -> ArgumentProbe<'_, T> {
    ArgumentProbe(ArgumentFallback(argument))
}

/// One argument about to be captured: `capture` picks how by whether it is `Serialize`.
#[derive(Debug)]
pub struct ArgumentProbe<'a, T: ?Sized>(ArgumentFallback<'a, T>);

impl<'a, T: Serialize + ?Sized> ArgumentProbe<'a, T> {
    /// The argument itself, to be serialized.
    #[inline]
    pub fn capture(&self) -> &'a T {
        self.0 .0
    }
}

impl<'a, T: ?Sized> std::ops::Deref for ArgumentProbe<'a, T> {
    type Target = ArgumentFallback<'a, T>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The method lookup of [`ArgumentProbe::capture`] reaches this when the argument is
/// not `Serialize`.
#[derive(Debug)]
pub struct ArgumentFallback<'a, T: ?Sized>(&'a T);

impl<'a, T: ?Sized> ArgumentFallback<'a, T> {
    /// A stand-in that [`Input::field`] rejects with the message of [`InputArgument`].
    #[inline]
    pub fn capture(&self) -> NotSerialize<'a, T> {
        NotSerialize(std::marker::PhantomData)
    }
}

/// Stands in for an argument that is not `Serialize`; a program that has one does not
/// compile, so its `Serialize` impl never runs (it returns an error if it ever did).
#[derive(Debug)]
pub struct NotSerialize<'a, T: ?Sized>(std::marker::PhantomData<&'a T>);

impl<T: ?Sized> Serialize for NotSerialize<'_, T> {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this argument is not `Serialize`"))
    }
}

/// What [`Input::field`] takes: a captured argument of type `Argument`.
pub trait CapturedArgument {
    /// The argument's type.
    type Argument: ?Sized;
}

impl<T: ?Sized> CapturedArgument for &T {
    type Argument = T;
}

impl<T: ?Sized> CapturedArgument for NotSerialize<'_, T> {
    type Argument = T;
}

impl<L: Entries> Serialize for Input<L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(L::LEN))?;
        self.0.entries(&mut map)?;
        map.end()
    }
}

/// Describes the span of a `#[task]`, `#[llm]`, `#[tool]` or `#[span]` fn: in the trace
/// open in the current context, else in an implicit trace named `name`.
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
    if let Some(trace) = current_trace() {
        return SpanSetup {
            implicit: None,
            builder: Some(SpanBuilder::new(Some(trace), kind).name(name)),
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

/// Describes a trace on a given client (`traced!(…, client = …)`).
#[inline]
pub fn trace_on(client: &Client, name: impl Into<std::borrow::Cow<'static, str>>) -> TraceBuilder {
    client.trace(name)
}

/// Describes the root trace of a `#[trace]` fn. It is always a new trace; inside an
/// open trace it records that trace's id as the attribute [`ENCLOSING_TRACE_ID_KEY`].
pub fn begin_trace(name: &'static str) -> TraceSetup {
    let mut builder = crate::client::trace(name);
    if builder.is_recording() {
        if let Some(enclosing) = crate::client::current_trace().id() {
            builder = builder.attribute(ENCLOSING_TRACE_ID_KEY, enclosing.to_string());
        }
    }
    TraceSetup { builder }
}

/// The trace of a `#[trace]` fn, before it runs.
#[must_use]
#[derive(Debug)]
pub struct TraceSetup {
    builder: TraceBuilder,
}

impl TraceSetup {
    /// Whether the trace records anything.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.builder.is_recording()
    }

    /// Sets the user id.
    #[inline]
    pub fn user_id<T: OptionText + ?Sized>(mut self, value: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.user_id(value.to_string());
        }
        self
    }

    /// Sets the session id.
    #[inline]
    pub fn session_id<T: OptionText + ?Sized>(mut self, value: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.session_id(value.to_string());
        }
        self
    }

    /// Sets the conversation id.
    #[inline]
    pub fn conversation_id<T: OptionText + ?Sized>(mut self, value: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.conversation_id(value.to_string());
        }
        self
    }

    /// Sets the external trace id.
    #[inline]
    pub fn external_trace_id<T: OptionText + ?Sized>(mut self, value: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.external_trace_id(value.to_string());
        }
        self
    }

    /// Records the input.
    #[inline]
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.input(input);
        }
        self
    }

    /// Sets one attribute.
    #[inline]
    pub fn attribute<T: Serialize + ?Sized>(mut self, key: &'static str, value: &T) -> Self {
        if self.builder.is_recording() {
            self.builder = self.builder.attribute(key, value);
        }
        self
    }

    /// Runs a sync body inside the trace; `output` records its value.
    #[inline]
    pub fn run<R>(self, body: impl FnOnce() -> R, output: fn(&Trace, &R)) -> R {
        self.builder.run(|trace| recorded(trace, body(), output))
    }

    /// Runs a sync body that returns `Result`; `Err` marks the trace failed.
    #[inline]
    pub fn run_result<T, E: ErrorDisplay>(
        self,
        body: impl FnOnce() -> Result<T, E>,
        output: fn(&Trace, &T),
    ) -> Result<T, E> {
        self.builder.try_run(|trace| recorded_ok(trace, body(), output))
    }

    /// Runs the future of an `async fn` inside the trace.
    #[inline]
    pub fn run_async<F: Future>(
        self,
        body: F,
        output: fn(&Trace, &F::Output),
    ) -> TraceFuture<F, OutputFn<Trace, F::Output>> {
        self.builder.run_async(|trace| Recorded::new(body, trace, output))
    }

    /// Like [`TraceSetup::run_async`] for a future of `Result`.
    #[inline]
    pub fn run_result_async<T, E: ErrorDisplay, F: Future<Output = Result<T, E>>>(
        self,
        body: F,
        output: fn(&Trace, &T),
    ) -> TraceFuture<F, OkOnly<Trace, T>> {
        self.builder
            .try_run_async(|trace| Recorded::new(body, trace, OkOnly(output)))
    }
}

/// What both handles can do for the macros.
pub trait Handle {
    /// Whether the handle records anything.
    fn is_recording(&self) -> bool;
    /// Records the output.
    fn record_output<T: Serialize + ?Sized>(&self, output: &T);
}

impl Handle for Span {
    #[inline]
    fn is_recording(&self) -> bool {
        Span::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        Span::record_output(self, output);
    }
}

impl Handle for ScopedSpan {
    #[inline]
    fn is_recording(&self) -> bool {
        ScopedSpan::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        ScopedSpan::record_output(self, output);
    }
}

impl Handle for Trace {
    #[inline]
    fn is_recording(&self) -> bool {
        Trace::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        Trace::record_output(self, output);
    }
}

#[inline]
fn recorded<H: Handle, R>(handle: &H, value: R, output: fn(&H, &R)) -> R {
    if handle.is_recording() {
        output(handle, &value);
    }
    value
}

#[inline]
fn recorded_ok<H: Handle, T, E>(handle: &H, value: Result<T, E>, output: fn(&H, &T)) -> Result<T, E> {
    if let (true, Ok(ok)) = (handle.is_recording(), &value) {
        output(handle, ok);
    }
    value
}

/// The future of an instrumented `async fn` span: the implicit trace (if any) around
/// the span around the body.
pub type SpanFuture<F, O> = ScopeFuture<ScopedFuture<F, O>>;

/// The future of a `#[trace]` `async fn`.
pub type TraceFuture<F, O> = ScopeFuture<Recorded<F, Trace, O>>;

pin_project! {
    /// The body future of an instrumented `async fn`, recording its output on completion.
    #[must_use = "futures do nothing unless polled"]
    pub struct Recorded<F, H, O> {
        #[pin]
        inner: F,
        handle: H,
        output: O,
    }
}

impl<F, H, O> Recorded<F, H, O> {
    fn new(inner: F, handle: H, output: O) -> Self {
        Self { inner, handle, output }
    }
}

impl<F: Future, H: Handle, O: RecordOutput<H, F::Output>> Future for Recorded<F, H, O> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let value = std::task::ready!(this.inner.poll(cx));
        if this.handle.is_recording() {
            this.output.record(this.handle, &value);
        }
        Poll::Ready(value)
    }
}

/// The kind of a `#[span("…")]` fn.
#[inline]
pub fn custom_kind(kind: &'static str) -> SpanKind {
    SpanKind::from(kind)
}
