//! The root trace of a `#[trace]` fn (or `traced!`): described by [`begin_trace`] or
//! [`trace_on`], run by [`TraceSetup`].

use std::future::Future;

use serde::Serialize;

use super::output::{recorded, recorded_ok, Recorded};
use super::{ErrorDisplay, OptionText};
use crate::client::Client;
use crate::scope::ScopeFuture;
use crate::scoped::{OkOnly, OutputFn};
use crate::trace::{Trace, TraceBuilder};

/// Key of the attribute that a `#[trace]` fn called inside another trace records: the
/// id of that enclosing trace (a `#[trace]` fn always starts a new root trace).
pub const ENCLOSING_TRACE_ID_KEY: &str = "mv37.enclosing_trace_id";

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

/// The future of a `#[trace]` `async fn`.
pub type TraceFuture<F, O> = ScopeFuture<Recorded<F, Trace, O>>;
