//! Support for the attribute macros of `mv37-macros` (reached through `mv37::__private`):
//! what an instrumented fn calls. Not a public API; it changes with the macros.
//!
//! An instrumented fn runs in two steps. [`begin_span`] / [`begin_trace`] describe the
//! span or trace, and their setters add the input object, attributes, model and
//! provider (while the arguments are still borrowed). Then `run*` opens it, runs the
//! body inside it (a closure, or a future for `async fn`), records the output, and ends
//! it: failed on `Err` for the `*_result` forms and on panic.
//!
//! A span fn (`#[task]`, `#[llm]`, `#[tool]`, `#[agent]`, `#[span]`) called while no
//! trace is open opens an *implicit trace* named after the span around it, so that calls
//! from `main` or a test are recorded too. With no client installed every step is a
//! no-op.

//!
//! The parts: `span.rs` (the span of a `#[task]`/`#[llm]`/`#[tool]`/`#[agent]`/`#[span]`
//! fn and its implicit trace), `trace.rs` (the root trace of a `#[trace]` fn), `input.rs` (the
//! input object of the captured arguments) and `output.rs` (recording the return value).

use std::fmt::Display;

mod input;
mod output;
mod span;
mod trace;

pub use self::input::{
    input, probe, ArgumentFallback, ArgumentProbe, CapturedArgument, End, Entries, Field, Input, InputArgument,
    NotSerialize,
};
pub use self::output::{record_output, Handle, OutputValue, Recorded};
pub use self::span::{begin_span, begin_span_async, SpanFuture, SpanSetup};
pub use self::trace::{begin_trace, trace_on, TraceFuture, TraceSetup, ENCLOSING_TRACE_ID_KEY};
pub use crate::builder::SpanBuilder;
pub use crate::client::trace as new_trace;
pub use crate::record::{SpanKind, Usage};
pub use crate::scoped::ScopedSpan;
pub use crate::scoped::{OkOnly, OutputFn, RecordOutput, ScopedFuture};
pub use crate::span::Span;
pub use crate::trace::{Trace, TraceBuilder};

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

/// The kind of a `#[span("…")]` fn.
#[inline]
pub fn custom_kind(kind: &'static str) -> SpanKind {
    SpanKind::from(kind)
}
